"""The CLI on a Qdrant server (qdrant://HOST[:PORT]/COLLECTION): one line when it is not
there, the same answers as the embedded index where one runs (QDRANT_URL), and no
local Qdrant folder, whose points would be unpickled."""

from __future__ import annotations

import json
import os

import pytest

from longcolbert import InvalidInputError
from longcolbert.cli import main
from longcolbert.qdrant.index import QdrantIndex

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


def test_a_local_qdrant_folder_is_refused_for_it_would_unpickle(tmp_path, standin_path):
    with pytest.raises(InvalidInputError, match="pickle"):
        QdrantIndex(str(tmp_path / "q"), "docs", model=standin_path)
    assert not (tmp_path / "q").exists()
    with pytest.raises(InvalidInputError, match="document_score must be one of"):
        QdrantIndex(":memory:", "docs", model=standin_path, document_score="max_sim")


def test_a_qdrant_server_that_is_not_there_is_one_line(capsys):
    code, out, err = run_cli(capsys, "info", "qdrant://127.0.0.1:9/docs")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "cannot reach Qdrant at http://127.0.0.1:9" in err
    code, _, err = run_cli(capsys, "info", "qdrant://127.0.0.1")
    assert code == 1 and "qdrant://HOST[:PORT]/COLLECTION" in err


def test_a_cluster_layout_in_the_location_is_checked_and_reaches_the_collection(
        standin_model, capsys):
    code, out, err = run_cli(capsys, "info", "qdrant://127.0.0.1:9/docs?shards=0")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "?shards=N&replicas=M" in err
    code, _, err = run_cli(capsys, "info", "qdrant://127.0.0.1:9/docs?shard=2")
    assert code == 1 and "shard='2'" in err
    with pytest.raises(InvalidInputError, match="replicas must be a whole number"):
        QdrantIndex(":memory:", "docs", model=standin_model, replicas=0)
    sent = {}
    index = QdrantIndex(":memory:", "docs", model=standin_model, shards=3, replicas=2)
    create = index.client.create_collection
    index.client.create_collection = lambda *a, **k: sent.update(k) or create(*a, **k)
    index.add(["Jupiter is the largest planet."], ids=["jupiter"])
    assert (sent["shard_number"], sent["replication_factor"]) == (3, 2)
    assert index.search("largest planet", k=1)[0].id == "jupiter"


def test_a_qdrant_folder_records_its_backend_and_reopens(files, tmp_path, standin_path, capsys):
    folder = tmp_path / "qidx"
    code, out, err = run_cli(capsys, "index", folder, files, "--backend", "qdrant",
                             "--model", standin_path)
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["qdrant-edge.json", "shard"]
    code, out, _ = run_cli(capsys, "info", folder, "--json")  # no flag: the folder says
    info = json.loads(out)
    assert (info["backend"], info["documents"]) == ("qdrant", len(DOCS)) and info["bytes"] > 0
    code, out, _ = run_cli(capsys, "search", folder, "largest planet", "--json",
                           "--model", standin_path)
    found = json.loads(out)["results"]
    embedded = tmp_path / "embedded"
    run_cli(capsys, "index", embedded, files, "--model", standin_path)
    code, out, _ = run_cli(capsys, "search", embedded, "largest planet", "--json",
                           "--semantic-only", "--model", standin_path)
    expected = json.loads(out)["results"]
    assert [r["id"] for r in found] == [r["id"] for r in expected]
    assert [r["passages"][0]["start"] for r in found] == [r["passages"][0]["start"]
                                                         for r in expected]
    assert run_cli(capsys, "delete", folder, "astronomy.txt")[0] == 0
    code, out, _ = run_cli(capsys, "info", folder, "--json")
    assert json.loads(out)["documents"] == len(DOCS) - 1
    for other, flag in ((folder, "embedded"), (embedded, "qdrant")):
        code, _, err = run_cli(capsys, "index", other, files, "--backend", flag,
                               "--model", standin_path)
        assert code == 1 and err.count("\n") == 1 and "leave out --backend" in err
    code, _, err = run_cli(capsys, "search", folder, "planet", "--filter", "draft=true",
                           "--model", standin_path)
    assert code == 1 and "cannot filter on true/false" in err


def test_a_qdrant_folder_is_qdrants_own_files_not_pickle(files, tmp_path, standin_path, capsys):
    folder = tmp_path / "qidx"
    run_cli(capsys, "index", folder, files, "--backend", "qdrant", "--model", standin_path)
    for path in folder.rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), path  # a pickle stream starts so
    (folder / "qdrant-edge.json").write_text("{not json")
    code, _, err = run_cli(capsys, "info", folder)
    assert code == 1 and "cannot be read" in err and err.count("\n") == 1


@pytest.mark.skipif(not os.environ.get("QDRANT_URL"),
                    reason="set QDRANT_URL (e.g. http://localhost:6333) to test a real server")
def test_a_real_qdrant_server(files, standin_path, capsys):
    from urllib.parse import urlsplit

    parts = urlsplit(os.environ["QDRANT_URL"])
    collection = f"longcolbert-test-{os.getpid()}"
    location = f"qdrant://{parts.hostname}:{parts.port or 6333}/{collection}"
    assert run_cli(capsys, "index", location + "?shards=2", files, "--model", standin_path)[0] == 0
    from qdrant_client import QdrantClient

    server = QdrantClient(url=os.environ["QDRANT_URL"])
    assert server.get_collection(collection).config.params.shard_number == 2
    code, out, _ = run_cli(capsys, "info", location, "--json")
    assert json.loads(out)["backend"] == "qdrant" and json.loads(out)["documents"] == len(DOCS)
    code, out, _ = run_cli(capsys, "search", location, "largest planet", "--json",
                           "--model", standin_path)
    assert code == 0 and json.loads(out)["results"][0]["id"] == "astronomy.txt"
    assert run_cli(capsys, "delete", location, "astronomy.txt")[0] == 0
    server.delete_collection(collection)


@pytest.mark.skipif(not os.environ.get("QDRANT_URL"),
                    reason="set QDRANT_URL (e.g. http://localhost:6333) to test a real server")
def test_a_real_qdrant_servers_first_stage(standin_model):
    from qdrant_client import models

    from longcolbert.qdrant.index import QdrantIndex

    collection = f"longcolbert-codes-{os.getpid()}"
    index = QdrantIndex(os.environ["QDRANT_URL"], collection, model=standin_model,
                        segment_tokens=16)
    index.codebook.train_rows = 1  # a codebook even for these few rows
    try:
        index.add(list(DOCS.values()), ids=list(DOCS))
        assert index.codebook.centroids() is not None
        segment = models.Filter(must=[models.FieldCondition(
            key="kind", match=models.MatchValue(value="segment"))])
        points, _ = index.client.scroll(collection, scroll_filter=segment, limit=1000,
                                        with_vectors=["codes"])
        assert points and all(p.vector["codes"].indices for p in points)
        assert index.search("largest planet", k=1)[0].id == "astronomy"
    finally:
        index.client.delete_collection(collection)
        index.close()


def test_a_rust_panic_in_a_damaged_folder_is_one_line_on_stderr(tmp_path, standin_path):
    """Edge panics print their message (and with RUST_BACKTRACE a backtrace) on file
    descriptor 2 before the error reaches Python: the command shows only its one line."""
    import subprocess
    import sys

    from longcolbert import open_index

    pytest.importorskip("qdrant_edge")
    folder = tmp_path / "q"
    with open_index(folder, create=True, backend="qdrant", model=standin_path) as index:
        index.add(list(DOCS.values()), ids=list(DOCS))
    damaged = [p for p in folder.rglob("*") if p.is_file() and "vector_storage-tokens" in str(p)]
    assert damaged
    for path in damaged:
        with open(path, "r+b") as handle:
            handle.truncate(7)
    done = subprocess.run(
        [sys.executable, "-m", "longcolbert.cli", "search", str(folder), "rings",
         "--model", standin_path], capture_output=True, text=True, timeout=300,
        env={**os.environ, "RUST_BACKTRACE": "1"})
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr[:500]
    assert "damaged" in done.stderr
