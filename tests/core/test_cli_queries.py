"""Many queries in one ``longcolbert search`` call: the model loads once, a JSON line each."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from longcolbert import Index, open_index
from longcolbert.cli import main

QUERIES = ["what is the notice period for termination", "", "which planet has rings",
           "  ", "how do I water tomatoes"]


def expected(index_path: str, model: str, query: str) -> dict:
    with Index(index_path, model=model, create=False) as index:
        hits = index.search(query, k=2, passages=1)
    return {"query": query, "results": [h.to_dict() for h in hits]}


def test_a_queries_file_gives_one_json_line_per_query(corpus_index_path, standin_path, tmp_path,
                                                      capsys):
    queries = tmp_path / "queries.txt"
    queries.write_text("\n".join(QUERIES) + "\n", encoding="utf-8")
    code = main(["search", corpus_index_path, "--queries", str(queries), "-k", "2",
                 "--passages", "1", "--model", standin_path])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    asked = [q for q in QUERIES if q.strip()]  # blank lines are skipped
    assert [line["query"] for line in lines] == asked
    for line, query in zip(lines, asked):
        want = expected(corpus_index_path, standin_path, query)
        assert [r["id"] for r in line["results"]] == [r["id"] for r in want["results"]]
        assert [r["passages"][0]["start"] for r in line["results"]] == [
            r["passages"][0]["start"] for r in want["results"]]
        assert [r["score"] for r in line["results"]] == pytest.approx(
            [r["score"] for r in want["results"]], abs=1e-4)


def test_standard_input_is_read_with_a_dash(corpus_index_path, standin_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("which planet has rings\r\n"))
    assert main(["search", corpus_index_path, "--queries", "-", "-k", "1",
                 "--model", standin_path]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["query"] == "which planet has rings"
    assert line["results"][0]["id"] == "astronomy"


@pytest.mark.parametrize("extra", [[], ["a query", "--queries", "-"],
                                   ["--queries", "-", "--html", "out.html"],
                                   ["--queries", "no-such-file.txt"]])
def test_one_line_errors(corpus_index_path, standin_path, capsys, extra):
    code = main(["search", corpus_index_path, *extra, "--model", standin_path])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1


def test_a_file_that_is_not_text_is_one_line(corpus_index_path, standin_path, tmp_path, capsys):
    queries = tmp_path / "queries.txt"
    queries.write_bytes(b"notice period\n\xff\xfe broken\n")
    code = main(["search", corpus_index_path, "--queries", str(queries), "--model", standin_path])
    out, err = capsys.readouterr()
    assert code == 1 and err.startswith("error: the input is not UTF-8") and err.count("\n") == 1


def test_the_console_script_streams_answers_from_a_pipe(corpus_index_path, standin_path):
    done = subprocess.run(
        [sys.executable, "-m", "longcolbert.cli", "search", corpus_index_path, "--queries", "-",
         "-k", "1", "--model", standin_path],
        input="notice period\nrings of a planet\n", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["results"][0]["id"] for line in done.stdout.splitlines()] == [
        "contract", "astronomy"]


def test_help_imports_no_torch():
    code = ("import sys\nfrom longcolbert.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\nimport longcolbert\nlongcolbert.Hit\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_help_names_every_filter_operator_each_argument_and_the_version(capsys):
    from longcolbert.cli import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--version"])
    import longcolbert

    assert capsys.readouterr().out.split() == ["longcolbert", longcolbert.__version__]
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, command in commands.items():
        for action in command._actions:
            assert action.help, f"{name} {action.dest} has no help"
    search = commands["search"].format_help()
    for operator in ("KEY=VALUE", "KEY!=VALUE", "KEY>N", "KEY>=N", "KEY<N", "KEY<=N", "KEY~VALUE"):
        assert operator in search, operator
    assert "(default: 10)" in search and "(default: None)" not in search


@pytest.mark.parametrize("backend", ["embedded", "qdrant"])
def test_info_and_delete_import_no_torch(backend, standin_model, tmp_path):
    if backend == "qdrant":
        pytest.importorskip("qdrant_edge")
    folder = tmp_path / "idx"
    with open_index(folder, create=True, backend=backend, model=standin_model) as index:
        index.add(["Rivers reach the sea.", "Bread needs a long rise.", "Saturn has rings."],
                  ids=["rivers", "bread", "saturn"])
    code = ("import json, sys\nfrom longcolbert.cli import main\n"
            f"main(['info', {str(folder)!r}, '--json'])\n"
            f"main(['delete', {str(folder)!r}, 'bread'])\n"
            f"main(['info', {str(folder)!r}, '--json'])\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert [json.loads(lines[0])["documents"], json.loads(lines[-2])["documents"]] == [3, 2]
    assert "deleted 1 documents" in done.stdout + done.stderr
    assert lines[-1] == "False"
    with open_index(folder, model=standin_model) as index:  # what is left still searches
        assert sorted(index.ids()) == ["rivers", "saturn"]
        assert index.search("rings of a planet", k=1)[0].id == "saturn"
