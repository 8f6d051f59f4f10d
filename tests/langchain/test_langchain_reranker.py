"""LongColBERTReranker: ordering, top_n, passage mode, no mutation, async."""

from __future__ import annotations

import copy

import pytest
from langchain_core.documents import Document

from langchain_longcolbert import LongColBERTReranker

from corpus import DOCS

QUERY = "what is the notice period for termination"
FILLER = "Water tomatoes in the morning and prune the roses in early spring. " * 80


@pytest.fixture
def documents() -> list[Document]:
    docs = [Document(page_content=t, id=i, metadata={"source": i}) for i, t in DOCS.items()
            if i != "contract"]
    # the answer sits after ~1,100 tokens of filler: beyond one 512-token window
    buried = FILLER + "The notice period for termination is three months. " + FILLER
    docs.insert(1, Document(page_content=buried, id="long-contract", metadata={"nested": {"a": 1}}))
    return docs


def test_orders_by_relevance_and_keeps_top_n(standin_model, documents):
    reranker = LongColBERTReranker(model=standin_model, top_n=2)
    out = reranker.compress_documents(documents, QUERY)
    assert len(out) == 2
    assert out[0].id == "long-contract"
    assert out[0].page_content == documents[1].page_content  # the whole text by default
    scores = [d.metadata["relevance_score"] for d in out]
    assert scores == sorted(scores, reverse=True)
    everything = LongColBERTReranker(model=standin_model, top_n=None).compress_documents(
        documents, QUERY
    )
    assert len(everything) == len(documents)
    assert [d.id for d in everything[:2]] == [d.id for d in out]
    words = {out[0].page_content[h["start"] : h["end"]] for h in out[0].metadata["highlights"]}
    assert {"notice", "period", "termination"} <= words


def test_passage_mode_returns_best_passages_with_offsets(standin_model, documents):
    reranker = LongColBERTReranker(
        model=standin_model, top_n=1, return_passages=True, passages_per_document=2
    )
    out = reranker.compress_documents(documents, QUERY)
    assert 1 <= len(out) <= 2
    source = documents[1].page_content
    best = out[0]
    assert "The notice period for termination is three months." in best.page_content
    assert len(best.page_content) < len(source) / 4
    for doc in out:
        meta = doc.metadata
        assert source[meta["start_index"] : meta["end_index"]] == doc.page_content
        assert doc.id == f"long-contract#{meta['start_index']}-{meta['end_index']}"
        assert meta["nested"] == {"a": 1} and "relevance_score" in meta
        for h in meta["highlights"]:
            assert 0 <= h["start"] < h["end"] <= len(doc.page_content)
    words = {best.page_content[h["start"] : h["end"]] for h in best.metadata["highlights"]}
    assert {"notice", "period"} <= words


def test_never_mutates_the_callers_documents(standin_model, documents):
    before = copy.deepcopy(documents)
    for mode in (False, True):
        out = LongColBERTReranker(
            model=standin_model, top_n=3, return_passages=mode
        ).compress_documents(documents, QUERY)
        out[0].metadata["nested"]["a"] = "changed"  # a deep copy, not the caller's dict
        out[0].metadata["extra"] = 1
    assert documents == before
    assert LongColBERTReranker(model=standin_model).compress_documents([], QUERY) == []


async def test_async_gives_the_same_documents(standin_model, documents):
    reranker = LongColBERTReranker(model=standin_model, top_n=3, return_passages=True)
    assert await reranker.acompress_documents(documents, QUERY) == reranker.compress_documents(
        documents, QUERY
    )


def test_keeps_five_by_default_as_the_llama_index_reranker_does(standin_model):
    many = [Document(page_content=f"Note {i}: the notice period is {i} weeks.") for i in range(8)]
    assert LongColBERTReranker().top_n == 5  # constructing loads no model
    assert len(LongColBERTReranker(model=standin_model).compress_documents(many, QUERY)) == 5


def test_reranked_documents_are_the_callers_even_with_repeated_ids(standin_model):
    # results are matched to inputs by position, never by the (possibly repeated) id
    same_id = [Document(id="dup", page_content="Bread is baked at 220 degrees."),
               Document(id="dup", page_content="The notice period is three months.")]
    out = LongColBERTReranker(model=standin_model, top_n=1).compress_documents(same_id, QUERY)
    assert out[0].page_content == same_id[1].page_content


def test_passages_of_a_split_chunk_point_into_its_source_as_the_retriever_does(
        standin_model, tmp_path):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from langchain_longcolbert import LongColBERTRetriever

    source = "Preamble about nothing in particular. " * 500 + DOCS["contract"] + (
        " Closing remarks. " * 50)
    chunks = RecursiveCharacterTextSplitter(chunk_size=1500, chunk_overlap=100,
                                            add_start_index=True).create_documents([source])
    assert max(c.metadata["start_index"] for c in chunks) > 18_000
    reranker = LongColBERTReranker(model=standin_model, top_n=2, return_passages=True)
    retriever = LongColBERTRetriever.from_documents(chunks, tmp_path / "idx", model=standin_model,
                                                    k=2)
    for docs, own in ((reranker.compress_documents(chunks, "notice period for termination"),
                       {c.page_content: c.metadata["start_index"] for c in chunks}),
                      (retriever.invoke("notice period for termination"), None)):
        assert docs
        for doc in docs:  # one rule: offsets into the source, the chunk's own start kept
            meta = doc.metadata
            assert source[meta["start_index"]:meta["end_index"]] == doc.page_content
            assert meta["original_start_index"] <= meta["start_index"]
            assert meta["original_start_index"] in {c.metadata["start_index"] for c in chunks}
        if own is not None:
            assert docs[0].metadata["start_index"] > 18_000  # the contract sits late
