"""The CLI contract on the Qdrant backend: a folder made with --backend qdrant needs no
flag afterwards, info reports the backend, and everything else answers as the embedded
index does; a qdrant:// server that is not there is one line."""

from __future__ import annotations

import json
import os

import pytest

from longcolbert.cli import main

from corpus import DOCS


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def files(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for doc_id, text in DOCS.items():
        (folder / f"{doc_id}.txt").write_text(text)
    return folder


def test_a_qdrant_folder_answers_as_an_embedded_one(tmp_path, files, standin_path, capsys):
    answers = {}
    for backend in ("embedded", "qdrant"):
        folder = tmp_path / backend
        code, out, err = run_cli(capsys, "index", folder, files, "--model", standin_path,
                                 "--backend", backend)
        assert code == 0 and f"indexed {len(DOCS)} documents" in out, err
        code, out, err = run_cli(capsys, "search", folder, "notice period for termination",
                                 "-k", "2", "--json", "--model", standin_path, "--semantic-only")
        assert code == 0, err
        answers[backend] = json.loads(out)
        code, out, _ = run_cli(capsys, "info", folder, "--json")
        info = json.loads(out)
        assert info["backend"] == backend and info["documents"] == len(DOCS)
        assert set(info) == {"backend", "model", "dim", "documents", "tokens", "bytes"}
    qdrant, embedded = answers["qdrant"], answers["embedded"]
    assert (tmp_path / "qdrant" / "backend.json").exists()
    assert not (tmp_path / "qdrant" / "store.sqlite").exists()
    assert [r["id"] for r in qdrant["results"]] == [r["id"] for r in embedded["results"]]
    assert qdrant["results"][0]["id"] == "contract.txt"
    for ours, theirs in zip(qdrant["results"], embedded["results"]):
        assert set(ours) == set(theirs)
        assert [(p["start"], p["end"]) for p in ours["passages"]] == [
            (p["start"], p["end"]) for p in theirs["passages"]]


def test_later_commands_need_no_flag_and_keep_the_folder_s_backend(tmp_path, files,
                                                                   standin_path, capsys):
    folder = tmp_path / "idx"
    assert run_cli(capsys, "index", folder, files / "recipe.txt", "--model", standin_path,
                   "--backend", "qdrant")[0] == 0
    assert run_cli(capsys, "index", folder, files / "contract.txt", "--model", standin_path)[0] == 0
    code, out, _ = run_cli(capsys, "info", folder, "--json")
    assert json.loads(out)["backend"] == "qdrant" and json.loads(out)["documents"] == 2
    code, out, err = run_cli(capsys, "delete", folder, "recipe.txt")
    assert code == 0 and "(1 left)" in out, err
    # the folder does not choose which local model loads, on this backend either
    code, _, err = run_cli(capsys, "search", folder, "notice period")
    assert code == 1 and err.count("\n") == 1 and "name the model yourself" in err
    code, _, err = run_cli(capsys, "index", folder, files / "garden.txt", "--model",
                           standin_path, "--backend", "embedded")
    assert code == 1 and err.count("\n") == 1 and "holds a qdrant index" in err


def test_a_qdrant_server_that_is_not_there_is_one_line(capsys):
    code, out, err = run_cli(capsys, "info", "qdrant://127.0.0.1:9/docs")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "cannot reach Qdrant at http://127.0.0.1:9" in err
    code, _, err = run_cli(capsys, "info", "qdrant://127.0.0.1")
    assert code == 1 and "qdrant://HOST[:PORT]/COLLECTION" in err


@pytest.mark.skipif(not os.environ.get("QDRANT_URL"),
                    reason="set QDRANT_URL (e.g. http://localhost:6333) to test a real server")
def test_a_real_qdrant_server(files, standin_path, capsys):
    from urllib.parse import urlsplit

    parts = urlsplit(os.environ["QDRANT_URL"])
    location = f"qdrant://{parts.hostname}:{parts.port or 6333}/longcolbert-test-{os.getpid()}"
    assert run_cli(capsys, "index", location, files, "--model", standin_path)[0] == 0
    code, out, _ = run_cli(capsys, "search", location, "largest planet", "--json",
                           "--model", standin_path)
    assert code == 0 and json.loads(out)["results"][0]["id"] == "astronomy.txt"
    from qdrant_client import QdrantClient

    QdrantClient(url=os.environ["QDRANT_URL"]).delete_collection(location.rsplit("/", 1)[1])
