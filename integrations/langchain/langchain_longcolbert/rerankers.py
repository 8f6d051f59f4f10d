"""LongColBERTReranker: a LangChain document compressor that reranks whole documents by MaxSim.

>>> from langchain_longcolbert import LongColBERTReranker
>>> reranker = LongColBERTReranker(top_n=3)                    # doctest: +SKIP
>>> reranker.compress_documents(documents, "notice period")    # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field, PrivateAttr

from longcolbert import Hit, Reranker, passage_id
from longcolbert.defaults import RERANK_HELP, TOP_N
from longcolbert.encoding.cache import DEFAULT_CACHE_BYTES, EncodingCache
from longcolbert.encoding.model import DTYPE_HELP
from longcolbert.results import cited_passage


class LongColBERTReranker(BaseDocumentCompressor):
    """Reranks documents of any length (up to 32k tokens each) with ColBERT MaxSim.

    Each document is scored by its best passage, so a long document is neither
    truncated nor diluted. Returns new ``Document`` objects (the inputs are never
    changed) with ``metadata["relevance_score"]`` (in [0, 1], the same for every query:
    :attr:`longcolbert.Hit.relevance`), ``metadata["maxsim_score"]`` (the MaxSim
    sum it comes from) and ``metadata["highlights"]``.
    With ``return_passages=True`` each kept document is shrunk to its best
    passage(s), with ``start_index`` / ``end_index`` into the original text.

    Instantiate:
        .. code-block:: python

            from langchain_longcolbert import LongColBERTReranker

            reranker = LongColBERTReranker(top_n=3, return_passages=True)

    Use with a retriever:
        .. code-block:: python

            from langchain_classic.retrievers import ContextualCompressionRetriever

            retriever = ContextualCompressionRetriever(
                base_compressor=reranker, base_retriever=base_retriever
            )
    """

    model: Any = Field(default=None, repr=False)
    """PyLate ColBERT hub id, local folder, or loaded model; by default the index's (given
    ``index``), else ``mixedbread-ai/mxbai-edge-colbert-v0-32m``."""

    top_n: int | None = Field(default=TOP_N, ge=1)
    """How many documents to keep (5 by default, as in the LlamaIndex reranker);
    ``None`` keeps them all, reordered."""

    return_passages: bool = False
    """Return each kept document's best passage(s) instead of its whole text."""

    passages_per_document: int = Field(default=1, ge=1)
    """Passages per document when ``return_passages`` is set."""

    show_progress: bool = False
    """Show an encoding progress bar (long candidate lists)."""

    document_length: int | None = None
    """Tokens per model window; by default the model's own context (32,000 for the default)."""

    device: str | None = None
    """Torch device for the model (``"cuda"``, ``"cpu"``...); by default PyLate's choice."""

    dtype: str = Field(default="auto", description=DTYPE_HELP)

    hybrid: bool = Field(default=True, description=RERANK_HELP["hybrid"])
    reread: bool = Field(default=True, description=RERANK_HELP["reread"])
    cache_bytes: int = Field(default=DEFAULT_CACHE_BYTES, ge=0, description=RERANK_HELP["cache"])
    cache_folder: str | None = Field(default=None, description=RERANK_HELP["cache_folder"])
    index: Any = Field(default=None, repr=False, description=RERANK_HELP["index"])

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")  # typos fail

    _engine: Reranker = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        # the engine's Reranker loads the model on its first rerank, not here
        self._engine = Reranker(self.model, document_length=self.document_length,
                                device=self.device, dtype=self.dtype, hybrid=self.hybrid,
                                reread=self.reread, index=self.index,
                                cache=EncodingCache(self.cache_bytes, self.cache_folder))

    @property
    def engine(self) -> Reranker:
        """The longcolbert ``Reranker`` (it loads the model on first use)."""
        return self._engine

    def _reranked(self, hit: Hit, source: Document) -> list[Document]:
        metadata = copy.deepcopy(source.metadata)
        metadata["relevance_score"] = hit.relevance  # in [0, 1]: thresholds mean something
        metadata["maxsim_score"] = hit.score
        if not self.return_passages:
            metadata["highlights"] = hit.highlight_dicts()
            return [Document(page_content=source.page_content, id=source.id, metadata=metadata)]
        # offsets into the source document: a chunk's own start_index is added to the
        # passage's and kept as original_start_index (as the retriever does)
        return [Document(page_content=passage.text,
                         id=passage_id(source.id, passage) if source.id else None,
                         metadata=cited_passage(copy.deepcopy(metadata), passage))
                for passage in hit.passages]

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """The ``top_n`` documents most relevant to ``query``, best first."""
        if not documents:
            return []
        hits = self.engine.rerank(
            query,
            [d.page_content for d in documents],
            top_n=self.top_n,
            passages=self.passages_per_document if self.return_passages else 1,
            show_progress=self.show_progress,
            sources=[_source(d) for d in documents] if self.engine.index is not None else None,
        )
        return [doc for hit in hits for doc in self._reranked(hit, documents[hit.position])]


def _source(document: Document) -> tuple[str, int] | None:
    """Where a candidate sits in the index it came from: a passage of the retriever
    (``doc_id``, ``start_index``), or a whole document of the vector store (its id).
    The engine checks the text is there, character for character."""
    doc_id = document.metadata.get("doc_id")
    start = document.metadata.get("start_index")
    if isinstance(doc_id, str) and isinstance(start, int) and not isinstance(start, bool):
        return doc_id, start
    return (document.id, 0) if document.id else None
