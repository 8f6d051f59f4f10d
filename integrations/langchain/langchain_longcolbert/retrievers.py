"""LongColBERTRetriever: a LangChain retriever over a longcolbert index folder.

>>> from langchain_longcolbert import LongColBERTRetriever
>>> retriever = LongColBERTRetriever.from_texts(
...     ["The notice period is three months."], index_path="./idx")  # doctest: +SKIP
>>> retriever.invoke("notice period", k=1)[0].metadata["highlights"]  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterable, Sequence
from os import PathLike
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, model_validator

from langchain_longcolbert._writing import add_documents, delete_documents
from longcolbert import Hit, IndexBackend, Passage, open_index, passage_id
from longcolbert.defaults import SETTING_HELP
from longcolbert.encoding.model import DTYPE_HELP
from longcolbert.results import cited_passage

SEARCH_SETTINGS = ("hybrid", "reread", "candidates")  # the engine's search settings
_SEARCH_OPTIONS = ("k", "passages_per_document", "filter", *SEARCH_SETTINGS)
_MODEL_OPTIONS = ("model", "device", "dtype")  # how a path's model loads


def passage_document(hit: Hit, passage: Passage) -> Document:
    """One passage of a search hit as a LangChain ``Document``.

    ``metadata`` holds the document's own metadata plus ``doc_id``, ``doc_score``,
    ``passage_score``, ``start_index`` / ``end_index`` (offsets of the passage in
    the document), ``pages`` (PDFs) and ``highlights`` relative to ``page_content``.
    A document that was itself a chunk with a whole-number ``start_index`` (a
    splitter's ``add_start_index=True``) gets offsets into that chunk's source: its
    ``start_index`` plus the passage's (:func:`longcolbert.results.cited_passage`).
    Any key of the document's own that the retriever sets (the chunk's
    ``start_index`` too) is kept as ``original_<key>``.
    """
    metadata = cited_passage(hit.metadata, passage, {"doc_id": hit.id, "doc_score": hit.score})
    return Document(page_content=passage.text, id=passage_id(hit.id, passage), metadata=metadata)


def _model_options(values: dict[str, Any]) -> dict[str, Any]:
    """How the model of an index opened from a path loads: ``model``, ``device``, ``dtype``."""
    return {name: values[name] for name in _MODEL_OPTIONS if values.get(name) is not None}


class LongColBERTRetriever(BaseRetriever):
    """Retrieves the best passages of the best whole documents, with MaxSim highlights.

    Documents of up to 32k tokens are indexed whole (no chunking); each result is
    one passage of one document, with its offsets and the words that matched.

    Setup:
        ``pip install langchain-longcolbert``

    Instantiate:
        .. code-block:: python

            from langchain_longcolbert import LongColBERTRetriever

            retriever = LongColBERTRetriever(index="./my-index", k=4)
            fast = LongColBERTRetriever(index="./my-index", reread=False, device="cuda")

    Invoke:
        .. code-block:: python

            docs = retriever.invoke("notice period", k=3, filter={"topic": "law"})
            docs[0].metadata["highlights"]  # [{"start": 4, "end": 10, "score": 0.83}, ...]
    """

    index: IndexBackend
    """The longcolbert index (``Index``, ``QdrantIndex``), or the path of an existing index
    folder or a ``qdrant://HOST/COLLECTION`` location (``from_documents``
    and ``from_files`` create one)."""

    model: Any = Field(default=None, repr=False)
    """PyLate ColBERT hub id, local folder or loaded model, used when ``index`` is a
    path; by default the model the index was built with
    (``mixedbread-ai/mxbai-edge-colbert-v0-32m`` for a new one)."""

    k: int = Field(default=4, ge=1)
    """How many passages (``Document`` objects) to return."""

    passages_per_document: int = Field(default=1, ge=1)
    """At most this many passages from one document."""

    filter: dict[str, Any] | None = None
    """Metadata filter applied inside the search: ``{key: value}``, ``{key: [any, of]}``,
    operators (``{"year": {"$gte": 2020}}``, ``$ne $in $nin $gt $lt $contains``...) and
    ``$and`` / ``$or``; see ``longcolbert.filters``."""

    hybrid: bool | None = Field(default=None, description=SETTING_HELP["hybrid"])
    reread: bool | None = Field(default=None, description=SETTING_HELP["reread"])
    candidates: int | None = Field(default=None, ge=1, description=SETTING_HELP["candidates"])
    device: str | None = Field(default=None, description=SETTING_HELP["device"])
    dtype: str = Field(default="auto", description=DTYPE_HELP)

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")  # typos fail

    @model_validator(mode="before")
    @classmethod
    def _open_index(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(values.get("index"), (str, PathLike)):
            # opening a path never creates an index: a typo is an error, not an empty index
            values = {**values, "index": open_index(values["index"], **_model_options(values))}
        return values

    # -- building ----------------------------------------------------------------------

    @classmethod
    def from_documents(
        cls,
        documents: Sequence[Document],
        index_path: str | PathLike,
        *,
        model: Any = None,
        ids: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> LongColBERTRetriever:
        """Index LangChain documents whole in ``index_path`` and return a retriever over it;
        ``kwargs`` are the retriever's fields (``k``, ``reread``, ``device``...).

        >>> LongColBERTRetriever.from_documents(docs, "./idx", k=4)  # doctest: +SKIP
        """
        index = open_index(index_path, create=True, **_model_options({**kwargs, "model": model}))
        retriever = cls(index=index, model=model, **kwargs)
        retriever.add_documents(documents, ids=ids)
        return retriever

    @classmethod
    def from_texts(
        cls,
        texts: Sequence[str],
        index_path: str | PathLike,
        *,
        metadatas: Sequence[dict[str, Any]] | None = None,
        ids: Sequence[str] | None = None,
        model: Any = None,
        **kwargs: Any,
    ) -> LongColBERTRetriever:
        """Index plain texts whole in ``index_path`` and return a retriever over it."""
        if isinstance(texts, str):
            raise ValueError("from_texts() takes a list of texts; wrap the text in a list")
        metadatas = metadatas or [{} for _ in texts]
        if len(metadatas) != len(texts):
            raise ValueError("texts and metadatas must have the same length")
        documents = [Document(page_content=t, metadata=dict(m)) for t, m in zip(texts, metadatas)]
        return cls.from_documents(documents, index_path, model=model, ids=ids, **kwargs)

    @classmethod
    def from_files(
        cls,
        paths: Iterable[str | PathLike],
        index_path: str | PathLike,
        *,
        model: Any = None,
        **kwargs: Any,
    ) -> LongColBERTRetriever:
        """Index files and folders (text, Markdown, PDF with page numbers...) in ``index_path``."""
        index = open_index(index_path, create=True, **_model_options({**kwargs, "model": model}))
        retriever = cls(index=index, model=model, **kwargs)
        retriever.add_files(paths)
        return retriever

    def add_documents(
        self, documents: Sequence[Document], *, ids: Sequence[str] | None = None, **kwargs: Any
    ) -> list[str]:
        """Add (or replace, by id) whole documents; returns the ids indexed.

        Ids come from ``ids``, else each ``Document.id``, else a new UUID. A blank
        document (PDF loaders emit empty pages) is skipped with one warning naming its
        position and source; the others are indexed.
        """
        return add_documents(self.index, documents, ids, **kwargs)

    def add_files(self, paths: Iterable[str | PathLike]) -> list[str]:
        """Index files and folders; a file that cannot be read is a warning, the rest land."""
        ids, problems = self.index.add_files(paths)
        for problem in problems:
            warnings.warn(str(problem), stacklevel=2)
        return ids

    def delete(self, ids: Sequence[str]) -> None:
        """Delete whole documents by id (the ``doc_id`` of their passages). As LangChain's
        vector stores do, an id that is not there is no error (a warning names it)."""
        delete_documents(self.index, ids)

    # -- retrieving --------------------------------------------------------------------

    def _search(self, query: str, options: dict[str, Any]) -> list[Document]:
        unknown = sorted(set(options) - set(_SEARCH_OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown search option {unknown[0]!r}; use one of {', '.join(_SEARCH_OPTIONS)}"
            )
        def option(name: str) -> Any:
            value = options.get(name)
            return getattr(self, name) if value is None else value

        found = self.index.search_passages(
            query,
            k=option("k"),
            per_document=option("passages_per_document"),
            filter=option("filter"),
            **{name: option(name) for name in SEARCH_SETTINGS},
        )
        return [passage_document(hit, passage) for hit, passage in found]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return self._search(query, kwargs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return await asyncio.to_thread(self._search, query, kwargs)
