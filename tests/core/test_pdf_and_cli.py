"""PDFs with page numbers, bad files, and the CLI contract (JSON schemas, one-line errors)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from pypdf import PdfWriter

from longcolbert import Index
from longcolbert.cli import main

from corpus import REAL_PDF, needs_pdf


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@needs_pdf
def test_real_pdf_passages_report_their_pages(tmp_path, standin_path):
    index = Index(tmp_path / "idx", model=standin_path)
    ids, problems = index.add_files([REAL_PDF])
    assert ids == [REAL_PDF.name] and problems == []
    doc = index.get(REAL_PDF.name)
    assert [p for _, _, p in doc.page_map] == [1, 2, 3, 4, 5, 6]
    assert doc.metadata["page_count"] == 6
    hit = index.search("MiKTeX options maintenance settings admin", k=1, passages=2)[0]
    first = hit.passages[0]
    assert 3 in first.pages
    for passage in hit.passages:
        assert doc.text[passage.start : passage.end] == passage.text
        expected = [p for s, e, p in doc.page_map if s < passage.end and passage.start < e]
        assert passage.pages == expected


def _bad_pdfs(folder: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(user_password="secret", owner_password="owner")
    with open(folder / "locked.pdf", "wb") as handle:
        writer.write(handle)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    blank = PdfWriter()
    blank.add_blank_page(width=200, height=200)
    with open(folder / "scanned.pdf", "wb") as handle:
        blank.write(handle)


def test_cli_index_search_info_delete(tmp_path, standin_path, capsys):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "contract.txt").write_bytes(
        "Termination.\r\nThe notice period for termination is three months.\r\n".encode()
    )
    (docs / "sub" / "bread.md").write_text("# Bread\n\nBake the dough at 220 degrees.\n")
    (docs / "garden.txt").write_text("Water the tomatoes every morning in summer.\n")
    (docs / "planets.txt").write_text("Jupiter is the largest planet of the solar system.\n")
    (docs / ".hidden.txt").write_text("never indexed")
    _bad_pdfs(docs)
    if REAL_PDF.exists():
        shutil.copy(REAL_PDF, docs / "hyphenation.pdf")
    index_dir = tmp_path / "idx"

    code, out, err = run_cli(capsys, "index", index_dir, docs, "--model", standin_path)
    assert code == 1  # some files failed, the others are indexed
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert any("locked.pdf" in e and "encrypted" in e for e in errors)
    assert any("broken.pdf" in e and "cannot read the PDF" in e for e in errors)
    assert any("scanned.pdf" in line and "no extractable text" in line for line in err.splitlines())
    indexed = 5 if REAL_PDF.exists() else 4
    assert f"indexed {indexed} documents" in out

    code, out, _ = run_cli(capsys, "info", index_dir, "--json")
    info = json.loads(out)
    assert code == 0 and set(info) == {"backend", "model", "dim", "documents", "tokens", "bytes",
                                       "passages_read_alone"}
    assert info["backend"] == "embedded"
    assert info["documents"] == indexed and info["dim"] == 128 and info["tokens"] > 20

    code, out, _ = run_cli(capsys, "search", index_dir, "notice period for termination", "-k", "1",
                           "--json", "--model", standin_path)
    assert code == 0
    payload = json.loads(out)
    assert set(payload) == {"query", "results"}
    assert [r["id"] for r in payload["results"]] == ["contract.txt"]  # first of 4 or 5
    first = payload["results"][0]
    assert set(first) == {"id", "score", "metadata", "passages"}
    stored = (docs / "contract.txt").read_bytes().decode("utf-8")  # byte for byte, \r\n kept
    for passage in first["passages"]:
        assert set(passage) == {"text", "start", "end", "score", "pages", "highlights"}
        assert stored[passage["start"] : passage["end"]] == passage["text"]
        for h in passage["highlights"]:
            assert set(h) == {"start", "end", "score", "kind"}
            assert h["kind"] in ("semantic", "lexical", "both")
            assert passage["start"] <= h["start"] < h["end"] <= passage["end"]

    code, out, _ = run_cli(capsys, "search", index_dir, "notice period for termination", "-k", "2",
                           "--json", "--semantic-only", "--model", standin_path)
    kinds = {h["kind"] for r in json.loads(out)["results"] for p in r["passages"] for h in p["highlights"]}
    assert code == 0 and kinds == {"semantic"}  # no lexical evidence asked for

    code, out, _ = run_cli(capsys, "search", index_dir, "bake dough", "--filter", "file_type=md", "--json",
                           "--model", standin_path)
    assert [r["id"] for r in json.loads(out)["results"]] == ["sub/bread.md"]

    code, out, err = run_cli(capsys, "delete", index_dir, "sub/bread.md", "nope.txt")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "nope.txt" in err and err.startswith("error:")
    code, out, _ = run_cli(capsys, "delete", index_dir, "sub/bread.md")
    assert code == 0
    code, out, _ = run_cli(capsys, "info", index_dir, "--json")
    assert json.loads(out)["documents"] == indexed - 1

    # upsert: indexing the same file again replaces it
    (docs / "contract.txt").write_text("The notice period is now six weeks.")
    code, _, err = run_cli(capsys, "index", index_dir, docs / "contract.txt")
    assert code == 1 and "name the model yourself" in err  # the index does not pick local files
    run_cli(capsys, "index", index_dir, docs / "contract.txt", "--model", standin_path)
    code, out, _ = run_cli(capsys, "search", index_dir, "notice period", "-k", "1", "--json",
                           "--model", standin_path)
    assert "six weeks" in json.loads(out)["results"][0]["passages"][0]["text"]


def test_cli_errors_are_one_line(tmp_path, capsys, standin_path):
    code, out, err = run_cli(capsys, "search", tmp_path / "missing", "anything")
    assert code == 1 and err.count("\n") == 1 and "no longcolbert index" in err
    code, out, err = run_cli(capsys, "index", tmp_path / "idx", tmp_path / "nothing-here.txt",
                             "--model", standin_path)
    assert code == 1 and "no such file or folder" in err


def test_console_script_runs(tmp_path, standin_path):
    doc = tmp_path / "a.txt"
    doc.write_text("Jupiter is the largest planet.")
    exe = Path(sys.executable).with_name("longcolbert")
    subprocess.run([exe, "index", tmp_path / "idx", doc, "--model", standin_path],
                   check=True, capture_output=True)
    out = subprocess.run([exe, "search", tmp_path / "idx", "largest planet", "--json",
                          "--model", standin_path],
                         check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["results"][0]["id"] == "a.txt"
