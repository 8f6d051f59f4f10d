"""The README's LangChain and LlamaIndex quickstarts run as written (with the stand-in model)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
HUB_MODEL = "mixedbread-ai/mxbai-edge-colbert-v0-32m"


def quickstart(name: str) -> str:
    match = re.search(
        rf"<!-- quickstart: {name} -->\n```python\n(.*?)```", README.read_text(), re.S
    )
    assert match, f"README has no '{name}' quickstart"
    return match.group(1)


@pytest.mark.parametrize("name", ["langchain", "llama-index"])
def test_quickstart_runs_as_written(name, tmp_path, standin_path):
    code = quickstart(name)
    assert code.count(HUB_MODEL) == 1  # the only change: no model hub here
    code = code.replace(HUB_MODEL, standin_path)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("contract ")
    start, end = (int(x) for x in lines[0].split()[1:3])
    text = ("Either party may terminate this agreement. "
            "The notice period is three months, given in writing.")
    assert "notice period" in text[start:end]
    assert "'notice'" in lines[1] and "'period'" in lines[1]
    assert any(p.name.endswith("-index") for p in tmp_path.iterdir())


def test_vectorstore_quickstart_runs_as_written(tmp_path, standin_path):
    code = quickstart("langchain-vectorstore")
    assert code.count(HUB_MODEL) == 1
    done = subprocess.run([sys.executable, "-c", code.replace(HUB_MODEL, standin_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "'num_added': 2" in lines[0] and "'num_deleted': 0" in lines[0], lines
    assert lines[1].startswith("contract.txt ")
