"""The index folder: add, upsert, delete, reopen, filters, safety, crash consistency."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from longcolbert import IncompatibleModelError, Index, InvalidInputError, UnsafeIndexError
from longcolbert.documents.loaders import Document
from longcolbert.encoding.model import fingerprint
from longcolbert.errors import LongColBERTError
from longcolbert.plaid.format import check_safe

from corpus import DOCS, META
from numerics import assert_same_within


def build(path, model):
    index = Index(path, model=model)
    index.add(list(DOCS.values()), ids=list(DOCS), metadatas=[META[i] for i in DOCS])
    return index


def as_json(hits):
    return json.dumps([h.to_dict() for h in hits], sort_keys=True)


def test_add_search_and_results_shape(tmp_path, standin_path):
    index = build(tmp_path / "idx", standin_path)
    assert len(index) == 5
    hits = index.search("what is the notice period for termination", k=3, passages=2)
    assert hits[0].id == "contract"
    assert hits[0].metadata == {"topic": "law", "year": 2021}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    text = index.get("contract").text
    for hit in hits:
        for p in hit.passages:
            assert index.get(hit.id).text[p.start : p.end] == p.text
    words = {text[h.start : h.end] for h in hits[0].passages[0].highlights}
    assert {"notice", "period", "termination"} <= words


def test_upsert_replaces_and_delete_removes(tmp_path, standin_path):
    index = build(tmp_path / "idx", standin_path)
    index.add(["The notice period is now six weeks."], ids=["contract"], metadatas=[{"topic": "law"}])
    assert len(index) == 5
    assert index.get("contract").text == "The notice period is now six weeks."
    hit = index.search("notice period", k=1)[0]
    assert hit.id == "contract" and "six weeks" in hit.passages[0].text
    index.delete(["recipe", "garden"])
    assert sorted(index.ids()) == ["astronomy", "contract", "python"]
    assert {h.id for h in index.search("bread dough oven", k=5)} <= {"astronomy", "contract", "python"}
    # every remaining document is still found by its own text (PLAID ids were renumbered)
    for doc_id in index.ids():
        assert index.search(index.get(doc_id).text, k=1)[0].id == doc_id
    index.delete(["astronomy", "contract", "python"])
    assert len(index) == 0 and index.search("anything", k=3) == []
    index.add(["Fresh start after emptying."], ids=["new"])
    assert index.search("fresh start", k=3)[0].id == "new"


def test_reopen_in_a_fresh_process_gives_identical_results(tmp_path, standin_path):
    path = tmp_path / "idx"
    with build(path, standin_path) as index:
        here = as_json(index.search("largest planet", k=5, passages=2))
    code = (
        "import json, sys; from longcolbert import Index\n"
        f"hits = Index({str(path)!r}, model={standin_path!r}, create=False)"
        ".search('largest planet', k=5, passages=2)\n"
        "print(json.dumps([h.to_dict() for h in hits], sort_keys=True))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == here


def test_filters_restrict_the_plaid_search_itself(tmp_path, standin_path):
    index = build(tmp_path / "idx", standin_path)
    index.candidates = 1  # only one PLAID candidate: post-filtering a top-1 would find nothing
    query = "what is the notice period for termination"
    assert index.search(query, k=1)[0].id == "contract"
    hits = index.search(query, k=1, filter={"topic": "food"})
    assert [h.id for h in hits] == ["recipe"]
    hits = index.search(query, k=5, filter={"topic": ["food", "home"]})
    assert {h.id for h in hits} == {"recipe", "garden"}
    hits = index.search(query, k=5, filter={"year": 2021, "topic": "science"})
    assert [h.id for h in hits] == ["astronomy"]
    assert index.search(query, k=5, filter={"topic": "nothing"}) == []
    with pytest.raises(InvalidInputError, match="unknown filter operator '\\$regex'"):
        index.search(query, filter={"topic": {"$regex": "l.*"}})


def test_bad_inputs_are_clear_and_lose_nothing(tmp_path, standin_path, tiny_path):
    empty = Index(tmp_path / "empty", model=standin_path)
    assert empty.search("anything") == []
    index = build(tmp_path / "idx", standin_path)
    for bad in ([""], ["   \n\t"]):
        with pytest.raises(InvalidInputError, match="empty or only whitespace"):
            index.add(["fine text"] + bad, ids=["a", "b"])
    with pytest.raises(InvalidInputError, match="no document with id 'missing'"):
        index.delete(["python", "missing"])
    with pytest.raises(InvalidInputError, match="same length"):
        index.add(["x", "y"], ids=["only-one"])
    with pytest.raises(InvalidInputError, match="appears twice"):
        index.add(["x", "y"], ids=["d", "d"])
    with pytest.raises(InvalidInputError, match="k must be"):
        index.search("x", k=0)
    assert sorted(index.ids()) == sorted(DOCS)
    with pytest.raises(IncompatibleModelError, match="built with model"):
        Index(tmp_path / "idx", model=tiny_path)
    with pytest.raises(InvalidInputError, match="no longcolbert index"):
        Index(tmp_path / "nowhere", create=False)
    assert Index(tmp_path / "idx", model=standin_path, create=False).search(
        "planet", k=1)[0].id == "astronomy"


def test_index_folder_never_holds_pickles(tmp_path, standin_path):
    path = tmp_path / "idx"
    index = build(path, standin_path)
    index.add(["One more document about planets."], ids=["more"])
    index.delete(["garden"])
    index.close()
    plaid_folders = [p for p in path.iterdir() if p.name.startswith("plaid-")]
    assert len(plaid_folders) == 1
    check_safe(plaid_folders[0])
    for array in plaid_folders[0].glob("*.npy"):
        np.load(array, allow_pickle=False)  # plain arrays only
    # a stranger's folder with a pickled array is refused before anything loads it
    np.save(plaid_folders[0] / "codes.npy", np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafeIndexError, match="pickled"):
        Index(path, create=False)


ADD_SCRIPT = """
import sys
from longcolbert import Index
index = Index(sys.argv[1], model=sys.argv[2])
for round in range(1000):
    ids = [f"add{round}-{i}" for i in range(3)]
    index.add([f"Round {round} document {i} about topic {i}." for i in range(3)], ids=ids)
    print(round, flush=True)
"""


@pytest.mark.parametrize("delay", [0.3, 1.1])
def test_killed_add_leaves_a_consistent_index(tmp_path, standin_path, delay):
    path = tmp_path / "idx"
    build(path, standin_path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", ADD_SCRIPT, str(path), standin_path],
        stdout=subprocess.PIPE, text=True,
    )
    first = proc.stdout.readline()  # the model is loaded and one round committed
    assert first.strip() == "0"
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    index = Index(path, model=standin_path, create=False)
    ids = index.ids()
    rounds = {i.split("-")[0] for i in ids if i.startswith("add")}
    for r in rounds:  # each add landed whole or not at all
        assert {f"{r}-{i}" for i in range(3)} <= set(ids)
    assert len(ids) == 5 + 3 * len(rounds)
    for doc_id in ["contract", sorted(ids)[-1]]:
        assert index.search(index.get(doc_id).text, k=1)[0].id == doc_id
    index.add(["After the crash."], ids=["after"])
    assert [p.name for p in path.iterdir() if p.name.startswith("plaid-")] == [
        f"plaid-{index.plaid.generation}"
    ]


def test_search_passages_flattens_best_documents_in_rank_order(tmp_path, standin_path):
    index = build(tmp_path / "idx", standin_path)
    long_text = " ".join(DOCS.values()) * 4  # several passages in one document
    index.add([long_text], ids=["mixed"], metadatas=[{"topic": "mixed"}])
    hits = index.search("notice period for termination", k=6, passages=2)
    found = index.search_passages("notice period for termination", k=3, per_document=2)
    assert len(found) == 3
    expected = [(h.id, p) for h in hits for p in h.passages][:3]
    assert [(h.id, p) for h, p in found] == expected
    assert sum(1 for h, _ in found if h.id == found[0][0].id) <= 2
    with pytest.raises(InvalidInputError, match="per_document"):
        index.search_passages("x", per_document=0)


def test_default_ids_never_overwrite_a_stored_document(tmp_path, standin_path):
    index = Index(tmp_path / "idx", model=standin_path)
    assert index.add(["first text about bread", "second text about moons"]) == ["0", "1"]
    index.delete(["0"])
    new = index.add(["third text about gardens"])
    assert new == ["2"]
    assert sorted(index.ids()) == ["1", "2"]
    assert index.get("1").text == "second text about moons"


@pytest.mark.numerics
def test_searches_from_several_threads_match_sequential_results(tmp_path, standin_path):
    from concurrent.futures import ThreadPoolExecutor

    index = build(tmp_path / "idx", standin_path)
    queries = ["notice period", "bread dough", "planet moons", "working directory"] * 3
    sequential = [as_json(index.search(q, k=2)) for q in queries]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda q: as_json(index.search(q, k=2)), queries))
    for a, b in zip(parallel, sequential):
        assert_same_within(json.loads(a), json.loads(b))
    assert len(parallel) == len(sequential)


def test_index_folders_from_longcolbert_0_1_are_refused_with_the_remedy(tmp_path):
    import sqlite3

    path = tmp_path / "old"
    path.mkdir()
    old = sqlite3.connect(path / "store.sqlite")
    old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    old.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    old.commit()
    old.close()
    with pytest.raises(LongColBERTError, match="older longcolbert.*index the documents again"):
        Index(path, create=False)


def test_an_add_in_many_batches_lands_whole_and_in_order(tmp_path, standin_path):
    texts = [f"{text} (copy {round})" for round in range(3) for text in DOCS.values()]
    ids = [f"{doc_id}-{round}" for round in range(3) for doc_id in DOCS]
    batched = Index(tmp_path / "batched", model=standin_path, batch_tokens=40)
    whole = Index(tmp_path / "whole", model=standin_path)
    for index in (batched, whole):
        index.add(texts, ids=ids)
    assert batched.ids() == whole.ids() == ids
    assert batched.plaid.contents.codes.shape == whole.plaid.contents.codes.shape
    for doc_id, text in zip(ids, texts):
        stored = batched.get(doc_id)
        assert stored.text == text
        np.testing.assert_array_equal(stored.offsets, whole.get(doc_id).offsets)
    for query in ["notice period of the contract", "planets and stars", "watering the garden"]:
        assert [h.id for h in batched.search(query, k=3)] == [h.id for h in whole.search(query, k=3)]
    folder = tmp_path / "batched"
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("plaid-")) == [
        f"plaid-{batched.plaid.generation}"
    ]
    assert not list(batched.plaid.path().glob("part-*"))
    assert batched.store.connection.execute("SELECT COUNT(*) FROM staged").fetchone()[0] == 0


def test_an_add_failing_midway_changes_nothing(tmp_path, standin_path):
    index = Index(tmp_path / "idx", model=standin_path, batch_tokens=40)
    index.add(list(DOCS.values()), ids=list(DOCS))
    before = (index.ids(), index.plaid.generation, as_json(index.search("contract notice", k=3)))
    documents = [Document(f"new-{i}", text) for i, text in enumerate(DOCS.values())]
    encoder = index.encoder
    batches = []

    def encode_then_fail(positions, alone=False, progress=None):
        batches.append(positions)
        if len(batches) == 3:
            raise KeyboardInterrupt  # the user stops a long add
        return encoder.encode_documents([documents[i].text for i in positions])

    counts = encoder.count_rows([d.text for d in documents])
    with pytest.raises(KeyboardInterrupt):
        index._add(documents, counts, encode_then_fail,
                   lambda position, progress, alone: iter(encode_then_fail([position])),
                   fingerprint(encoder.model), False)
    assert (index.ids(), index.plaid.generation,
            as_json(index.search("contract notice", k=3))) == before
    assert [p.name for p in (tmp_path / "idx").iterdir() if p.name.startswith("plaid-")] == [
        f"plaid-{index.plaid.generation}"
    ]
    assert index.store.connection.execute("SELECT COUNT(*) FROM staged").fetchone()[0] == 0
    index.add(["After the interruption."], ids=["after"])  # the next add works
    assert index.search("After the interruption.", k=1)[0].id == "after"


def test_a_delete_during_a_long_add_waits_for_it(tmp_path, standin_path):
    import threading

    index = build(tmp_path / "idx", standin_path)
    index.batch_tokens = 40  # many batches: the add holds the write lock for a while
    texts = [f"{text} (copy {i})" for i in range(4) for text in DOCS.values()]
    ids = [f"copy-{i}" for i in range(len(texts))]
    adder = threading.Thread(target=index.add, args=(texts,), kwargs={"ids": ids}, daemon=True)
    deleter = threading.Thread(target=index.delete, args=(["garden"],), daemon=True)
    adder.start()
    time.sleep(0.5)
    deleter.start()  # must neither deadlock nor interleave with the add
    for thread in (adder, deleter):
        thread.join(timeout=300)
    assert not adder.is_alive() and not deleter.is_alive(), "add and delete deadlocked"
    assert "garden" not in index.ids() and set(ids) <= set(index.ids())
    assert index.search(texts[5], k=1)[0].id == ids[5]


def test_a_document_longer_than_one_batch_is_streamed_and_found(tmp_path, standin_path):
    sentences = [f"Paragraph {i} talks about harbour number {i} and its ships." for i in range(400)]
    sentences[333] = "The lighthouse keeper feeds a grey cat named Biscuit every evening."
    text = " ".join(sentences)
    streamed = Index(tmp_path / "streamed", model=standin_path, batch_tokens=1000)
    streamed.add([text, "A short note about tea."], ids=["long", "tea"])
    whole = Index(tmp_path / "whole", model=standin_path)
    whole.add([text, "A short note about tea."], ids=["long", "tea"])
    a, b = streamed.get("long"), whole.get("long")
    assert np.array_equal(a.offsets, b.offsets)
    assert streamed.plaid.doclens.tolist() == whole.plaid.doclens.tolist()
    hit = streamed.search("who feeds the cat in the lighthouse", k=1)[0]
    assert hit.id == "long" and "Biscuit" in hit.passages[0].text


@pytest.mark.parametrize("backend", ["embedded", "qdrant"])
def test_the_indexing_bar_moves_while_encoding_and_ends_at_the_tokens_indexed(
        backend, standin_path, tmp_path):
    if backend == "qdrant":
        pytest.importorskip("qdrant_edge")
    code = (
        "from longcolbert import open_index\n"
        f"index = open_index({str(tmp_path / 'idx')!r}, create=True, backend={backend!r}, "
        f"model={standin_path!r}, token_budget=64)\n"
        "texts = ['Sentence number %d says something about rivers and seas. ' % i * 8\n"
        "         for i in range(6)]\n"
        "index.add(texts, show_progress=True)\n"
        "print(index.info()['tokens'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TQDM_MININTERVAL": "0"})
    assert done.returncode == 0, done.stderr
    tokens = int(done.stdout.split()[-1])
    states = [tuple(int(x) for x in m) for m in
              re.findall(r"Indexing:.*?\| (\d+)/(\d+) ", done.stderr.replace("\r", "\n"))]
    assert states and all(total == tokens for _, total in states)
    assert states[-1][0] == tokens
    assert any(0 < n < tokens for n, _ in states), states  # it moved before the end
