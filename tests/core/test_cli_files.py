"""What the CLI does with awkward files: non-UTF-8 names, links, same names, empty files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pypdf import PdfWriter

from longcolbert.cli import main


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([a if isinstance(a, (str, bytes)) else str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def ids_in(capsys, folder, model) -> list[str]:
    code, out, _ = run_cli(capsys, "search", folder, "text", "--json", "-k", "50",
                           "--model", model)
    assert code == 0
    return sorted(r["id"] for r in json.loads(out)["results"])


def test_a_non_utf8_file_name_is_indexed_with_the_others(tmp_path, capsys, standin_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plain.txt").write_text("A plain text about rivers.")
    odd = os.fsdecode(bytes(docs) + b"/caf\xe9.txt")  # Latin-1 bytes in the name
    Path(odd).write_text("A text about coffee in a caf\u00e9.")
    code, out, err = run_cli(capsys, "index", tmp_path / "idx", docs, "--model", standin_path)
    assert code == 0 and "indexed 2 documents" in out, err
    assert ids_in(capsys, tmp_path / "idx", standin_path) == ["caf\\xe9.txt", "plain.txt"]
    code, out, _ = run_cli(capsys, "delete", tmp_path / "idx", "caf\\xe9.txt")
    assert code == 0 and "1 left" in out


def test_links_out_of_the_folder_are_skipped_unless_asked(tmp_path, capsys, standin_path):
    docs, private = tmp_path / "docs", tmp_path / "private"
    docs.mkdir()
    private.mkdir()
    (docs / "public.txt").write_text("A public text about bridges.")
    (private / "secret.txt").write_text("A private text about passwords.")
    (docs / "secret.txt").symlink_to(private / "secret.txt")
    (docs / "inside.txt").symlink_to(docs / "public.txt")  # stays in the folder: kept
    (docs / "loop.txt").symlink_to(docs / "loop.txt")
    (docs / "up").symlink_to(tmp_path, target_is_directory=True)  # not walked
    code, out, err = run_cli(capsys, "index", tmp_path / "idx", docs, "--model", standin_path)
    assert code == 0, err
    assert "secret.txt: a link to a file outside" in err and "--follow-links" in err
    assert "loop.txt: a broken link or a link loop" in err
    assert ids_in(capsys, tmp_path / "idx", standin_path) == ["inside.txt", "public.txt"]
    code, _, err = run_cli(capsys, "index", tmp_path / "idx", docs, "--follow-links",
                           "--model", standin_path)
    assert code == 0, err
    assert "secret.txt" in ids_in(capsys, tmp_path / "idx", standin_path)
    code, _, err = run_cli(capsys, "index", tmp_path / "idx", docs / "loop.txt",
                           "--model", standin_path)
    assert code == 1 and "link loop" in err and "no such file" not in err


def test_same_file_names_keep_both_with_an_id_prefix(tmp_path, capsys, standin_path):
    first, second = tmp_path / "v1", tmp_path / "v2"
    first.mkdir()
    second.mkdir()
    (first / "notes.txt").write_text("Version one: the meeting is on Monday.")
    (second / "notes.txt").write_text("Version two: the meeting moved to Friday.")
    (first / "other.txt").write_text("Another text about tea.")
    # two arguments with the same file name: the first is indexed, the second reported
    code, out, err = run_cli(capsys, "index", tmp_path / "idx", first / "notes.txt",
                             second / "notes.txt", first / "other.txt", "--model", standin_path)
    assert code == 1 and "indexed 2 documents" in out
    assert "taken by" in err and "--id-prefix" in err and err.count("\n") == 1
    # a later run with another file of the same name replaces it, with a warning
    code, _, err = run_cli(capsys, "index", tmp_path / "idx", second / "notes.txt",
                           "--model", standin_path)
    assert code == 0 and "replaces" in err and "--id-prefix" in err
    # the same file again: a plain upsert, no warning
    code, _, err = run_cli(capsys, "index", tmp_path / "idx", second / "notes.txt",
                           "--model", standin_path)
    assert code == 0 and "replaces" not in err
    code, _, err = run_cli(capsys, "index", tmp_path / "idx", first / "notes.txt",
                           "--id-prefix", "v1/", "--model", standin_path)
    assert code == 0 and "replaces" not in err
    assert ids_in(capsys, tmp_path / "idx", standin_path) == ["notes.txt", "other.txt",
                                                               "v1/notes.txt"]


def test_empty_and_odd_files_get_advice_that_fits(tmp_path, capsys, standin_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "empty.txt").write_text("  \n")
    (docs / "good.txt").write_text("A good text about lakes.")
    with open(docs / "nopages.pdf", "wb") as handle:
        PdfWriter().write(handle)
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    with open(docs / "really-a-pdf.txt", "wb") as handle:
        writer.write(handle)
    code, out, err = run_cli(capsys, "index", tmp_path / "idx", docs, "--model", standin_path)
    assert code == 0 and "indexed 1 documents" in out, err
    empty = next(line for line in err.splitlines() if "empty.txt" in line)
    assert "empty or only whitespace" in empty and "OCR" not in empty
    assert "nopages.pdf: the PDF has no pages" in err
    assert "really-a-pdf.txt: no extractable text (a scanned PDF?)" in err  # read as a PDF
    assert "iconv" not in err
    assert all(line.startswith(("warning:", "error:")) for line in err.splitlines())
