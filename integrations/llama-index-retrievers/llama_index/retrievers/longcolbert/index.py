"""LongColBERTIndex: a longcolbert index folder as one LlamaIndex index object.

``as_retriever()``, ``as_query_engine()``, ``as_chat_engine()``, ``insert``,
``delete_ref_doc`` and ``update_ref_doc`` work as on any LlamaIndex index; the
folder is the persistence (every change is on disk when the call returns), so
``LongColBERTIndex.from_persist_dir(path)`` reopens it.

Why an index and not a vector store: ``VectorStoreIndex.from_vector_store`` embeds
nodes and queries with its own single-vector ``embed_model``, while ColBERT scores
every token of a whole document inside the index; as ``ColbertIndex`` does, this
index holds the model itself and needs no ``embed_model``.

>>> from llama_index.core import Document
>>> index = LongColBERTIndex.from_documents(
...     [Document(text="The notice period is three months.", doc_id="contract")],
...     index_path="./idx")                                       # doctest: +SKIP
>>> index.as_query_engine(similarity_top_k=2).query("notice period?")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import inspect
from os import PathLike
from typing import Any, Sequence

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.data_structs.data_structs import IndexDict
from llama_index.core.indices.managed.base import BaseManagedIndex
from llama_index.core.ingestion import run_transformations
from llama_index.core.schema import BaseNode, Document, TransformComponent
from llama_index.core.storage.docstore.types import RefDocInfo
from llama_index.retrievers.longcolbert.base import (
    SOURCE_ID_KEY,
    LongColBERTRetriever,
    _engine_document,
    delete_ref_doc,
    ref_doc_ids,
)

from longcolbert import Document as EngineDocument
from longcolbert import IndexBackend, open_index

#: The retriever's own settings: ``as_retriever`` and ``as_query_engine`` take these,
#: and leave every other keyword to the query or chat engine (as LlamaIndex's own do).
RETRIEVER_SETTINGS = frozenset(
    name for name in inspect.signature(LongColBERTRetriever.__init__).parameters
    if name not in {"self", "index", "model", "device", "dtype"})


class LongColBERTIndex(BaseManagedIndex):
    """A longcolbert index (folder, ``qdrant://`` URL or open index) as a LlamaIndex index.

    Documents go in whole, each as one document (no splitter runs unless you pass
    ``transformations``: a splitter's nodes are indexed as they are, their passages
    pointing into the source document). Retrieval returns passages of the best
    documents with highlights and exact offsets (:class:`LongColBERTRetriever`).

    Args:
        index: an open longcolbert index, or the path / ``qdrant://`` URL of an existing
            one (``from_documents`` creates one).
        model, device, dtype: the model of a path's index (by default the one it was
            built with).
        transformations: run on every inserted document first (none by default).
        retriever_settings: defaults for :meth:`as_retriever` (``similarity_top_k``,
            ``passages_per_document``, ``filters``, ``hybrid``, ``reread``, ``candidates``).
    """

    def __init__(
        self,
        index: IndexBackend | str | PathLike,
        *,
        model: Any = None,
        device: str | None = None,
        dtype: str = "auto",
        transformations: list[TransformComponent] | None = None,
        show_progress: bool = False,
        callback_manager: CallbackManager | None = None,
        **retriever_settings: Any,
    ) -> None:
        unknown = sorted(set(retriever_settings) - RETRIEVER_SETTINGS)
        if unknown:
            raise TypeError(f"LongColBERTIndex got unknown settings {unknown}; it takes "
                            f"the retriever's: {sorted(RETRIEVER_SETTINGS)}")
        self.index = index if isinstance(index, IndexBackend) else open_index(
            index, model=model, device=device, dtype=dtype)
        self.retriever_settings = retriever_settings
        LongColBERTRetriever(self.index, **retriever_settings)  # a bad setting fails here
        self._explicit_transformations = list(transformations or [])
        super().__init__(index_struct=IndexDict(), show_progress=show_progress,
                         callback_manager=callback_manager,
                         transformations=self._explicit_transformations)

    @classmethod
    def from_documents(  # type: ignore[override]
        cls,
        documents: Sequence[BaseNode | EngineDocument],
        index_path: str | PathLike | None = None,
        *,
        model: Any = None,
        device: str | None = None,
        dtype: str = "auto",
        transformations: list[TransformComponent] | None = None,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> LongColBERTIndex:
        """Index whole documents in ``index_path`` (created, or added to) and return the
        index; ``kwargs`` are the retriever's defaults (``similarity_top_k``...)."""
        if index_path is None:
            raise TypeError("LongColBERTIndex.from_documents needs index_path=, the folder "
                            "(or qdrant:// URL) that keeps the index")
        nodes = _transformed(list(documents), transformations, show_progress)
        converted = [_engine_document(node) for node in nodes]  # refused: no folder is made
        backend = open_index(index_path, create=True, model=model, device=device, dtype=dtype)
        index = cls(backend, transformations=transformations, show_progress=show_progress,
                    **kwargs)
        index.index.add_documents(converted, show_progress=show_progress)
        return index

    @classmethod
    def from_persist_dir(cls, persist_dir: str | PathLike, **kwargs: Any) -> LongColBERTIndex:
        """Open an existing index folder (an error if there is none)."""
        return cls(persist_dir, **kwargs)

    def as_retriever(self, **kwargs: Any) -> BaseRetriever:
        """A :class:`LongColBERTRetriever` over this index; the retriever's settings in
        ``kwargs`` override the index's defaults, other keywords are for the engines."""
        settings = {k: v for k, v in kwargs.items() if k in RETRIEVER_SETTINGS}
        if "callback_manager" not in settings:
            settings["callback_manager"] = self._callback_manager
        return LongColBERTRetriever(self.index, **{**self.retriever_settings, **settings})

    def insert(self, document: Document, **insert_kwargs: Any) -> None:
        """Add (or replace, by ``doc_id``) one whole document."""
        self._add_document(document)

    def _add_document(self, document: Document) -> list[str]:
        """Add one document (its nodes, after the transformations); their ids."""
        with self._callback_manager.as_trace("insert"):
            return self._add(_transformed([document], self._explicit_transformations,
                                          self._show_progress))

    def insert_nodes(self, nodes: Sequence[BaseNode], **insert_kwargs: Any) -> None:
        """Add nodes: whole documents, or a splitter's chunks (passages point into their
        source document). The index folder keeps them; no in-memory docstore copy."""
        with self._callback_manager.as_trace("insert_nodes"):
            self._insert(nodes)

    async def ainsert_nodes(self, nodes: Sequence[BaseNode], **insert_kwargs: Any) -> None:
        await asyncio.to_thread(self.insert_nodes, nodes)

    def _insert(self, nodes: Sequence[BaseNode], **insert_kwargs: Any) -> None:
        self._add(nodes)

    def _add(self, nodes: Sequence[BaseNode]) -> list[str]:
        return self.index.add_documents([_engine_document(node) for node in nodes],
                                        show_progress=self._show_progress)

    def delete_ref_doc(self, ref_doc_id: str, delete_from_docstore: bool = False,
                       **delete_kwargs: Any) -> None:
        """Delete a document and every chunk of it; an id that is not there warns."""
        delete_ref_doc(self.index, ref_doc_id, stacklevel=3)

    def update_ref_doc(self, document: Document, **update_kwargs: Any) -> None:
        """Replace a document (by ``doc_id``) with this version: the new one is added
        first, then what is left of the old one (its earlier chunks) deleted, so a
        search never finds neither."""
        before = ref_doc_ids(self.index, document.id_)
        stale = sorted(set(before) - set(self._add_document(document)))
        if stale:
            self.index.delete(stale)

    @property
    def ref_doc_info(self) -> dict[str, RefDocInfo]:
        """Each source document's id -> the ids stored for it (the document itself, or
        the chunks inserted as nodes) and the metadata of the first."""
        info: dict[str, RefDocInfo] = {}
        for document in self.index.get_many(self.index.ids()):
            source = document.metadata.get(SOURCE_ID_KEY)
            ref = source if isinstance(source, str) else document.id
            entry = info.setdefault(ref, RefDocInfo(node_ids=[], metadata=dict(
                (k, v) for k, v in document.metadata.items() if not k.startswith("_"))))
            entry.node_ids.append(document.id)
        return info


def _transformed(documents: list, transformations: list[TransformComponent] | None,
                 show_progress: bool) -> list:
    """``documents`` after ``transformations`` (LlamaIndex documents only; longcolbert's
    own go in as they are)."""
    if not transformations:
        return documents
    engine = [d for d in documents if isinstance(d, EngineDocument)]
    nodes = run_transformations([d for d in documents if not isinstance(d, EngineDocument)],
                                transformations, show_progress=show_progress)
    return [*engine, *nodes]
