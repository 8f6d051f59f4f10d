"""Relevance: a score on a scale of 0 to 1 that means the same for every query, what
users threshold (LangChain's score_threshold, LlamaIndex's SimilarityPostprocessor)."""

from __future__ import annotations

import pytest

from longcolbert import Index, Reranker

from corpus import DOCS

QUERIES = ["notice period for termination", "largest planet", "bake bread dough",
           "water the tomatoes in the morning", "python list comprehension"]


@pytest.fixture(scope="module")
def index(corpus_index_path, standin_model):
    return Index(corpus_index_path, model=standin_model, create=False)


@pytest.mark.parametrize("settings", [{}, {"hybrid": False, "reread": False},
                                      {"reread": False}, {"hybrid": False}])
def test_relevance_is_the_score_over_the_most_it_can_be(index, settings):
    for query in QUERIES:
        hits = index.search(query, k=5, passages=2, **settings)
        rows = index.encoder.encode_query(query).embeddings.shape[0]
        assert [h.relevance for h in hits] == sorted((h.relevance for h in hits), reverse=True)
        for hit in hits:
            assert 0 < hit.relevance < 1
            for passage in hit.passages:
                assert 0 < passage.relevance < 1
            if settings == {"hybrid": False, "reread": False}:  # one cosine a query token
                assert hit.relevance == pytest.approx(hit.score / rows, rel=1e-6)
            if settings == {"hybrid": False}:  # and again read alone
                assert hit.relevance == pytest.approx(hit.score / (2 * rows), rel=1e-6)


def test_the_best_hit_of_a_matching_query_is_more_relevant_than_of_one_that_matches_nothing(
        index):
    matching = index.search("the notice period for termination is three months", k=1)[0]
    unrelated = index.search("quantum chromodynamics of gluon plasma", k=1)[0]
    assert matching.relevance > unrelated.relevance


def test_the_reranker_gives_relevance_too(standin_model):
    hits = Reranker(standin_model).rerank(QUERIES[0], list(DOCS.values()))
    assert all(0 < h.relevance < 1 for h in hits)
    assert [h.relevance for h in hits] == sorted((h.relevance for h in hits), reverse=True)
    assert set(hits[0].to_dict()) == {"id", "score", "metadata", "passages"}  # the CLI's JSON
