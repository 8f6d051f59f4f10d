"""LongColBERTIndex: one LlamaIndex index object (query and chat engines, retriever,
insert, delete_ref_doc, update_ref_doc, persistence), passages and highlights intact."""

from __future__ import annotations

import pytest
from llama_index.core import Document
from llama_index.core.chat_engine.types import ChatMode
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
from llama_index.retrievers.longcolbert import LongColBERTIndex, LongColBERTRetriever

CONTRACT = ("Either party may terminate this agreement. The notice period is three months, "
            "given in writing. Rent is due on the first day of each month.")
RECIPE = "Bake the bread at 220 degrees for forty minutes, then let it rest."
QUERY = "How long is the notice period?"


def documents() -> list[Document]:
    return [Document(doc_id="contract", text=CONTRACT, metadata={"topic": "law"}),
            Document(doc_id="recipe", text=RECIPE, metadata={"topic": "food"})]


@pytest.fixture
def index(tmp_path, standin_model) -> LongColBERTIndex:
    return LongColBERTIndex.from_documents(documents(), index_path=tmp_path / "li",
                                           model=standin_model, similarity_top_k=2)


def test_query_engine_answers_from_passages_with_highlights(index):
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=1, response_mode="compact")
    response = engine.query(QUERY)
    assert len(response.source_nodes) == 1  # the retriever setting reached the retriever
    node = response.source_nodes[0].node
    assert node.ref_doc_id == "contract"
    assert CONTRACT[node.start_char_idx:node.end_char_idx] == node.text
    marked = {node.text[h["start"]:h["end"]] for h in node.metadata["highlights"]}
    assert {"notice", "period"} <= marked
    assert 0 < response.source_nodes[0].score <= 1


def test_retriever_keeps_filters_and_the_index_defaults(index):
    retriever = index.as_retriever(filters=MetadataFilters(
        filters=[MetadataFilter(key="topic", value="food")]))
    assert isinstance(retriever, LongColBERTRetriever) and retriever.similarity_top_k == 2
    assert [n.node.ref_doc_id for n in retriever.retrieve(QUERY)] == ["recipe"]


def test_chat_engine_with_context(index):
    chat = index.as_chat_engine(chat_mode=ChatMode.CONTEXT, llm=MockLLM())
    reply = chat.chat(QUERY)
    assert reply.source_nodes and reply.source_nodes[0].node.ref_doc_id == "contract"


def test_insert_update_delete_and_reopen(index, tmp_path, standin_model):
    index.insert(Document(doc_id="tides", text="The moon pulls the tides twice a day."))
    assert "tides" in index.index.ids()
    index.update_ref_doc(Document(doc_id="recipe", text="Knead the dough for ten minutes."))
    assert index.index.get("recipe").text == "Knead the dough for ten minutes."
    index.delete_ref_doc("tides")
    with pytest.warns(UserWarning, match="nothing to delete"):
        index.delete_ref_doc("tides")
    again = LongColBERTIndex.from_persist_dir(tmp_path / "li", model=standin_model)
    assert sorted(again.index.ids()) == ["contract", "recipe"]
    assert sorted(again.ref_doc_info) == ["contract", "recipe"]


def test_a_splitter_s_chunks_point_into_their_source_and_update_replaces_them(
        tmp_path, standin_model):
    splitter = SentenceSplitter(chunk_size=24, chunk_overlap=0)
    index = LongColBERTIndex.from_documents(
        [Document(doc_id="contract", text=CONTRACT)], index_path=tmp_path / "chunks",
        model=standin_model, transformations=[splitter])
    chunks = index.ref_doc_info["contract"].node_ids
    assert len(chunks) > 1 and "contract" not in chunks
    node = index.as_retriever(similarity_top_k=1).retrieve(QUERY)[0].node
    assert node.ref_doc_id == "contract"
    assert CONTRACT[node.start_char_idx:node.end_char_idx] == node.text
    index.update_ref_doc(Document(doc_id="contract", text="Payment is due within 30 days."))
    assert not set(chunks) & set(index.index.ids())  # the old chunks are gone
    assert index.ref_doc_info["contract"].node_ids


def test_refused_documents_leave_no_folder_and_bad_settings_fail_early(tmp_path, standin_model):
    with pytest.raises(TypeError):
        LongColBERTIndex.from_documents([object()], index_path=tmp_path / "no",  # type: ignore[list-item]
                                        model=standin_model)
    assert not (tmp_path / "no").exists()
    with pytest.raises(TypeError, match="unknown settings"):
        LongColBERTIndex(tmp_path / "no", similarity_topk=3)
