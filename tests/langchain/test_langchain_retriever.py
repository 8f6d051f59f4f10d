"""LongColBERTRetriever: passages as Documents, offsets, highlights, options, writes, async."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document

from langchain_longcolbert import LongColBERTRetriever
from longcolbert import Index, InvalidInputError

from corpus import DOCS, META, REAL_PDF, needs_pdf
from loop_check import run_counting_ticks


@pytest.fixture
def retriever(corpus_index_path, standin_model) -> LongColBERTRetriever:
    return LongColBERTRetriever(index=Index(corpus_index_path, model=standin_model, create=False))


def test_each_document_is_one_passage_with_offsets_and_highlights(retriever):
    docs = retriever.invoke("what is the notice period for termination", k=3)
    assert len(docs) == 3
    top = docs[0]
    assert top.metadata["doc_id"] == "contract"
    assert top.metadata["topic"] == "law" and top.metadata["year"] == 2021
    for doc in docs:
        meta = doc.metadata
        source = retriever.index.get(meta["doc_id"]).text
        assert source[meta["start_index"] : meta["end_index"]] == doc.page_content
        assert doc.id == f"{meta['doc_id']}#{meta['start_index']}-{meta['end_index']}"
        # a document scores its best passage plus its special tokens: never less than a passage
        assert meta["passage_score"] <= meta["doc_score"] + 1e-6
        for h in meta["highlights"]:
            assert 0 <= h["start"] < h["end"] <= len(doc.page_content)
    words = {top.page_content[h["start"] : h["end"]] for h in top.metadata["highlights"]}
    assert {"notice", "period", "termination"} <= words
    assert [d.metadata["doc_score"] for d in docs] == sorted(
        (d.metadata["doc_score"] for d in docs), reverse=True
    )


@needs_pdf
def test_pdf_passages_carry_their_pages(retriever):
    doc = retriever.invoke("MiKTeX options maintenance settings admin", k=1)[0]
    assert doc.metadata["doc_id"] == REAL_PDF.name
    assert 3 in doc.metadata["pages"]
    page_map = retriever.index.get(REAL_PDF.name).page_map
    start, end = doc.metadata["start_index"], doc.metadata["end_index"]
    assert doc.metadata["pages"] == [p for s, e, p in page_map if s < end and start < e]
    assert "MiKTeX" in doc.page_content


def test_settings_at_construction_and_per_call(corpus_index_path, standin_model):
    index = Index(corpus_index_path, model=standin_model, create=False)
    narrow = LongColBERTRetriever(index=index, k=2, filter={"topic": ["food", "home"]})
    docs = narrow.invoke("notice period for termination")
    assert len(docs) == 2
    assert {d.metadata["doc_id"] for d in docs} == {"recipe", "garden"}
    # per-call settings win over the constructor's
    docs = narrow.invoke("notice period for termination", k=1, filter={"year": 2023})
    assert [d.metadata["doc_id"] for d in docs] == ["python"]
    with pytest.raises(ValueError, match="unknown search option 'top_k'"):
        narrow.invoke("notice", top_k=3)


@needs_pdf
def test_passages_per_document(retriever):
    docs = retriever.invoke(
        "MiKTeX options maintenance settings admin", k=4, passages_per_document=3,
        filter={"file_type": "pdf"},
    )
    assert len(docs) == 3  # one document, at most 3 of its passages
    spans = sorted((d.metadata["start_index"], d.metadata["end_index"]) for d in docs)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    assert len({d.id for d in docs}) == 3


def test_from_texts_add_and_delete(tmp_path, standin_model):
    retriever = LongColBERTRetriever.from_texts(
        list(DOCS.values()), tmp_path / "idx", metadatas=[META[i] for i in DOCS],
        ids=list(DOCS), model=standin_model, k=1,
    )
    assert retriever.invoke("largest planet")[0].metadata["doc_id"] == "astronomy"
    new_ids = retriever.add_documents(
        [
            Document(page_content="Saturn has rings made of ice and rock.", id="saturn"),
            Document(page_content="Mars is red because of iron oxide dust.", metadata={"x": 1}),
        ]
    )
    assert new_ids[0] == "saturn" and len(new_ids[1]) == 36  # the Document id, else a UUID
    assert retriever.invoke("planet rings of ice")[0].metadata["doc_id"] == "saturn"
    retriever.delete(["saturn"])
    assert "saturn" not in retriever.index.ids()
    assert retriever.invoke("planet rings of ice")[0].metadata["doc_id"] != "saturn"
    with pytest.warns(UserWarning, match="no document with id 'saturn'"):
        retriever.delete(["saturn"])  # as LangChain's vector stores: no error
    assert len(retriever.index) == len(DOCS) + 1


def test_reopened_from_its_folder(tmp_path, standin_path):
    LongColBERTRetriever.from_documents(
        [Document(page_content=text, metadata=META[i], id=i) for i, text in DOCS.items()],
        tmp_path / "idx", model=standin_path,
    )
    reopened = LongColBERTRetriever(index=str(tmp_path / "idx"), model=standin_path, k=2)
    docs = reopened.invoke("bake bread dough")
    assert docs[0].metadata["doc_id"] == "recipe" and len(docs) == 2


@needs_pdf
def test_from_files_indexes_pdfs_with_pages(tmp_path, standin_model):
    retriever = LongColBERTRetriever.from_files([REAL_PDF], tmp_path / "idx", model=standin_model)
    doc = retriever.invoke("MiKTeX options maintenance settings admin", k=1)[0]
    assert 3 in doc.metadata["pages"] and doc.metadata["page_count"] == 6


async def test_ainvoke_matches_invoke_and_leaves_the_event_loop_free(retriever):
    query = "what is the notice period for termination"
    expected = retriever.invoke(query, k=3)
    docs, ticks = await run_counting_ticks(retriever.ainvoke(query, k=3))
    assert docs == expected
    assert ticks >= 3  # the loop kept running while the search ran in a worker thread


def test_display_renders_retrieved_documents_with_their_highlights(retriever):
    from longcolbert import display

    from html_elements import Elements

    docs = retriever.invoke("what is the notice period for termination", k=2)
    parser = Elements()
    parser.feed(display(docs)._repr_html_())
    marks = [text for tag, _, text in parser.done if tag == "mark"]
    expected = [d.page_content[h["start"]:h["end"]] for d in docs for h in d.metadata["highlights"]]
    assert marks == expected and "notice" in marks
    ids = [text for tag, attrs, text in parser.done if attrs.get("class") == "lc-id"]
    assert ids == [d.metadata["doc_id"] for d in docs]


def test_blank_documents_from_loaders_are_skipped_with_one_warning(tmp_path, standin_path):
    pages = [Document(page_content="The notice period is three months.",
                      metadata={"source": "contract.pdf", "page": 0}),
             Document(page_content="   \n", metadata={"source": "contract.pdf", "page": 1}),
             Document(page_content="Bread is baked at 220 degrees.",
                      metadata={"source": "recipe.pdf", "page": 0})]
    with pytest.warns(UserWarning, match=r"skipped 1 blank document.*1 \(contract.pdf page 1\)"):
        retriever = LongColBERTRetriever.from_documents(pages, tmp_path / "idx",
                                                        model=standin_path, ids=["a", "b", "c"])
    assert sorted(retriever.index.ids()) == ["a", "c"]
    assert retriever.add_documents([]) == []
    with pytest.warns(UserWarning, match="skipped 1 blank"):
        assert retriever.add_documents([Document(page_content="")]) == []


def test_a_path_that_is_not_an_index_is_an_error_not_an_empty_index(tmp_path):
    with pytest.raises(ValueError, match="no longcolbert index"):  # pydantic wraps it
        LongColBERTRetriever(index=str(tmp_path / "typo"))
    assert not (tmp_path / "typo").exists()


def test_unknown_keyword_arguments_are_errors(retriever, standin_model):
    from langchain_longcolbert import LongColBERTReranker

    for wrong in ({"top_k": 3}, {"search_kwargs": {"k": 2}}):
        with pytest.raises(ValueError, match="Extra inputs are not permitted"):
            LongColBERTRetriever(index=retriever.index, **wrong)
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        LongColBERTReranker(model=standin_model, top_k=2)


def test_filters_with_operators_as_chroma_users_write_them(retriever):
    docs = retriever.invoke("anything", k=5,
                            filter={"$or": [{"year": {"$gte": 2023}}, {"topic": "law"}]})
    assert {d.metadata["doc_id"] for d in docs} == {"python", "contract"}
    with pytest.raises(InvalidInputError, match="unknown filter operator"):
        retriever.invoke("anything", filter={"year": {"$between": [1, 2]}})


def test_split_chunks_keep_offsets_into_their_source(tmp_path, standin_path):
    source = "Preamble. " * 30 + DOCS["contract"]
    start = source.index("Employment")
    chunk = Document(page_content=source[start:], id="chunk-1",
                     metadata={"start_index": start, "source": "contract.txt", "doc_score": 1})
    retriever = LongColBERTRetriever.from_documents([chunk], tmp_path / "idx",
                                                    model=standin_path, k=1)
    doc = retriever.invoke("notice period")[0]
    meta = doc.metadata
    assert source[meta["start_index"]:meta["end_index"]] == doc.page_content  # into the source
    assert meta["original_doc_score"] == 1 and meta["original_start_index"] == start
