"""LongColBERTRerank: rerank nodes of any length (up to 32k tokens) by ColBERT MaxSim.

>>> rerank = LongColBERTRerank(top_n=3, return_passages=True)          # doctest: +SKIP
>>> rerank.postprocess_nodes(nodes, query_str="notice period")          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import (
    BaseNode,
    MetadataMode,
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)

from longcolbert import DEFAULT_MODEL, Hit, Reranker, passage_id
from longcolbert.defaults import RERANK_HELP, TOP_N
from longcolbert.encoding.cache import DEFAULT_CACHE_BYTES, EncodingCache
from longcolbert.encoding.model import DTYPE_HELP, model_name

dispatcher = get_dispatcher(__name__)

#: Metadata the reranker adds that an LLM or an embedding model need not read.
SCORING_KEYS = ["maxsim_score", "retrieval_score", "passage_score", "passage_relevance",
                "highlights"]


def _with_metadata(node: BaseNode, extra: dict[str, Any], **changes: Any) -> BaseNode:
    """A copy of ``node`` with more metadata (the input node is left as it was)."""
    copy = node.model_copy(deep=True)
    for key, value in changes.items():
        setattr(copy, key, value)
    copy.metadata = {**copy.metadata, **extra}
    copy.excluded_llm_metadata_keys = sorted({*copy.excluded_llm_metadata_keys, *SCORING_KEYS})
    copy.excluded_embed_metadata_keys = sorted({*copy.excluded_embed_metadata_keys, *SCORING_KEYS})
    return copy


class LongColBERTRerank(BaseNodePostprocessor):
    """Reranks nodes by the ColBERT MaxSim of their best passage, whatever their length.

    Returns new nodes (inputs are never changed) scored by relevance, with
    ``highlights`` (``{"start", "end", "score", "kind"}`` relative to the node text) in
    their metadata. With ``return_passages=True`` each kept node is shrunk to its
    best passage(s): a new ``TextNode`` whose char offsets and SOURCE relationship
    point into the original document.

    >>> from llama_index.postprocessor.longcolbert_rerank import LongColBERTRerank
    >>> rerank = LongColBERTRerank(top_n=3)  # doctest: +SKIP
    """

    model: str | None = Field(default=None, description=(
        "PyLate ColBERT hub id or local folder; by default the index's (given index=), "
        f"else {DEFAULT_MODEL}."))
    top_n: int | None = Field(default=TOP_N, ge=1, description=(
        "How many nodes to keep (5 by default); None keeps them all, reordered."))
    keep_retrieval_score: bool = Field(default=False, description=(
        "Keep each node's score from retrieval in its metadata as retrieval_score."))
    return_passages: bool = Field(
        default=False, description="Shrink each kept node to its best passage(s)."
    )
    passages_per_node: int = Field(
        default=1, ge=1, description="Passages per node when return_passages is set."
    )
    show_progress: bool = Field(default=False, description="Show an encoding progress bar.")
    document_length: int | None = Field(
        default=None, description="Tokens per model window; by default the model's context."
    )
    device: str | None = Field(default=None, description="Torch device; by default PyLate's.")
    dtype: str = Field(default="auto", description=DTYPE_HELP)
    hybrid: bool = Field(default=True, description=RERANK_HELP["hybrid"])
    reread: bool = Field(default=True, description=RERANK_HELP["reread"])
    cache_bytes: int = Field(default=DEFAULT_CACHE_BYTES, ge=0, description=RERANK_HELP["cache"])
    cache_folder: str | None = Field(default=None, description=RERANK_HELP["cache_folder"])
    index: Any = Field(default=None, exclude=True, description=RERANK_HELP["index"])

    _engine: Reranker = PrivateAttr()

    def __init__(self, *, model: Any = None, **kwargs: Any) -> None:
        name = model if model is None or isinstance(model, str) else (
            model_name(model) or type(model).__name__)
        super().__init__(model=name, **kwargs)  # type: ignore[call-arg]  # a pydantic field
        # a name loads on the first rerank; an already loaded PyLate model is used as is
        self._engine = Reranker(model, document_length=self.document_length,
                                device=self.device, dtype=self.dtype, hybrid=self.hybrid,
                                reread=self.reread, index=self.index,
                                cache=EncodingCache(self.cache_bytes, self.cache_folder))

    @classmethod
    def class_name(cls) -> str:
        return "LongColBERTRerank"

    @property
    def engine(self) -> Reranker:
        """The longcolbert ``Reranker`` (it loads the model on first use)."""
        return self._engine

    def _reranked(self, hit: Hit, source: NodeWithScore) -> list[NodeWithScore]:
        """The node (or its best passages) scored by relevance in [0, 1]
        (:attr:`longcolbert.Hit.relevance`, what ``SimilarityPostprocessor`` cuts on), the
        MaxSim sum kept as ``maxsim_score``."""
        node = source.node
        scores: dict[str, Any] = {"maxsim_score": hit.score}
        if self.keep_retrieval_score:
            scores["retrieval_score"] = source.score
        if not self.return_passages:
            extra = {**scores, "highlights": hit.highlight_dicts()}
            return [NodeWithScore(node=_with_metadata(node, extra), score=hit.relevance)]
        base = node.start_char_idx if isinstance(node, TextNode) else None
        document = node.source_node or RelatedNodeInfo(node_id=node.node_id)
        shrunk = []
        for passage in hit.passages:
            extra = {**scores, **passage.to_metadata()}
            shrunk_node = TextNode(
                id_=passage_id(node.node_id, passage),
                text=passage.text,
                start_char_idx=None if base is None else base + passage.start,
                end_char_idx=None if base is None else base + passage.end,
                metadata={**node.metadata},
                excluded_llm_metadata_keys=list(node.excluded_llm_metadata_keys),
                excluded_embed_metadata_keys=list(node.excluded_embed_metadata_keys),
                relationships={NodeRelationship.SOURCE: document},
            )
            shrunk.append(NodeWithScore(node=_with_metadata(shrunk_node, extra),
                                        score=hit.relevance))
        return shrunk

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("LongColBERTRerank needs the query: pass query_bundle or query_str")
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle, nodes=nodes, top_n=self.top_n or len(nodes),
                model_name=self.engine.model_name
            )
        )
        if not nodes:
            dispatcher.event(ReRankEndEvent(nodes=[]))
            return []
        with self.callback_manager.event(
            CBEventType.RERANKING,
            payload={
                EventPayload.NODES: nodes,
                EventPayload.MODEL_NAME: self.engine.model_name,
                EventPayload.QUERY_STR: query_bundle.query_str,
                EventPayload.TOP_K: self.top_n or len(nodes),
            },
        ) as event:
            hits = self.engine.rerank(
                query_bundle.query_str,
                [n.node.get_content(metadata_mode=MetadataMode.NONE) for n in nodes],
                top_n=self.top_n,
                passages=self.passages_per_node if self.return_passages else 1,
                show_progress=self.show_progress,
                sources=([_source(n.node) for n in nodes] if self.engine.index is not None
                         else None),
            )
            reranked = [out for hit in hits for out in self._reranked(hit, nodes[hit.position])]
            event.on_end(payload={EventPayload.NODES: reranked})
        dispatcher.event(ReRankEndEvent(nodes=reranked))
        return reranked


def _source(node: BaseNode) -> tuple[str, int] | None:
    """Where a node sits in the index it came from: a passage of the retriever (its
    SOURCE document and ``start_char_idx``), or a whole stored document (its id). The
    engine checks the text is there, character for character."""
    start = node.start_char_idx if isinstance(node, TextNode) else None
    if node.source_node is not None and isinstance(start, int):
        return node.source_node.node_id, start
    return (node.node_id, 0) if node.node_id else None
