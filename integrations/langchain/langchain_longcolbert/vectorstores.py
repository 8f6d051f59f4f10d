"""LongColBERTVectorStore: LangChain's ``VectorStore`` interface over a longcolbert index.

Whole documents in, whole documents out, ranked by the same whole-document ColBERT
search as the retriever: what LangChain's ``index()`` with a ``RecordManager``
(incremental ingestion, cleanup), ``get_by_ids``, ``delete`` and ``as_retriever()``
expect. For the best *passages* with highlights, open ``LongColBERTRetriever`` on
the same index (``store.as_passage_retriever()``).

>>> from langchain_longcolbert import LongColBERTVectorStore
>>> store = LongColBERTVectorStore.from_texts(["Rivers reach the sea."], index_path="./idx")  # doctest: +SKIP
>>> store.similarity_search_with_score("where do rivers go", k=1)  # doctest: +SKIP
[(Document(id='...', page_content='Rivers reach the sea.'), 21.7)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from langchain_longcolbert._writing import add_documents, delete_documents
from langchain_longcolbert.retrievers import SEARCH_SETTINGS, LongColBERTRetriever
from longcolbert import Hit, IndexBackend, open_index

_NO_EMBEDDINGS = (
    "longcolbert encodes with its own ColBERT model, not an Embeddings object; "
    "pass embedding=None and name the model with model=..."
)


class LongColBERTVectorStore(VectorStore):
    """A LangChain vector store whose documents are indexed whole by longcolbert.

    ``similarity_search`` returns the stored documents (their own text, metadata and
    id), best first; the score of ``similarity_search_with_score`` is longcolbert's
    document score (a MaxSim sum over the query's tokens: higher is better, not a
    0-1 relevance). ``filter`` takes longcolbert's metadata filters
    (``{"year": {"$gte": 2020}}``, ``$in``, ``$and``...; see ``longcolbert.filters``).

    There is no ``Embeddings`` object: the ColBERT model is inside the index
    (``model=`` when opening or creating one), so ``embeddings`` is ``None``.
    Not supported: max marginal relevance and relevance scores on a 0-1 scale.

    ``hybrid``, ``reread`` and ``candidates`` are the search settings of every search
    (None: the index's own; a search may name its own too); ``device`` and ``dtype``
    place the model of an index opened from a path (see ``LongColBERTRetriever``).

    >>> store = LongColBERTVectorStore("./idx")  # an existing index  # doctest: +SKIP
    >>> store.as_retriever(search_kwargs={"k": 2}).invoke("notice period")  # doctest: +SKIP
    """

    def __init__(self, index: IndexBackend | str | PathLike, *, model: Any = None,
                 device: str | None = None, dtype: str = "auto", hybrid: bool | None = None,
                 reread: bool | None = None, candidates: int | None = None) -> None:
        # opening a path never creates an index: a typo is an error, not an empty index
        self.index = (index if isinstance(index, IndexBackend)  # a folder or qdrant://...
                      else open_index(index, model=model, device=device, dtype=dtype))
        self.search_settings = {"hybrid": hybrid, "reread": reread, "candidates": candidates}
        self.index.settings(**self.search_settings)  # a bad setting fails here

    # -- building ----------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        index_path: str | PathLike | None = None,
        model: Any = None,
        **kwargs: Any,
    ) -> LongColBERTVectorStore:
        """Index ``texts`` whole in ``index_path`` (created if new) and return the store.

        >>> LongColBERTVectorStore.from_texts(["a", "b"], index_path="./idx")  # doctest: +SKIP
        """
        if isinstance(texts, str):
            raise ValueError("from_texts() takes a list of texts; wrap the text in a list")
        metadatas = list(metadatas) if metadatas is not None else [{} for _ in texts]
        if len(metadatas) != len(texts):
            raise ValueError("texts and metadatas must have the same length")
        documents = [Document(page_content=t, metadata=dict(m)) for t, m in zip(texts, metadatas)]
        return cls.from_documents(documents, embedding, ids=ids, index_path=index_path,
                                  model=model, **kwargs)

    @classmethod
    def from_documents(
        cls,
        documents: list[Document],
        embedding: Embeddings | None = None,
        *,
        ids: list[str] | None = None,
        index_path: str | PathLike | None = None,
        model: Any = None,
        **kwargs: Any,
    ) -> LongColBERTVectorStore:
        """Index ``documents`` whole in ``index_path`` (created if new) and return the store.

        >>> LongColBERTVectorStore.from_documents(docs, index_path="./idx")  # doctest: +SKIP
        """
        if embedding is not None:
            raise ValueError(_NO_EMBEDDINGS)
        if index_path is None:
            raise ValueError("from_documents() needs index_path=, the folder of the index")
        placement = {key: kwargs.pop(key) for key in ("device", "dtype") if key in kwargs}
        settings = {key: kwargs.pop(key) for key in SEARCH_SETTINGS if key in kwargs}
        store = cls(open_index(index_path, create=True, model=model, **placement), **settings)
        store.add_documents(documents, ids=ids, **kwargs)
        return store

    # -- writing -----------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Add (or replace, by id) whole texts; returns the ids indexed."""
        texts = list(texts)
        metadatas = metadatas if metadatas is not None else [{} for _ in texts]
        if len(metadatas) != len(texts):
            raise ValueError("texts and metadatas must have the same length")
        documents = [Document(page_content=t, metadata=dict(m)) for t, m in zip(texts, metadatas)]
        return self.add_documents(documents, ids=ids, **kwargs)

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Add (or replace, by id) whole documents; returns the ids indexed.

        Ids come from ``ids=``, else each ``Document.id``, else a new UUID. A blank
        document is skipped with one warning; the others are indexed. ``batch_size``
        (which LangChain's ``index()`` passes) is accepted and has no effect: longcolbert
        batches by tokens.
        """
        kwargs.pop("batch_size", None)
        ids = kwargs.pop("ids", None)
        options = {key: kwargs.pop(key) for key in ("show_progress",) if key in kwargs}
        if kwargs:
            raise ValueError(f"unknown option {sorted(kwargs)[0]!r} for add_documents; "
                             "use ids= or show_progress=")
        return add_documents(self.index, documents, ids, **options)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete whole documents by id; an id that is not there is a warning, not an error."""
        if ids is None:
            raise ValueError("delete() needs the ids of the documents to delete")
        delete_documents(self.index, ids)
        return True

    # -- reading -----------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents with these ids, in that order; missing ids are left out."""
        return [Document(id=doc.id, page_content=doc.text, metadata=doc.metadata)
                for doc in self.index.get_many(list(ids))]

    def _hits(self, query: str, k: int, filter: dict[str, Any] | None, **kwargs: Any
              ) -> list[tuple[Document, Hit]]:
        unknown = sorted(set(kwargs) - set(SEARCH_SETTINGS))
        if unknown:
            raise ValueError(f"unknown search option {unknown[0]!r}; use k=, filter=, "
                             f"{'=, '.join(SEARCH_SETTINGS)}=")
        settings = {**self.search_settings,
                    **{key: value for key, value in kwargs.items() if value is not None}}
        hits = self.index.search(query, k=k, passages=0, filter=filter, **settings)
        stored = {doc.id: doc for doc in self.index.get_many([hit.id for hit in hits])}
        return [
            (Document(id=hit.id, page_content=stored[hit.id].text,
                      metadata=stored[hit.id].metadata), hit)
            for hit in hits if hit.id in stored  # a document deleted meanwhile is left out
        ]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` best whole documents for ``query`` with their document scores (MaxSim
        sums); ``hybrid``, ``reread`` and ``candidates`` may be given for this search."""
        return [(doc, hit.score) for doc, hit in self._hits(query, k, filter, **kwargs)]

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` best whole documents with their relevance in [0, 1]
        (:attr:`longcolbert.Hit.relevance`): what ``similarity_search_with_relevance_scores``
        and ``as_retriever(search_type="similarity_score_threshold")`` threshold."""
        filter = kwargs.pop("filter", None)
        return [(doc, float(hit.relevance or 0.0))
                for doc, hit in self._hits(query, k, filter, **kwargs)]

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20,
                                      lambda_mult: float = 0.5, **kwargs: Any) -> list[Document]:
        """Not offered: MMR needs one vector per document, and a document here is many
        token vectors. Say so in one line, with what to use instead."""
        raise NotImplementedError(
            "longcolbert has no single vector per document for maximal marginal relevance "
            "(search_type='mmr'); use search_type='similarity' (each whole document once, "
            "best first) or as_passage_retriever(passages_per_document=1) for one passage "
            "from each of several documents")

    def similarity_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` best whole documents for ``query``, best first."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    def as_passage_retriever(self, **kwargs: Any) -> LongColBERTRetriever:
        """A ``LongColBERTRetriever`` on this index: the best passages, with highlights.

        >>> store.as_passage_retriever(k=4).invoke("notice period")  # doctest: +SKIP
        """
        return LongColBERTRetriever(index=self.index, **{**self.search_settings, **kwargs})
