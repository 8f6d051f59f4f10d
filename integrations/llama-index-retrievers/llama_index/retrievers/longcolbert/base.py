"""LongColBERTRetriever: passages of whole documents as LlamaIndex nodes.

>>> from llama_index.core import Document
>>> retriever = LongColBERTRetriever.from_documents(
...     [Document(text="The notice period is three months.", doc_id="contract")],
...     index_path="./idx")                                  # doctest: +SKIP
>>> retriever.retrieve("notice period")[0].node.ref_doc_id   # doctest: +SKIP
'contract'
"""

from __future__ import annotations

import asyncio
import warnings
from os import PathLike
from typing import Any, Sequence

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import (
    BaseNode,
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from longcolbert import Document as EngineDocument
from longcolbert import Hit, IndexBackend, Passage, open_index, passage_id
from longcolbert.results import with_result_keys

#: Metadata the retriever adds that an LLM or an embedding model need not read.
SCORING_KEYS = ["doc_score", "passage_score", "passage_relevance", "highlights"]


_OPERATORS = {
    FilterOperator.EQ: "$eq", FilterOperator.NE: "$ne", FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte", FilterOperator.LT: "$lt", FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in", FilterOperator.NIN: "$nin", FilterOperator.CONTAINS: "$contains",
}


def _engine_condition(item: MetadataFilter) -> dict[str, Any]:
    """One ``MetadataFilter`` in the engine's filter syntax (see ``longcolbert.filters``)."""
    if item.operator in _OPERATORS:
        value: Any = item.value
        if item.operator in (FilterOperator.IN, FilterOperator.NIN) and not isinstance(
                value, (list, tuple)):
            value = [value]
        return {item.key: {_OPERATORS[item.operator]: value}}
    if item.operator in (FilterOperator.ANY, FilterOperator.ALL):  # a list field holds any/all
        values = item.value if isinstance(item.value, (list, tuple)) else [item.value]
        joined = "$or" if item.operator == FilterOperator.ANY else "$and"
        return {joined: [{item.key: {"$contains": v}} for v in values]}
    if item.operator == FilterOperator.IS_EMPTY:
        return {item.key: None}
    raise ValueError(
        f"filter operator {item.operator.value!r} on {item.key!r} is not supported; use "
        "==, !=, >, >=, <, <=, in, nin, contains, any, all or is_empty"
    )


def to_engine_filter(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """LlamaIndex ``MetadataFilters`` as the engine's filter, nested filters and ``AND`` /
    ``OR`` included; every ``FilterOperator`` but the text matches maps onto it
    (``ANY`` / ``ALL``: a list field holds any / all of the values). Anything else is a
    ``ValueError`` that says what to use instead.

    >>> to_engine_filter(MetadataFilters(filters=[MetadataFilter(key="topic", value="law")]))
    {'$and': [{'topic': {'$eq': 'law'}}]}
    """
    if filters is None or not filters.filters:
        return None
    condition = filters.condition or FilterCondition.AND
    if condition not in (FilterCondition.AND, FilterCondition.OR):
        raise ValueError(f"filter condition {condition.value!r} is not supported; use and / or")
    parts = [to_engine_filter(item) if isinstance(item, MetadataFilters)
             else _engine_condition(item) for item in filters.filters]
    parts = [p for p in parts if p]
    return {"$and" if condition == FilterCondition.AND else "$or": parts} if parts else None


def passage_node(hit: Hit, passage: Passage) -> NodeWithScore:
    """One passage of a search hit as a ``TextNode`` scored by the passage's relevance.

    The node's score is in [0, 1] and means the same for every query
    (:attr:`longcolbert.Passage.relevance`), so ``SimilarityPostprocessor`` cutoffs
    work; the MaxSim sums are ``passage_score`` and ``doc_score`` in the metadata.
    ``start_char_idx`` / ``end_char_idx`` index the source document; ``highlights``
    are ``{"start", "end", "score", "kind"}`` relative to the node text.
    """
    source = dict(hit.metadata)
    hidden = {kind: _key_list(source.pop(key, None)) for kind, key in EXCLUSION_KEYS.items()}
    # a chunk indexed on its own (a splitter's node) points into its source document
    parent, base = source.pop(SOURCE_ID_KEY, None), source.pop(SOURCE_START_KEY, None)
    if not (isinstance(parent, str) and isinstance(base, int) and not isinstance(base, bool)):
        parent, base = hit.id, 0
    added = {"doc_score": hit.score, **passage.to_metadata()}
    metadata = with_result_keys(source, added)
    node = TextNode(
        id_=passage_id(hit.id, passage),
        text=passage.text,
        start_char_idx=base + passage.start,
        end_char_idx=base + passage.end,
        metadata=metadata,
        # the source document's own exclusions (file sizes, dates...) hold on its passages
        excluded_llm_metadata_keys=list(dict.fromkeys([*SCORING_KEYS, *hidden["llm"]])),
        excluded_embed_metadata_keys=list(dict.fromkeys([*SCORING_KEYS, *hidden["embed"]])),
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=parent)},
    )
    # the node's score is the passage's relevance in [0, 1], what SimilarityPostprocessor
    # cuts on; the MaxSim sums stay in the metadata (passage_score, doc_score)
    return NodeWithScore(node=node, score=passage.relevance)


#: Where a document's metadata exclusions are kept in the index (as LlamaIndex's own
#: vector stores keep a node's settings beside its metadata).
EXCLUSION_KEYS = {"llm": "_excluded_llm_metadata_keys", "embed": "_excluded_embed_metadata_keys"}
#: Where a chunk indexed on its own keeps its source document and its place in it.
SOURCE_ID_KEY, SOURCE_START_KEY = "_ref_doc_id", "_start_char_idx"


def _key_list(value: object) -> list[str]:
    """The metadata key names in a stored exclusion list; anything else (a folder made
    by other code may hold any JSON there) counts as none."""
    return [key for key in value if isinstance(key, str)] if isinstance(value, list) else []


def _engine_document(document: BaseNode | EngineDocument) -> EngineDocument:
    if isinstance(document, EngineDocument):
        return document
    if isinstance(document, BaseNode):
        metadata = dict(document.metadata)
        source = document.source_node
        start = getattr(document, "start_char_idx", None)
        if source is not None and source.node_id != document.id_:
            # a splitter's chunk: indexed as it is (whole documents find better passages),
            # its passages' offsets mapped into the source document
            metadata[SOURCE_ID_KEY] = source.node_id
            metadata[SOURCE_START_KEY] = start if isinstance(start, int) else 0
        for kind, key in EXCLUSION_KEYS.items():
            excluded = getattr(document, f"excluded_{kind}_metadata_keys", None)
            if excluded and _key_list(excluded) != list(excluded):
                raise ValueError(
                    f"excluded_{kind}_metadata_keys of document {document.id_!r} is "
                    f"{excluded!r}; give a list of metadata key names")
            if excluded:
                metadata[key] = list(excluded)
        return EngineDocument(document.id_, document.get_content(), metadata)
    raise TypeError(
        f"cannot index a {type(document).__name__}; give LlamaIndex Documents or "
        "longcolbert.Document objects (e.g. from longcolbert.documents.loaders.load_paths)"
    )


def ref_doc_ids(index: IndexBackend, ref_doc_id: str) -> list[str]:
    """The ids ``index`` stores for the source document ``ref_doc_id``: the document
    itself, and every chunk of it inserted as a node."""
    ids = [d.id for d in index.get_many([ref_doc_id])]
    return sorted(set(ids + index.ids_matching({SOURCE_ID_KEY: ref_doc_id})))


def delete_ref_doc(index: IndexBackend, ref_doc_id: str, stacklevel: int = 2) -> None:
    """Delete the document ``ref_doc_id`` of ``index`` and every chunk of it inserted as a
    node; an id that is not there warns (as LlamaIndex's indexes do) and deletes nothing."""
    ids = ref_doc_ids(index, ref_doc_id)
    if not ids:
        warnings.warn(f"no document with id {ref_doc_id!r}; nothing to delete",
                      stacklevel=stacklevel + 1)
        return
    index.delete(ids)


class LongColBERTRetriever(BaseRetriever):
    """Retrieves the best passages of the best whole documents from a longcolbert index.

    Each result is a ``TextNode`` holding one passage, with ``start_char_idx`` /
    ``end_char_idx`` into its document, a SOURCE relationship (``node.ref_doc_id``
    is the document id), the document's metadata, ``doc_score``,
    ``passage_score``, ``pages`` (PDFs) and ``highlights``.

    Args:
        index: A longcolbert ``Index`` or backend, or the path of an existing index folder
            or ``qdrant://HOST/COLLECTION`` (``from_documents`` creates one).
        model: Model hub id, local folder or loaded model when ``index`` is a path;
            by default the one the index was built with.
        similarity_top_k: How many passages (nodes) to return.
        passages_per_document: At most this many passages from one document.
        filters: LlamaIndex ``MetadataFilters`` applied inside the search: every
            ``FilterOperator`` but the text matches, nested, with AND / OR
            (:func:`to_engine_filter`).
        hybrid, reread, candidates: the search settings (None: the index's own).
        device, dtype: where and in what precision the model of a path's index runs.

    >>> retriever = LongColBERTRetriever("./my-index", similarity_top_k=4)  # doctest: +SKIP
    >>> fast = LongColBERTRetriever("./my-index", reread=False, device="cuda")  # doctest: +SKIP
    """

    def __init__(
        self,
        index: IndexBackend | str | PathLike,
        *,
        model: Any = None,
        similarity_top_k: int = 4,
        passages_per_document: int = 1,
        filters: MetadataFilters | None = None,
        hybrid: bool | None = None,
        reread: bool | None = None,
        candidates: int | None = None,
        device: str | None = None,
        dtype: str = "auto",
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if similarity_top_k < 1 or passages_per_document < 1:
            raise ValueError("similarity_top_k and passages_per_document must be at least 1")
        # opening a path never creates an index: a typo is an error, not an empty index
        # a folder or qdrant://HOST/COLLECTION (see longcolbert.locations)
        self.index = index if isinstance(index, IndexBackend) else open_index(
            index, model=model, device=device, dtype=dtype)
        self.search_settings = {"hybrid": hybrid, "reread": reread, "candidates": candidates}
        self.index.settings(**self.search_settings)  # a bad setting fails here
        self.similarity_top_k = similarity_top_k
        self.passages_per_document = passages_per_document
        self.filters = filters
        to_engine_filter(filters)  # a bad filter fails here, not at the first query
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @classmethod
    def from_documents(
        cls,
        documents: Sequence[BaseNode | EngineDocument],
        index_path: str | PathLike,
        *,
        model: Any = None,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> LongColBERTRetriever:
        """Index whole documents (LlamaIndex readers' or longcolbert's) and return a retriever;
        ``kwargs`` are the retriever's (``similarity_top_k``, ``reread``, ``device``...)."""
        placement = {key: kwargs.pop(key) for key in ("device", "dtype") if key in kwargs}
        converted = [_engine_document(d) for d in documents]  # refused: no folder is made
        retriever = cls(open_index(index_path, create=True, model=model, **placement), **kwargs)
        retriever.insert_documents(converted, show_progress=show_progress)
        return retriever

    @classmethod
    def from_persist_dir(cls, persist_dir: str | PathLike, **kwargs: Any) -> LongColBERTRetriever:
        """Open an existing index folder (an error if there is none)."""
        placement = {key: kwargs.pop(key) for key in ("model", "device", "dtype") if key in kwargs}
        return cls(open_index(persist_dir, **placement), **kwargs)

    def insert(self, document: BaseNode | EngineDocument) -> None:
        """Add (or replace, by ``doc_id``) one whole document."""
        self.insert_documents([document])

    def insert_documents(
        self, documents: Sequence[BaseNode | EngineDocument], *, show_progress: bool = False
    ) -> list[str]:
        """Add (or replace, by id) whole documents in one step; returns their ids."""
        return self.index.add_documents(
            [_engine_document(d) for d in documents], show_progress=show_progress
        )

    def insert_nodes(
        self, nodes: Sequence[BaseNode], *, show_progress: bool = False
    ) -> list[str]:
        """Add nodes: whole documents, or a splitter's chunks, each indexed as it is, its
        passages pointing into its source document (``ref_doc_id``, ``start_char_idx``).
        Whole documents find better passages: insert those where you have them."""
        return self.insert_documents(list(nodes), show_progress=show_progress)

    def delete_ref_doc(self, ref_doc_id: str) -> None:
        """Delete a document (every passage node with this ``ref_doc_id``: the document,
        and the chunks of it inserted as nodes). As LlamaIndex's indexes do, an id that
        is not there is no error (a warning names it)."""
        delete_ref_doc(self.index, ref_doc_id, stacklevel=3)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        found = self.index.search_passages(
            query_bundle.query_str,
            k=self.similarity_top_k,
            per_document=self.passages_per_document,
            filter=to_engine_filter(self.filters),
            **self.search_settings,
        )
        return [passage_node(hit, passage) for hit, passage in found]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)
