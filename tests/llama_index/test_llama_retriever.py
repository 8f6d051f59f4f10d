"""LlamaIndex LongColBERTRetriever: nodes, offsets, relationships, filters, persistence, async."""

from __future__ import annotations

import pytest
from llama_index.core import Document, SimpleDirectoryReader
from llama_index.core.schema import NodeRelationship, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from llama_index.retrievers.longcolbert import LongColBERTRetriever

from longcolbert import Index, InvalidInputError
from longcolbert.documents.loaders import load_paths

from corpus import DOCS, REAL_PDF, needs_pdf
from loop_check import run_counting_ticks
from numerics import assert_same_within

QUERY = "what is the notice period for termination"


@pytest.fixture
def shared_index(corpus_index_path, standin_model) -> Index:
    return Index(corpus_index_path, model=standin_model, create=False)


def test_nodes_are_passages_with_exact_offsets_and_a_source(shared_index):
    retriever = LongColBERTRetriever(shared_index, similarity_top_k=3)
    results = retriever.retrieve(QUERY)
    assert len(results) == 3
    assert results[0].node.ref_doc_id == "contract"
    for hit in results:
        node = hit.node
        assert isinstance(node, TextNode)
        source = shared_index.get(node.ref_doc_id).text
        assert source[node.start_char_idx : node.end_char_idx] == node.text
        assert node.relationships[NodeRelationship.SOURCE].node_id == node.ref_doc_id
        assert node.node_id == f"{node.ref_doc_id}#{node.start_char_idx}-{node.end_char_idx}"
        assert hit.score == node.metadata["passage_relevance"]  # in [0, 1]
        assert 0 < hit.score < 1 and node.metadata["passage_score"] > hit.score
        for h in node.metadata["highlights"]:
            assert 0 <= h["start"] < h["end"] <= len(node.text)
        # scores and highlights stay out of what the LLM reads
        assert "highlights" not in node.get_content(metadata_mode="llm")
    top = results[0].node
    assert top.metadata["topic"] == "law" and top.metadata["year"] == 2021
    words = {top.text[h["start"] : h["end"]] for h in top.metadata["highlights"]}
    assert {"notice", "period", "termination"} <= words
    doc_scores = [r.node.metadata["doc_score"] for r in results]
    assert doc_scores == sorted(doc_scores, reverse=True)


def test_top_k_and_passages_per_document(shared_index):
    assert len(LongColBERTRetriever(shared_index, similarity_top_k=1).retrieve(QUERY)) == 1
    five = LongColBERTRetriever(shared_index, similarity_top_k=5).retrieve(QUERY)
    assert len({r.node.ref_doc_id for r in five}) == 5


@needs_pdf
def test_passages_per_document_on_a_real_pdf(shared_index):
    retriever = LongColBERTRetriever(
        shared_index, similarity_top_k=3, passages_per_document=3,
        filters=MetadataFilters(filters=[MetadataFilter(key="file_type", value="pdf")]),
    )
    nodes = [r.node for r in retriever.retrieve("MiKTeX options maintenance settings admin")]
    assert len(nodes) == 3 and {n.ref_doc_id for n in nodes} == {REAL_PDF.name}
    assert 3 in nodes[0].metadata["pages"]


def test_metadata_filters_translate_to_the_in_search_filter(shared_index):
    def ids(filters: MetadataFilters) -> set[str]:
        retriever = LongColBERTRetriever(shared_index, similarity_top_k=5, filters=filters)
        return {r.node.ref_doc_id for r in retriever.retrieve(QUERY)}

    eq = MetadataFilter(key="topic", value="food")
    assert ids(MetadataFilters(filters=[eq])) == {"recipe"}
    within = MetadataFilter(key="topic", value=["food", "home"], operator=FilterOperator.IN)
    assert ids(MetadataFilters(filters=[within])) == {"recipe", "garden"}
    year = MetadataFilter(key="year", value=2021)
    assert ids(MetadataFilters(filters=[year])) == {"contract", "astronomy"}
    both = MetadataFilters(filters=[year, MetadataFilter(key="topic", value="science")])
    assert ids(both) == {"astronomy"}
    either = MetadataFilters(
        filters=[eq, MetadataFilter(key="topic", value="law")], condition=FilterCondition.OR
    )
    assert ids(either) == {"recipe", "contract"}
    after = MetadataFilter(key="year", value=2020, operator=FilterOperator.GT)
    assert ids(MetadataFilters(filters=[after])) == {"contract", "astronomy", "python"}
    not_food = MetadataFilter(key="topic", value="food", operator=FilterOperator.NE)
    nested = MetadataFilters(filters=[not_food, MetadataFilters(
        filters=[year, MetadataFilter(key="year", value=2023)], condition=FilterCondition.OR)])
    assert ids(nested) == {"contract", "astronomy", "python"}
    assert ids(MetadataFilters(filters=[eq, year], condition="or")) == {
        "recipe", "contract", "astronomy"}
    with pytest.raises(ValueError, match="operator 'text_match' on 'topic' is not supported"):
        LongColBERTRetriever(
            shared_index,
            filters=MetadataFilters(
                filters=[MetadataFilter(key="topic", value="l", operator=FilterOperator.TEXT_MATCH)]
            ),
        )


async def test_aretrieve_matches_retrieve_without_blocking_the_loop(shared_index):
    retriever = LongColBERTRetriever(shared_index, similarity_top_k=3)
    expected = retriever.retrieve(QUERY)
    results, ticks = await run_counting_ticks(retriever.aretrieve(QUERY))
    assert_same_within([(r.node.node_id, r.score) for r in results],
                       [(r.node.node_id, r.score) for r in expected])
    assert ticks >= 3


def test_reader_documents_persist_insert_and_delete(tmp_path, standin_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for doc_id, text in DOCS.items():
        (folder / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    documents = SimpleDirectoryReader(str(folder), filename_as_id=True).load_data()
    retriever = LongColBERTRetriever.from_documents(
        documents, tmp_path / "idx", model=standin_path, similarity_top_k=2
    )
    top = retriever.retrieve("bake bread dough")[0].node
    assert top.metadata["file_name"] == "recipe.txt"
    recipe_id = top.ref_doc_id
    assert recipe_id == next(d.doc_id for d in documents if d.metadata["file_name"] == "recipe.txt")

    reopened = LongColBERTRetriever.from_persist_dir(tmp_path / "idx", model=standin_path,
                                                     similarity_top_k=2)
    assert [r.node.node_id for r in reopened.retrieve("bake bread dough")] == [
        r.node.node_id for r in retriever.retrieve("bake bread dough")
    ]
    reopened.insert(Document(text="Sourdough needs a starter fed with flour.", doc_id="sourdough"))
    assert "sourdough" in {r.node.ref_doc_id for r in reopened.retrieve("bread starter flour")}
    reopened.delete_ref_doc(recipe_id)
    assert recipe_id not in {r.node.ref_doc_id for r in reopened.retrieve("bake bread dough")}
    with pytest.warns(UserWarning, match="no document with id"):
        reopened.delete_ref_doc(recipe_id)  # as LlamaIndex's indexes: no error
    with pytest.raises(InvalidInputError, match="no longcolbert index"):
        LongColBERTRetriever.from_persist_dir(tmp_path / "missing")


@needs_pdf
def test_engine_pdf_loader_documents_give_pages(tmp_path, standin_model):
    documents, problems = load_paths([REAL_PDF])
    assert problems == []
    retriever = LongColBERTRetriever.from_documents(documents, tmp_path / "idx", model=standin_model)
    node = retriever.retrieve("MiKTeX options maintenance settings admin")[0].node
    assert node.ref_doc_id == REAL_PDF.name and 3 in node.metadata["pages"]
    text = retriever.index.get(REAL_PDF.name).text
    assert text[node.start_char_idx : node.end_char_idx] == node.text


def test_display_renders_source_nodes_with_their_highlights(shared_index):
    from longcolbert import display

    from html_elements import Elements

    results = LongColBERTRetriever(shared_index, similarity_top_k=2).retrieve(
        "what is the notice period for termination")
    parser = Elements()
    parser.feed(display(results)._repr_html_())
    marks = [text for tag, _, text in parser.done if tag == "mark"]
    expected = [r.node.text[h["start"]:h["end"]] for r in results
                for h in r.node.metadata["highlights"]]
    assert marks == expected and "notice" in marks
    ids = [text for tag, attrs, text in parser.done if attrs.get("class") == "lc-id"]
    assert ids == [r.node.ref_doc_id for r in results]


def test_a_path_that_is_not_an_index_is_an_error_not_an_empty_index(tmp_path):
    with pytest.raises(InvalidInputError, match="no longcolbert index"):
        LongColBERTRetriever(str(tmp_path / "typo"))
    assert not (tmp_path / "typo").exists()


def test_the_source_documents_metadata_exclusions_hold_on_its_passages(tmp_path, standin_path):
    from llama_index.core.schema import MetadataMode

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "contract.txt").write_text(DOCS["contract"], encoding="utf-8")
    documents = SimpleDirectoryReader(str(folder)).load_data()
    assert "file_size" in documents[0].excluded_llm_metadata_keys  # what the reader sets
    retriever = LongColBERTRetriever.from_documents(documents, tmp_path / "idx",
                                                    model=standin_path, similarity_top_k=1)
    node = retriever.retrieve("notice period")[0].node
    llm_view = node.get_content(metadata_mode=MetadataMode.LLM)
    assert "file_size" not in llm_view and "creation_date" not in llm_view
    assert "file_path:" in llm_view and "highlights" not in llm_view  # as the reader chose
    assert not any(key.startswith("_excluded") for key in node.metadata)


def test_a_documents_own_keys_that_the_retriever_sets_are_kept(tmp_path, standin_path):
    retriever = LongColBERTRetriever.from_documents(
        [Document(doc_id="a", text=DOCS["contract"], metadata={"doc_score": "A+", "x": 1})],
        tmp_path / "idx", model=standin_path)
    metadata = retriever.retrieve("notice period")[0].node.metadata
    assert metadata["original_doc_score"] == "A+" and isinstance(metadata["doc_score"], float)
    assert metadata["x"] == 1


def test_chunks_from_an_ingestion_pipeline_cite_their_source_document(tmp_path, standin_path):
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter

    filler = " ".join(f"Clause {i} concerns the office plants." for i in range(60))
    source = Document(doc_id="handbook", text=f"{filler} {DOCS['contract']} {filler}")
    chunks = IngestionPipeline(transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=8)]).run(
        documents=[source])
    assert len(chunks) > 3 and chunks[0].ref_doc_id == "handbook"
    with pytest.raises(TypeError, match="cannot index a str"):  # refused before any folder
        LongColBERTRetriever.from_documents([*chunks, "not a node"], tmp_path / "refused",
                                            model=standin_path)
    assert not (tmp_path / "refused").exists()
    retriever = LongColBERTRetriever.from_documents(chunks, tmp_path / "idx", model=standin_path,
                                                    similarity_top_k=3)
    retriever.insert_nodes([TextNode(id_="note", text="A whole note about tea.")])
    nodes = retriever.retrieve("what is the notice period for termination")
    assert "notice period" in nodes[0].node.text
    for found in nodes:
        node = found.node
        if node.ref_doc_id == "note":
            continue
        assert node.ref_doc_id == "handbook"  # the source, not the chunk
        assert source.text[node.start_char_idx:node.end_char_idx] == node.text
        assert not {"_ref_doc_id", "_start_char_idx"} & set(node.metadata)
    retriever.delete_ref_doc("handbook")  # every chunk of it
    assert retriever.index.ids() == ["note"]


def test_a_qdrant_collection_serves_the_retriever(standin_model):
    from longcolbert.qdrant.index import QdrantIndex

    index = QdrantIndex(":memory:", "docs", model=standin_model)
    index.add(list(DOCS.values()), ids=list(DOCS))
    retriever = LongColBERTRetriever(index, similarity_top_k=1)
    node = retriever.retrieve(QUERY)[0].node
    assert node.ref_doc_id == "contract" and node.metadata["highlights"]
    retriever.delete_ref_doc("contract")
    assert retriever.retrieve(QUERY)[0].node.ref_doc_id != "contract"
