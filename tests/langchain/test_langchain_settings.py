"""Every search setting reaches the engine from LangChain: retriever, its from_* builders,
the vector store and the reranker (issue: fast by default, settings where users are)."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document

from langchain_longcolbert import LongColBERTReranker, LongColBERTRetriever, LongColBERTVectorStore
from longcolbert import Index, InvalidInputError, Reranker

from corpus import DOCS

QUERY = "what is the notice period for termination"
SETTINGS = [{"reread": False}, {"hybrid": False}, {"candidates": 1},
            {"reread": False, "hybrid": False}]


def spans(hits) -> list[tuple[str, int, int]]:
    return [(h.id, p.start, p.end) for h in hits for p in h.passages[:1]]


@pytest.fixture
def index(corpus_index_path, standin_model) -> Index:
    return Index(corpus_index_path, model=standin_model, create=False)


@pytest.mark.parametrize("setting", SETTINGS)
def test_the_retriever_searches_with_its_settings_and_per_call_ones(index, setting):
    expected = spans(index.search(QUERY, k=3, passages=1, **setting))
    as_field = LongColBERTRetriever(index=index, k=3, **setting).invoke(QUERY)
    per_call = LongColBERTRetriever(index=index, k=3).invoke(QUERY, **setting)
    for docs in (as_field, per_call):
        assert [(d.metadata["doc_id"], d.metadata["start_index"], d.metadata["end_index"])
                for d in docs] == expected


def test_settings_differ_where_they_should(index):
    # otherwise the test above could pass with settings ignored
    default = index.search(QUERY, k=3, passages=1)
    fast = index.search(QUERY, k=3, passages=1, reread=False)
    assert [h.score for h in default] != pytest.approx([h.score for h in fast])


def test_a_bad_setting_fails_at_construction(index):
    with pytest.raises(ValueError):
        LongColBERTRetriever(index=index, candidates=0)
    with pytest.raises(InvalidInputError):
        LongColBERTRetriever(index=index).invoke(QUERY, candidates=0)
    with pytest.raises(InvalidInputError):
        LongColBERTVectorStore(index, reread="no")


def test_from_texts_takes_device_dtype_and_settings(tmp_path, standin_path):
    retriever = LongColBERTRetriever.from_texts(
        list(DOCS.values()), tmp_path / "idx", ids=list(DOCS), model=standin_path,
        device="cpu", dtype="float32", reread=False, k=2)
    assert retriever.reread is False and retriever.device == "cpu"
    expected = spans(retriever.index.search(QUERY, k=2, passages=1, reread=False))
    got = [(d.metadata["doc_id"], d.metadata["start_index"], d.metadata["end_index"])
           for d in retriever.invoke(QUERY)]
    assert got == expected
    reopened = LongColBERTRetriever(index=str(tmp_path / "idx"), model=standin_path,
                                    device="cpu", dtype="float32")
    assert reopened.invoke(QUERY, k=1)[0].metadata["doc_id"] == "contract"


@pytest.mark.parametrize("setting", SETTINGS)
def test_the_vector_store_searches_with_its_settings(index, setting):
    expected = [(h.id, h.score) for h in index.search(QUERY, k=3, passages=0, **setting)]
    for found in (LongColBERTVectorStore(index, **setting).similarity_search_with_score(QUERY, 3),
                  LongColBERTVectorStore(index).similarity_search_with_score(QUERY, 3, **setting)):
        assert [doc.id for doc, _ in found] == [i for i, _ in expected]
        assert [score for _, score in found] == pytest.approx([s for _, s in expected], abs=1e-4)
    store = LongColBERTVectorStore(index, **setting)
    assert store.as_passage_retriever(k=2).reread == setting.get("reread")


def test_vector_store_from_texts_takes_placement_and_settings(tmp_path, standin_path):
    store = LongColBERTVectorStore.from_texts(
        list(DOCS.values()), ids=list(DOCS), index_path=tmp_path / "idx", model=standin_path,
        device="cpu", dtype="float32", reread=False)
    assert store.search_settings["reread"] is False
    assert store.similarity_search(QUERY, k=1)[0].id == "contract"


@pytest.mark.parametrize("setting", [{"reread": False}, {"hybrid": False}])
def test_the_reranker_ranks_with_its_settings(standin_model, setting):
    documents = [Document(page_content=text, id=doc_id) for doc_id, text in DOCS.items()]
    reranker = LongColBERTReranker(model=standin_model, top_n=None, **setting)
    engine = Reranker(standin_model, **setting)
    expected = engine.rerank(QUERY, [d.page_content for d in documents])
    got = reranker.compress_documents(documents, QUERY)
    assert [d.id for d in got] == [documents[h.position].id for h in expected]
    assert [d.metadata["maxsim_score"] for d in got] == pytest.approx(
        [h.score for h in expected], abs=1e-4)
    assert [d.metadata["relevance_score"] for d in got] == pytest.approx(
        [h.relevance for h in expected], abs=1e-5)


def test_the_reranker_keeps_encodings_for_the_next_call(standin_model, tmp_path):
    documents = [Document(page_content=text * 3, id=doc_id) for doc_id, text in DOCS.items()]
    reranker = LongColBERTReranker(model=standin_model, cache_folder=str(tmp_path / "cache"))
    first = reranker.compress_documents(documents, QUERY)
    misses = reranker.engine.cache.misses
    second = reranker.compress_documents(documents, QUERY)
    assert reranker.engine.cache.misses == misses > 0 and reranker.engine.cache.hits > 0
    assert [d.id for d in second] == [d.id for d in first]
    later = LongColBERTReranker(model=standin_model, cache_folder=str(tmp_path / "cache"))
    later.compress_documents(documents, QUERY)  # another process would start warm too
    assert later.engine.cache.misses == 0
    assert LongColBERTReranker(model=standin_model, cache_bytes=0).engine.cache.max_bytes == 0


@pytest.mark.parametrize("base", ["vector store", "retriever"])
def test_the_reranker_scores_candidates_from_the_index_they_came_from(index, standin_model,
                                                                      base):
    from langchain_classic.retrievers import ContextualCompressionRetriever

    store = LongColBERTVectorStore(index)
    source = (store if base == "vector store"
              else LongColBERTRetriever(index=index, k=3, passages_per_document=2, reread=False))
    candidates = (store.as_retriever(search_kwargs={"k": 4}) if base == "vector store"
                  else source)
    fresh = LongColBERTReranker(model=standin_model, top_n=3, reread=False)
    stored = LongColBERTReranker(model=standin_model, top_n=3, reread=False, index=source)
    found = candidates.invoke(QUERY)
    expected = fresh.compress_documents(found, QUERY)
    got = ContextualCompressionRetriever(base_compressor=stored,
                                         base_retriever=candidates).invoke(QUERY)
    assert stored.engine.stored == len(found) and stored.engine.cache.misses == 0
    assert [d.page_content for d in got][:1] == [d.page_content for d in expected][:1]
    for doc in got:
        assert doc.page_content in index.get(doc.metadata.get("doc_id", doc.id)).text


def test_relevance_scores_are_thresholds_that_mean_something(index):
    store = LongColBERTVectorStore(index)
    scored = store.similarity_search_with_relevance_scores(QUERY, k=4)
    relevances = [r for _, r in scored]
    assert all(0 < r < 1 for r in relevances) and relevances == sorted(relevances, reverse=True)
    assert [d.id for d, _ in scored] == [h.id for h in index.search(QUERY, k=4, passages=0)]
    cut = (relevances[0] + relevances[1]) / 2
    kept = store.as_retriever(search_type="similarity_score_threshold",
                              search_kwargs={"k": 4, "score_threshold": cut}).invoke(QUERY)
    assert [d.id for d in kept] == [scored[0][0].id]


def test_mmr_says_what_to_use_instead(index):
    with pytest.raises(NotImplementedError, match="search_type='similarity'"):
        LongColBERTVectorStore(index).as_retriever(search_type="mmr").invoke(QUERY)
