"""The notebooks in notebooks/ run top to bottom, offline, print no stray warning, and
are stored without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
FILES_READ = [Path("/usr/share/doc/texlive-doc/bibtex/base/btxdoc.pdf"),
              *Path("/usr/share/doc").glob("python3*/html/_sources/library/shutil.rst.txt")]


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS] == [
        "01-quickstart.ipynb", "02-langchain.ipynb", "03-llamaindex.ipynb",
        "04-rerank-long-documents.ipynb"]


@pytest.mark.skipif(len(FILES_READ) < 2 or not FILES_READ[0].exists(),
                    reason="the Debian docs the notebooks read are missing (scripts/setup.sh "
                           "installs them as root)")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_offline_and_shows_highlights(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:  # stored without outputs
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    html = [output["data"]["text/html"] for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.outputs if "text/html" in output.get("data", {})]
    assert any("<mark" in h for h in html), "no highlighted passage was displayed"
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.get("output_type") == "error"]
    assert errors == []
    # stderr holds progress bars only: no warning (tqdm's "IProgress not found" without
    # ipywidgets) and no model-loading bars
    stderr = "".join(o["text"] for c in notebook.cells if c.cell_type == "code"
                     for o in c.outputs if o.get("name") == "stderr")
    assert "Warning" not in stderr and "Loading" not in stderr, stderr[:500]
