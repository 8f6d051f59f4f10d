"""A reranker given the index its candidates came from scores them from the stored
vectors: nothing is encoded, the ranking is the one a fresh encoding gives, and a
text that is not in the index (or another model) is handled as such."""

from __future__ import annotations

import pytest

from longcolbert import IncompatibleModelError, Index, InvalidInputError, Reranker, open_index
from longcolbert.encoding.cache import EncodingCache

from corpus import DOCS

QUERIES = ["notice period for termination", "largest planet", "bake bread dough",
           "water the tomatoes", "python list comprehension"]


@pytest.fixture(params=["embedded", "qdrant"])
def index(request, standin_model, tmp_path):
    if request.param == "qdrant":
        pytest.importorskip("qdrant_edge")
    with open_index(tmp_path / "idx", create=True, backend=request.param,
                    model=standin_model) as opened:
        opened.add(list(DOCS.values()), ids=list(DOCS))
        yield opened


def test_stored_documents_rank_as_fresh_encodings_and_encode_nothing(index, standin_model):
    ids = list(DOCS)
    texts = [DOCS[i] for i in ids]
    fresh = Reranker(standin_model, reread=False)
    stored = Reranker(standin_model, reread=False, index=index, cache=EncodingCache(1 << 20))
    for query in QUERIES:
        expected = fresh.rerank(query, texts, ids=ids)
        got = stored.rerank(query, texts, ids=ids, sources=[(i, 0) for i in ids])
        assert [h.id for h in got][:2] == [h.id for h in expected][:2], query
        for a, b in zip(sorted(got, key=lambda h: h.id), sorted(expected, key=lambda h: h.id)):
            assert a.score == pytest.approx(b.score, abs=0.6)  # stored vectors are compressed
        for hit in got:
            for passage in hit.passages:
                assert DOCS[hit.id][passage.start:passage.end] == passage.text
    assert stored.stored == len(QUERIES) * len(ids)
    assert stored.cache.stats()["misses"] == 0  # no candidate was encoded


def test_a_passage_of_a_stored_document_is_scored_from_its_rows(index, standin_model):
    hit = index.search("largest planet", k=1, passages=1)[0]
    passage = hit.passages[0]
    reranker = Reranker(standin_model, reread=False, index=index, cache=EncodingCache(1 << 20))
    found = reranker.rerank("largest planet", [passage.text, "Bread needs a long rise."],
                            sources=[(hit.id, passage.start), None])
    assert reranker.stored == 1 and reranker.cache.stats()["misses"] == 1  # the other text
    assert found[0].position == 0
    # a text that is not where its source says is encoded, not read from the index
    changed = passage.text.replace(passage.text[:3], "Xyz", 1)
    reranker.rerank("largest planet", [changed], sources=[(hit.id, passage.start)])
    assert reranker.stored == 1 and reranker.cache.stats()["misses"] == 2
    reranker.rerank("largest planet", [DOCS["recipe"]], sources=[("not-there", 0)])
    assert reranker.stored == 1


def test_an_index_built_by_another_model_is_refused_in_one_line(tmp_path, standin_model,
                                                                 tiny_model):
    with Index(tmp_path / "idx", model=standin_model) as index:
        index.add([DOCS["contract"]], ids=["contract"])
        reranker = Reranker(tiny_model, index=index)
        with pytest.raises(IncompatibleModelError, match="give the reranker model=") as caught:
            reranker.rerank("notice", [DOCS["contract"]], sources=[("contract", 0)])
        assert "\n" not in str(caught.value)


def test_index_must_be_an_index(standin_model):
    with pytest.raises(Exception, match="index must be a longcolbert index"):
        Reranker(standin_model, index="./some-folder")


def test_without_a_model_a_reranker_shares_the_index_s(index, standin_model):
    reranker = Reranker(index=index, reread=False)
    assert reranker.encoder is index.model_holder.encoder  # one model in memory
    ids = list(DOCS)
    hits = reranker.rerank("largest planet", [DOCS[i] for i in ids], ids=ids,
                           sources=[(i, 0) for i in ids])
    assert hits[0].id == "astronomy" and reranker.stored == len(ids)
    with pytest.raises(InvalidInputError, match="name it"):
        Reranker(index=index, device="cpu")  # a placement of its own needs its own model
    assert Reranker(standin_model, index=index).encoder is not index.model_holder.encoder


FILLERS = ["The trial period lasts six months. Each period ends with a review.",
           "A period of rest follows every period of work in the schedule.",
           "The billing period is one month; the grace period is ten days."]


def test_texts_from_the_index_weigh_query_words_by_its_term_counts(index, standin_model):
    """Hybrid term rarity for texts that came from the index is the index's, as its own
    search counts it, not counted over the few texts given: "period" is common in this
    index, rare among the two texts reranked. So they score as the search scores them."""
    index.add(FILLERS, ids=[f"filler{i}" for i in range(len(FILLERS))])
    query = "notice period for termination"
    searched = {h.id: h.score for h in index.search(query, k=len(index), passages=1, reread=False)}
    ids = ["contract", "garden"]
    texts = [DOCS[i] for i in ids]
    stored = Reranker(standin_model, index=index, reread=False)
    for hit in stored.rerank(query, texts, ids=ids, sources=[(i, 0) for i in ids]):
        assert hit.score == pytest.approx(searched[hit.id], rel=1e-3), hit.id
    # the same texts with no index: rarity counted over them, other weights
    fresh = Reranker(standin_model, reread=False).rerank(query, texts, ids=ids)
    assert {h.id: h.score for h in fresh} != pytest.approx({i: searched[i] for i in ids}, rel=1e-2)
