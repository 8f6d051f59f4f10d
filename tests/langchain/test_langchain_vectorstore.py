"""LongColBERTVectorStore: LangChain's standard VectorStore suite, ``index()`` with a
RecordManager, and the habits of vector-store users, on real indexes (stand-in model)."""

from __future__ import annotations

import warnings

import pytest
from langchain_core.documents import Document
from langchain_core.indexing import InMemoryRecordManager, index
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from langchain_longcolbert import LongColBERTRetriever, LongColBERTVectorStore
from longcolbert import Index, InvalidInputError


class TestLongColBERTVectorStoreStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path, standin_model):
        with warnings.catch_warnings():  # the suite deletes ids that are not there
            warnings.simplefilter("ignore", UserWarning)
            yield LongColBERTVectorStore(Index(tmp_path / "idx", model=standin_model))


DOCS = [
    Document(page_content="Rivers carry water to the sea; bridges cross them.",
             metadata={"source": "rivers.txt", "year": 2019}),
    Document(page_content="Bread needs flour, water, salt and yeast.",
             metadata={"source": "bread.txt", "year": 2021}),
    Document(page_content="Mars is the fourth planet and has two small moons.",
             metadata={"source": "mars.txt", "year": 2023}),
]

KEYS = {"source_id_key": "source", "key_encoder": "sha256"}


@pytest.fixture
def store(tmp_path, standin_model):
    return LongColBERTVectorStore.from_documents(DOCS, index_path=tmp_path / "idx",
                                                 model=standin_model)


def test_index_with_a_record_manager_adds_skips_and_cleans_up(store):
    manager = InMemoryRecordManager("longcolbert/test")
    manager.create_schema()
    first = index(DOCS[:2], manager, store, cleanup="incremental", **KEYS)
    assert (first["num_added"], first["num_skipped"], first["num_deleted"]) == (2, 0, 0)
    again = index(DOCS[:2], manager, store, cleanup="incremental", **KEYS)
    assert (again["num_added"], again["num_skipped"]) == (0, 2)  # unchanged: not re-encoded
    edited = Document(page_content="Rivers carry silt to the delta.", metadata=DOCS[0].metadata)
    changed = index([edited, DOCS[1]], manager, store, cleanup="incremental", **KEYS)
    assert (changed["num_added"], changed["num_deleted"], changed["num_skipped"]) == (1, 1, 1)
    texts = [d.page_content for d in store.similarity_search("silt delta river", k=10)]
    assert edited.page_content in texts and DOCS[0].page_content in texts  # from_documents' own
    full = index([DOCS[2]], manager, store, cleanup="full", **KEYS)
    assert full["num_added"] == 1 and full["num_deleted"] == 2
    left = {d.page_content for d in store.similarity_search("water", k=10)}
    assert DOCS[2].page_content in left and edited.page_content not in left


def test_scores_filters_and_whole_documents(store):
    found = store.similarity_search_with_score("which planet has two moons", k=3)
    assert found[0][0].page_content == DOCS[2].page_content  # the whole document
    assert found[0][0].metadata == DOCS[2].metadata  # the user's own metadata, nothing added
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    recent = store.similarity_search("water", k=3, filter={"year": {"$gte": 2021}})
    assert {d.metadata["source"] for d in recent} == {"bread.txt", "mars.txt"}
    assert store.embeddings is None


def test_as_retriever_and_the_passage_retriever_share_the_index(store):
    docs = store.as_retriever(search_kwargs={"k": 1}).invoke("two small moons")
    assert docs[0].metadata["source"] == "mars.txt"
    passages = store.as_passage_retriever(k=1).invoke("two small moons")
    assert isinstance(store.as_passage_retriever(), LongColBERTRetriever)
    assert passages[0].metadata["doc_id"] == docs[0].id and passages[0].metadata["highlights"]


async def test_async_search_and_delete(store):
    ids = [d.id for d in store.similarity_search("bread", k=3)]
    assert await store.aget_by_ids(ids[:1]) == store.get_by_ids(ids[:1])
    await store.adelete(ids[:1])
    assert ids[0] not in [d.id for d in await store.asimilarity_search("bread", k=3)]


def test_an_embeddings_object_or_a_missing_folder_is_a_clear_error(tmp_path, store):
    from langchain_core.embeddings import FakeEmbeddings

    with pytest.raises(ValueError, match="not an Embeddings object; pass embedding=None"):
        LongColBERTVectorStore.from_texts(["a"], FakeEmbeddings(size=4), index_path=tmp_path / "x")
    with pytest.raises(InvalidInputError, match="no longcolbert index at"):
        LongColBERTVectorStore(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()
    with pytest.raises(ValueError, match="unknown search option 'fetch_k'"):
        store.similarity_search("water", k=2, fetch_k=10)
    with pytest.raises(ValueError, match="needs the ids"):
        store.delete()


def test_the_retriever_and_the_store_work_on_a_qdrant_collection(standin_model):
    from longcolbert.qdrant.index import QdrantIndex

    index = QdrantIndex(":memory:", "docs", model=standin_model)
    store = LongColBERTVectorStore(index)
    store.add_documents(DOCS)
    assert store.similarity_search("two small moons", k=1)[0].metadata["source"] == "mars.txt"
    retriever = store.as_passage_retriever(k=1)
    found = retriever.invoke("two small moons")
    assert found[0].metadata["source"] == "mars.txt" and found[0].metadata["highlights"]
    retriever.delete([found[0].metadata["doc_id"]])
    assert "mars.txt" not in [d.metadata["source"] for d in retriever.invoke("moons")]
