"""The reranker: candidate texts of any length ordered by MaxSim, no index needed.

>>> from longcolbert import Reranker
>>> hits = Reranker().rerank("notice period", ["...", "..."])  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .backend import index_of
from .defaults import DOCUMENT_SCORES, PASSAGE_TOKENS, TOKEN_BUDGET, DocumentScore
from .documents.checks import check_choice, check_count, checked_metadata
from .encoding.cache import EncodingCache
from .encoding.holder import ModelHolder
from .encoding.model import DEFAULT_MODEL, fingerprint
from .errors import IncompatibleModelError, InvalidInputError
from .ranking.lexical import CountedTerms, shared_words, unit_texts
from .ranking.passages import sentence_unit_array
from .ranking.rank import lexical_evidence, rank_documents
from .results import Hits, StoredDocument

if TYPE_CHECKING:  # the encoder (torch) is imported when a model is: info and delete need none
    import torch

    from .encoding.encoder import EncodedDocument, Encoder


StoredSpan = tuple[str, int]  # (id of a document in an index, char offset of a text in it)
UNIT_TERMS_KEPT = 4096  # texts whose sentences' terms a Reranker keeps for the next rerank


class Reranker:
    """Orders candidate texts by MaxSim of their best window of sentences, no index needed.

    ``hybrid`` (on by default) weights query tokens by term rarity, counted
    over the sentences of the texts being reranked (the index's counts for texts
    that came from an ``index``, below), and marks the query's
    keywords in highlights, as :class:`Index` does; ``reread`` too. Encoded texts
    (candidates and the passages re-read) are kept in ``cache`` (an
    :class:`~longcolbert.encoding.cache.EncodingCache`: by default 256 MiB in
    memory; give one with a ``folder`` to keep them on disk, or share one between
    rerankers; ``EncodingCache(0)`` keeps nothing), so a text seen before is not
    encoded again: ``reranker.cache.stats()`` counts hits and misses.

    ``model`` is a hub id, a local folder or a loaded model; by default
    ``mixedbread-ai/mxbai-edge-colbert-v0-32m``, or, given an ``index`` and no
    ``model``, the index's own (shared with it, loaded once). With an ``index``
    built with the same model (the one the candidates came from), a candidate that is a document of that index, or a span of one, is scored from
    the index's stored vectors and not encoded at all (say where each text sits:
    ``rerank(..., sources=[(doc_id, start), ...])``); its tokens keep the context
    of the whole document, as in a search, and hybrid term rarity is the index's
    (its search's), not counted over the texts. ``reranker.stored`` counts the
    texts scored so.

    >>> reranker = Reranker()                                   # doctest: +SKIP
    >>> hits = reranker.rerank("notice period", ["...", "..."])  # doctest: +SKIP
    >>> reranker = Reranker(index=Index("./idx"))               # doctest: +SKIP
    >>> reranker.rerank("notice period", [doc.text], sources=[(doc.id, 0)])  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | Any | None = None,
        *,
        document_length: int | None = None,
        device: str | None = None,
        dtype: str = "auto",
        passage_tokens: int = PASSAGE_TOKENS,
        document_score: DocumentScore = "passage",
        hybrid: bool = True,
        reread: bool = True,
        token_budget: int = TOKEN_BUDGET,
        trust_remote_code: bool = False,
        cache: EncodingCache | None = None,
        index: Any = None,
    ):
        check_choice("document_score", document_score, DOCUMENT_SCORES)
        self.index = index_of(index)  # an index, or a vector store / retriever over one
        placed = (document_length, device, dtype, token_budget, trust_remote_code) != (
            None, None, "auto", TOKEN_BUDGET, False)
        if model is None and self.index is not None:  # the index's own, loaded once
            if placed:
                raise InvalidInputError(
                    "with index= and no model=, the reranker uses the index's model as the "
                    "index loads it; to load one of its own with these settings, name it "
                    "(model=...)")
            self._model = self.index.model_holder
        else:
            self._model = ModelHolder(DEFAULT_MODEL if model is None else model,
                                       document_length, device, token_budget, dtype,
                                       trust_remote_code=trust_remote_code)
        self.cache = cache if cache is not None else EncodingCache()
        self.stored = 0  # texts scored from the index's stored vectors, not encoded
        self._index_checked = False
        self._terms: OrderedDict[bytes, list[frozenset[str]]] = OrderedDict()  # by text digest
        self._terms_lock = threading.Lock()
        self.passage_tokens = passage_tokens
        self.document_score = document_score
        self.hybrid = hybrid
        self.reread = reread

    @property
    def encoder(self) -> Encoder:
        return self._model.encoder

    @property
    def model_name(self) -> str:
        """The name of the model it scores with (without loading it)."""
        return self._model.name

    def rerank(
        self,
        query: str,
        texts: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        metadatas: Sequence[Mapping[str, Any]] | None = None,
        top_n: int | None = None,
        passages: int = 1,
        show_progress: bool | None = None,
        sources: Sequence[StoredSpan | None] | None = None,
    ) -> Hits:
        """Score every text against ``query``; best first, at most ``top_n``.

        Ids default to the texts' positions (``"0"``, ``"1"``...). ``show_progress``:
        an encoding progress bar (by default when the texts hold 50,000 tokens or more).
        ``sources``: for each text, ``(doc_id, start)`` where it sits in the reranker's
        ``index`` (or None); a text found there, character for character, is scored
        from the stored vectors.
        """
        if isinstance(texts, str):
            raise InvalidInputError("rerank() takes a list of texts; wrap the text in a list")
        if top_n is not None:
            check_count("top_n", top_n, least=0)
        check_count("passages", passages, least=0)
        if any(given is not None and len(given) != len(texts)
               for given in (ids, metadatas, sources)):
            raise InvalidInputError(
                f"rerank() got {len(texts)} texts but {len(ids or [])} ids, "
                f"{len(metadatas or [])} metadatas and {len(sources or [])} sources; give one "
                "of each per text (or none)"
            )
        for position, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise InvalidInputError(
                    f"the text at position {position} is empty or not a string; drop empty "
                    "candidates before reranking"
                )
        if not texts or top_n == 0:
            return Hits()
        ids = [str(i) for i in (ids if ids is not None else range(len(texts)))]
        metas = [checked_metadata(ids[i], metadatas[i] if metadatas else {})
                 for i in range(len(texts))]
        encoded_query = self.encoder.encode_query(query)
        encoded, from_index = self._encoded(list(texts), sources, show_progress)
        documents = [
            StoredDocument(doc_id, text, meta, [], e.offsets, sentence_unit_array(text))
            for doc_id, text, meta, e in zip(ids, texts, metas, encoded)
        ]
        lexical = None
        if self.hybrid and from_index:  # texts from the index: its term rarity, as its search
            assert self.index is not None
            lexical = self.index.lexical_evidence_for(encoded_query)
        if self.hybrid and lexical is None:  # term rarity over the sentences of the texts
            counted = CountedTerms([self._unit_terms(document) for document in documents])
            lexical = lexical_evidence(counted, encoded_query)
        similarities = [(encoded_query.embeddings @ e.embeddings.T).numpy() for e in encoded]
        return rank_documents(documents, similarities, encoded_query, passages,
                              self.passage_tokens, self.document_score, top_n, lexical,
                              positions=True, reader=self.encoder if self.reread else None,
                              cache=self.cache)

    def _encoded(self, texts: list[str], sources: Sequence[StoredSpan | None] | None,
                 show_progress: bool | None) -> tuple[list[EncodedDocument], bool]:
        """Each text's token vectors: the index's stored ones where the text is a span
        of a document it holds, else encoded (through the cache); and whether any
        came from the index."""
        found: dict[int, EncodedDocument] = {}
        if self.index is not None and sources is not None:
            self._check_index_model()
            wanted = sorted({source[0] for source in sources if source is not None})
            stored = self.index.stored_rows(wanted) if wanted else {}
            for position, (text, source) in enumerate(zip(texts, sources)):
                if source is not None and source[0] in stored:
                    span = span_rows(*stored[source[0]], source[1], text)
                    if span is not None:
                        found[position] = span
        missing = [i for i in range(len(texts)) if i not in found]
        from_index = bool(found)
        self.stored += len(found)
        if missing:
            fresh = self.cache.encode(self.encoder, [texts[i] for i in missing],
                                      show_progress=show_progress)
            found.update(zip(missing, fresh))
        return [found[i] for i in range(len(texts))], from_index

    def _unit_terms(self, document: StoredDocument) -> list[frozenset[str]]:
        """The FTS5 terms of each sentence unit of a text (what hybrid rarity counts),
        kept for the last ``UNIT_TERMS_KEPT`` texts: a text seen again costs nothing."""
        key = hashlib.sha256(document.text.encode("utf-8", "surrogatepass")).digest()
        with self._terms_lock:
            found = self._terms.get(key)
            if found is not None:
                self._terms.move_to_end(key)
                return found
        units = document.units if document.units is not None else sentence_unit_array(
            document.text)
        found = [frozenset(terms) for terms in
                 shared_words().terms_of_many(unit_texts(document.text, units))]
        with self._terms_lock:
            self._terms[key] = found
            while len(self._terms) > UNIT_TERMS_KEPT:
                self._terms.popitem(last=False)
        return found

    def _check_index_model(self) -> None:
        """The index's vectors are comparable to this reranker's query only if the same
        model made them: else a one-line error with the remedy."""
        if self._index_checked or self.index is None:
            return
        built = self.index.stored_model()
        if built is not None:
            try:
                built.check_compatible(fingerprint(self.encoder.model))
            except IncompatibleModelError as exc:
                raise IncompatibleModelError(
                    f"the reranker's model is not the one its index was built with ({exc}); "
                    f"give the reranker model={built.name!r}, or no index") from None
        self._index_checked = True


def span_rows(document: StoredDocument, rows: torch.Tensor, start: int, text: str
              ) -> EncodedDocument | None:
    """The stored rows of ``text`` if it is ``document.text[start:start + len(text)]``:
    all of them for the whole document, else the rows whose spans lie inside it
    (offsets made relative to ``text``); None if the text is not there.

    >>> import numpy as np
    >>> from longcolbert import StoredDocument
    >>> doc = StoredDocument("d", "Rivers flow.", {}, [], np.array([[0, 0], [0, 6], [7, 11],
    ...                      [12, 12]]), np.zeros((0, 2), dtype=np.int64))
    >>> span_rows(doc, np.arange(4)[:, None], 7, "flow").offsets.tolist()
    [[0, 4]]
    >>> span_rows(doc, np.arange(4)[:, None], 0, "Rivers flows") is None
    True
    """
    from .encoding.encoder import EncodedDocument

    end = start + len(text)
    offsets = document.offsets
    if offsets is None or start < 0 or document.text[start:end] != text:
        return None
    if start == 0 and end == len(document.text):
        return EncodedDocument(rows, offsets)
    inside = (offsets[:, 0] >= start) & (offsets[:, 1] <= end) & (offsets[:, 1] > offsets[:, 0])
    if not inside.any():
        return None
    return EncodedDocument(rows[inside], offsets[inside] - start)
