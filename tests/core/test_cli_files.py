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


def write(folder: Path, **texts: str) -> Path:
    """``folder`` with one text file per keyword (``a_txt="..."`` writes ``a.txt``)."""
    folder.mkdir(exist_ok=True)
    for name, text in texts.items():
        (folder / name.replace("_txt", ".txt")).write_text(text)
    return folder


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
    docs = write(tmp_path / "docs", public_txt="A public text about bridges.")
    private = write(tmp_path / "private", secret_txt="A private text about passwords.")
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
    first = write(tmp_path / "v1", notes_txt="Version one: the meeting is on Monday.",
                  other_txt="Another text about tea.")
    second = write(tmp_path / "v2", notes_txt="Version two: the meeting moved to Friday.")
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
    data = (docs / "really-a-pdf.txt").read_bytes()  # a readable PDF pypdf complains about
    at = data.rindex(b"startxref") + 10
    end = data.index(b"\n", at)
    (docs / "shifted.pdf").write_bytes(data[:at] + str(int(data[at:end]) + 7).encode() + data[end:])
    code, out, err = run_cli(capsys, "index", tmp_path / "idx", docs, "--model", standin_path)
    assert code == 0 and "indexed 1 documents" in out, err
    empty = next(line for line in err.splitlines() if "empty.txt" in line)
    assert "empty or only whitespace" in empty and "OCR" not in empty
    assert "nopages.pdf: the PDF has no pages" in err
    assert "really-a-pdf.txt: no extractable text (a scanned PDF?)" in err  # read as a PDF
    assert "shifted.pdf: no extractable text" in err and "startxref" not in err
    assert "iconv" not in err
    assert all(line.startswith(("warning:", "error:")) for line in err.splitlines())


def _limited(max_file_bytes: int):
    """A preexec_fn capping the size of any file written: a disk that fills up."""
    import resource
    import signal

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the cap fail (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
    return apply


def _cli(*args, **kwargs):
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("longcolbert")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, **kwargs)


def test_a_full_disk_is_one_line_and_loses_nothing(tmp_path, standin_path):
    (tmp_path / "a.txt").write_text("Jupiter is the largest planet of the solar system.")
    assert _cli("index", tmp_path / "idx", tmp_path / "a.txt", "--model", standin_path
                ).returncode == 0
    big = tmp_path / "big"
    big.mkdir()
    for i in range(40):
        (big / f"b{i}.txt").write_text(" ".join(f"Harbour {i} word {j}." for j in range(300)))
    done = _cli("index", tmp_path / "idx", big, "--model", standin_path,
                preexec_fn=_limited(150_000))
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert "room" in done.stderr or "disk" in done.stderr
    after = _cli("search", tmp_path / "idx", "largest planet", "--json", "--model", standin_path)
    assert after.returncode == 0
    assert [r["id"] for r in json.loads(after.stdout)["results"]] == ["a.txt"]


def test_a_read_only_index_folder_is_one_line(tmp_path, standin_path):
    import subprocess

    import pytest

    (tmp_path / "a.txt").write_text("Jupiter is the largest planet of the solar system.")
    folder = tmp_path / "idx"
    assert _cli("index", folder, tmp_path / "a.txt", "--model", standin_path).returncode == 0
    if os.getuid() == 0:  # root ignores permission bits: make the folder immutable instead
        if subprocess.run(["chattr", "-R", "+i", folder], capture_output=True).returncode:
            pytest.skip("running as root where chattr cannot make a folder read-only")
        undo = ["chattr", "-R", "-i", folder]
    else:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        undo = ["chmod", "-R", "u+w", folder]
    try:
        info = _cli("info", folder, "--json")
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["documents"] == 1
        search = _cli("search", folder, "largest planet", "--json", "--model", standin_path)
        assert search.returncode == 0, search.stderr
        delete = _cli("delete", folder, "a.txt")
        assert delete.returncode == 1 and delete.stderr.count("\n") == 1, delete.stderr
        assert delete.stderr.startswith("error: ") and "writable" in delete.stderr
    finally:
        subprocess.run(undo, check=True)
    assert json.loads(_cli("info", folder, "--json").stdout)["documents"] == 1


def test_ids_are_listed_metadata_is_set_at_index_time_and_an_absent_field_is_warned(
        tmp_path, capsys, standin_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "old.txt").write_text("The notice period was one month in the old contract.")
    (docs / "new.txt").write_text("The notice period is three months in the new contract.")
    index = tmp_path / "idx"
    for name, year in (("old.txt", 2019), ("new.txt", 2023)):
        code, _, err = run_cli(capsys, "index", index, docs / name, "--model", standin_path,
                               "--meta", f"year={year}", "--meta", "team=legal")
        assert code == 0, err
    code, out, _ = run_cli(capsys, "info", index, "--ids")
    assert code == 0 and out.split() == ["new.txt", "old.txt"]
    code, out, _ = run_cli(capsys, "info", index, "--ids", "--json")
    assert json.loads(out) == ["new.txt", "old.txt"]
    code, out, err = run_cli(capsys, "search", index, "notice period", "--json", "--model",
                             standin_path, "--filter", "year>=2020", "--filter", "team=legal")
    assert code == 0 and err == ""
    assert [r["id"] for r in json.loads(out)["results"]] == ["new.txt"]
    assert json.loads(out)["results"][0]["metadata"]["year"] == 2023
    code, out, err = run_cli(capsys, "search", index, "notice period", "--json", "--model",
                             standin_path, "--filter", "yaer>=2020")
    assert code == 0 and json.loads(out)["results"] == []
    assert err.count("\n") == 1 and "no document in this index has the metadata field 'yaer'" in err
    code, _, err = run_cli(capsys, "delete", index, "nope.txt")
    assert code == 1 and "longcolbert info --ids" in err
    code, _, err = run_cli(capsys, "index", index, docs, "--model", standin_path,
                           "--meta", "novalue")
    assert code == 1 and err.startswith("error: bad --meta 'novalue'")
