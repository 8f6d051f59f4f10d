"""Re-reading: the best candidate passages read again alone, their MaxSim added to scores.

An index built with ``read_alone=True`` (``--read-alone``) stores every document
read a passage at a time and re-reads from those rows; one built with the
defaults has none, and a search that re-reads there encodes the passages."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from longcolbert import Index, Reranker
from longcolbert.cli import main
from longcolbert.encoding.cache import EncodingCache
from longcolbert.encoding.encoder import Encoder
from longcolbert.ranking.passages import maxsim, sentence_unit_array
from longcolbert.ranking.reread import READ_PASSAGES

# Long enough for several passages of 24 tokens per document.
DOCS = {
    "contract": " ".join([
        "Employment contract between the company and the employee.",
        "The salary is paid on the last working day of each month.",
        "Either party may terminate this agreement in writing.",
        "The notice period for termination is three months.",
        "Holidays amount to thirty days a year, taken in agreement with the manager.",
        "The employee keeps company secrets during and after employment.",
    ]),
    "astronomy": " ".join([
        "Jupiter is the largest planet of the solar system.",
        "It has dozens of moons, the largest being Ganymede.",
        "Saturn is known for its bright rings of ice and rock.",
        "Comets grow tails of dust and gas when they near the sun.",
        "Mars has the tallest volcano, Olympus Mons.",
    ]),
    "garden": " ".join([
        "Water tomatoes in the morning so the leaves dry by evening.",
        "Prune the roses in early spring, before new growth starts.",
        "Compost turns kitchen scraps into food for the soil.",
        "Slugs eat young lettuce; collect them after rain.",
    ]),
}
QUERIES = ["how long must I wait after giving notice to quit", "which planet has rings",
           "when should roses be cut back"]


@pytest.fixture()
def folder(tmp_path, standin_model):
    """The documents indexed with their rows read alone."""
    with Index(tmp_path / "idx", model=standin_model, passage_tokens=24,
               read_alone=True) as index:
        index.add(list(DOCS.values()), ids=list(DOCS))
        assert index.plaid.reads_alone
    return tmp_path / "idx"


def standalone(index: Index, query: str, texts: list[str]) -> list[float]:
    """MaxSim of the query against each text encoded on its own, as re-reading encodes
    it (:meth:`Encoder.read_passages`: bfloat16 on a CPU with AMX), no hybrid weights."""
    rows = index.encoder.encode_query(query).embeddings
    return [maxsim((rows @ e.embeddings.T).numpy())
            for e in index.encoder.read_passages(texts)]


@pytest.fixture()
def folder_without_alone(tmp_path, standin_model):
    """The same documents indexed with the defaults: no rows read alone."""
    with Index(tmp_path / "plain", model=standin_model, passage_tokens=24) as index:
        index.add(list(DOCS.values()), ids=list(DOCS))
        assert not index.plaid.reads_alone
    return tmp_path / "plain"


def assert_read_alone_added(hit, old, alone: list[float]) -> None:
    """``hit`` is ``old`` (the same document without re-reading) with each passage's
    score read ``alone`` added to it, the best added to the document, passages re-ordered."""
    assert hit.score == pytest.approx(old.score + max(alone), abs=1e-3)
    expected = sorted(((p.score + s, p.start) for p, s in zip(old.passages, alone)),
                      key=lambda pair: -pair[0])
    got = [(p.score, p.start) for p in hit.passages]
    assert [start for _, start in got] == [start for _, start in expected]
    assert np.allclose([s for s, _ in got], [s for s, _ in expected], atol=1e-3)


def test_each_run_read_alone_equals_that_text_encoded_on_its_own(standin_model):
    # sentences of 5 to 8 tokens with runs of at most 8: each sentence is read alone
    sentences = ["Jupiter is the largest planet.", "Saturn has bright rings.",
                 "Comets grow long tails.", "Mars has a tall volcano."]
    text = " ".join(sentences)
    encoder = Encoder(standin_model)
    doc = encoder.encode_documents([text], units=[sentence_unit_array(text)], alone_tokens=8)[0]
    assert doc.alone is not None and doc.alone.shape == doc.embeddings.shape
    alone = encoder.encode_documents(sentences)
    start = 0
    for i, (sentence, own) in enumerate(zip(sentences, alone)):
        start = text.index(sentence, start)
        inside = (doc.offsets[:, 0] >= start) & (doc.offsets[:, 1] <= start + len(sentence)) & (
            doc.offsets[:, 1] > doc.offsets[:, 0])
        text_rows = own.offsets[:, 1] > own.offsets[:, 0]
        assert inside.sum() == text_rows.sum()
        assert torch.allclose(doc.alone[torch.from_numpy(inside)], own.embeddings[text_rows],
                              atol=1e-4)
        if i == 0:  # the document's leading special rows come from its first run
            lead = int(np.argmax(text_rows))
            assert torch.allclose(doc.alone[:lead], own.embeddings[:lead], atol=1e-4)


def test_rows_read_alone_are_stored_compressed_beside_the_others(folder, standin_model):
    with Index(folder, model=standin_model, create=False, passage_tokens=24) as index:
        assert index.plaid.reads_alone and index.info()["passages_read_alone"]
        texts = [index.get(doc_id).text for doc_id in DOCS]
        exact = index.encoder.encode_documents(
            texts, units=[sentence_unit_array(t) for t in texts], alone_tokens=24)
        query = index.encoder.encode_query(QUERIES[0]).embeddings
        stored = index.plaid.similarities_alone(query, list(range(len(texts))))
        for document, sims in zip(exact, stored):
            wanted = (query @ document.alone.T).numpy()
            assert sims.shape == wanted.shape
            whole = (query @ document.embeddings.T).numpy()  # the other view
            # near the rows read alone (4-bit residuals), and much nearer than to the others
            assert np.abs(sims - wanted).mean() < 0.04
            assert np.abs(sims - wanted).mean() < np.abs(sims - whole).mean() / 2
            assert maxsim(sims) == pytest.approx(maxsim(wanted), abs=0.3)


def test_scores_add_the_maxsim_of_each_passage_read_alone_at_index_time(folder, standin_model):
    options = dict(model=standin_model, create=False, passage_tokens=24, hybrid=False)
    with Index(folder, reread=False, **options) as plain, Index(folder, **options) as reread:
        for query in QUERIES:
            before = {h.id: h for h in plain.search(query, k=3, passages=READ_PASSAGES)}
            after = reread.search(query, k=3, passages=READ_PASSAGES)
            assert [h.score for h in after] == sorted((h.score for h in after), reverse=True)
            encoded = plain.encoder.encode_query(query).embeddings
            ids = plain.ids()
            for hit in after:
                old = before[hit.id]
                doc = plain.get(hit.id)
                sims = plain.plaid.similarities_alone(encoded, [ids.index(hit.id)])[0]
                text = doc.offsets[:, 1] > doc.offsets[:, 0]
                alone = [maxsim(sims[:, text & (doc.offsets[:, 0] >= p.start)
                                     & (doc.offsets[:, 1] <= p.end)]) for p in old.passages]
                assert_read_alone_added(hit, old, alone)


def test_rows_read_alone_survive_deletes_growth_and_a_new_codec(tmp_path, standin_model):
    with Index(tmp_path / "idx", model=standin_model, passage_tokens=24,
               read_alone=True) as index:
        index.add([DOCS["garden"]], ids=["garden"])
        first_codec = index.plaid.contents.codec
        index.add([DOCS["contract"], DOCS["astronomy"]] * 3,
                  ids=[f"{name}-{i}" for i in range(3) for name in ("contract", "astronomy")])
        assert index.plaid.contents.codec is not first_codec  # trained again at 4x growth
        index.delete(["contract-0", "garden"])
        assert index.plaid.reads_alone
        contents = index.plaid.contents
        assert contents.alone.codes.shape == contents.codes.shape
        hits = index.search(QUERIES[1], k=2)
        assert hits[0].id.startswith("astronomy")
    with Index(tmp_path / "idx", model=standin_model, create=False) as reopened:
        assert reopened.plaid.reads_alone  # and an add without the flag keeps them
        reopened.add([DOCS["garden"]], ids=["garden-again"])
        assert reopened.plaid.reads_alone


def test_an_index_without_rows_read_alone_keeps_none_and_rereads_by_encoding(
        folder_without_alone, standin_model):
    with Index(folder_without_alone, model=standin_model, create=False,
               passage_tokens=24, read_alone=True) as index:
        with pytest.warns(UserWarning, match="built without rows read alone"):
            index.add([DOCS["garden"]], ids=["garden-again"])  # keeps the layout it found
        assert not index.plaid.reads_alone and not index.info()["passages_read_alone"]


def test_scores_add_the_maxsim_of_each_passage_encoded_alone_without_stored_rows(
        folder_without_alone, standin_model):
    options = dict(model=standin_model, create=False, passage_tokens=24, hybrid=False)
    folder = folder_without_alone
    with Index(folder, reread=False, **options) as plain, Index(folder, **options) as reread:
        for query in QUERIES:
            before = {h.id: h for h in plain.search(query, k=3, passages=READ_PASSAGES)}
            after = reread.search(query, k=3, passages=READ_PASSAGES)
            assert [h.score for h in after] == sorted((h.score for h in after), reverse=True)
            for hit in after:
                old = before[hit.id]
                alone = standalone(plain, query, [p.text for p in old.passages])
                assert_read_alone_added(hit, old, alone)


def test_documents_and_first_passages_do_not_depend_on_how_many_passages_are_asked(
        folder, standin_model):
    with Index(folder, model=standin_model, create=False, passage_tokens=24) as index:
        for query in QUERIES:
            one = index.search(query, k=3, passages=1)
            leading = index.search(query, k=3, passages=READ_PASSAGES)
            many = index.search(query, k=3, passages=READ_PASSAGES + 2)
            assert [h.id for h in one] == [h.id for h in leading] == [h.id for h in many]
            for a, b, c in zip(one, leading, many):
                spans = [(p.start, p.end) for p in c.passages]
                assert spans[: len(b.passages)] == [(p.start, p.end) for p in b.passages]
                assert (a.passages[0].start, a.passages[0].end) == spans[0]
                assert a.score == pytest.approx(c.score, abs=1e-4)


def test_the_reranker_rereads_too_and_can_be_told_not_to(standin_model):
    texts = list(DOCS.values())
    query = QUERIES[0]
    plain = Reranker(standin_model, passage_tokens=24, hybrid=False, reread=False)
    reread = Reranker(standin_model, passage_tokens=24, hybrid=False)
    before = {h.id: h for h in plain.rerank(query, texts, passages=READ_PASSAGES)}
    for hit in reread.rerank(query, texts, passages=1):
        old = before[hit.id]
        rows = plain.encoder.encode_query(query).embeddings
        alone = [maxsim((rows @ e.embeddings.T).numpy())
                 for e in plain.encoder.read_passages([p.text for p in old.passages])]
        assert hit.score == pytest.approx(old.score + max(alone), abs=1e-3)


def test_cli_no_reread_matches_the_index_without_rereading(folder, standin_path, capsys):
    query = QUERIES[1]
    code = main(["search", str(folder), query, "-k", "2", "--json", "--no-reread",
                 "--model", standin_path])
    assert code == 0
    found = json.loads(capsys.readouterr().out)["results"]
    with Index(folder, model=standin_path, create=False, reread=False) as index:
        hits = index.search(query, k=2)
    assert [r["id"] for r in found] == [h.id for h in hits]
    assert [r["score"] for r in found] == pytest.approx([h.score for h in hits], abs=1e-4)


def test_cli_index_read_alone_stores_the_rows_and_qdrant_refuses_it(tmp_path, standin_path,
                                                                    capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    for doc_id, text in DOCS.items():
        (docs / f"{doc_id}.txt").write_text(text)
    for flags, stored in (([], False), (["--read-alone"], True)):
        folder = tmp_path / f"idx-{stored}"
        assert main(["index", str(folder), str(docs), "--model", standin_path, *flags]) == 0
        assert main(["info", str(folder), "--json"]) == 0
        info = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert info["passages_read_alone"] is stored
    code = main(["index", str(tmp_path / "q"), str(docs), "--model", standin_path,
                 "--backend", "qdrant", "--read-alone"])
    err = capsys.readouterr().err
    assert code == 1 and "read_alone" in err and err.count("\n") == 1


def test_a_query_asked_again_rereads_its_passages_from_the_cache(folder_without_alone,
                                                                  standin_model):
    with Index(folder_without_alone, model=standin_model, create=False,
               passage_tokens=24) as index:
        first = [h.to_dict() for h in index.search(QUERIES[0], k=3)]
        misses, hits = index.cache.misses, index.cache.hits
        assert misses > 0  # the first search encoded its passages
        again = [h.to_dict() for h in index.search(QUERIES[0], k=3)]
        assert index.cache.misses == misses and index.cache.hits > hits
        assert json.dumps(again, sort_keys=True) == json.dumps(first, sort_keys=True)
    with Index(folder_without_alone, model=standin_model, create=False, passage_tokens=24,
               cache=EncodingCache(0)) as index:  # a cache of 0 bytes keeps nothing
        index.search(QUERIES[0], k=3)
        index.search(QUERIES[0], k=3)
        assert index.cache.hits == 0
