"""Ranking candidate documents: scores, passages, re-reading, highlights, relevance.

Both index backends and the reranker end here: given each candidate document's
query x row similarities, :func:`rank_documents` scores the documents, finds their
best passages (:mod:`~longcolbert.ranking.passages`), re-reads the best few
(:mod:`~longcolbert.ranking.reread`) and marks the highlights. Hybrid search adds
:func:`lexical_evidence` (query tokens weighted by rarity,
:mod:`~longcolbert.ranking.lexical`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from ..defaults import DocumentScore
from ..encoding.cache import EncodingCache
from ..errors import DamagedIndexError
from ..results import Hit, Hits, StoredDocument, relevance
from .lexical import TermStatistics, lexical_spans, query_token_weights, shared_words
from .passages import PassageSource, find_passages, maxsim, passage_document_score, with_highlights
from .profile import match_profile
from .reread import (
    READ_DOCUMENTS,
    READ_PASSAGES,
    standalone_scores,
    stored_standalone_scores,
    with_standalone,
)

if TYPE_CHECKING:  # the encoder (torch) is imported when a model is: info and delete need none

    from ..encoding.encoder import EncodedQuery, Encoder


KEYWORD_SHARE = 0.1  # query words in at most this share of units find keyword candidates
MARKED_SHARE = 0.25  # query words in at most this share of units are marked in highlights
# In hybrid search, a query word whose rarity weight is under this (the query's tokens
# average 1: so, under the average) marks nothing in highlights, by MaxSim or by
# keyword: "how", "do", "a" are not why a passage matched
# (benchmarks/highlight_precision.py).
HIGHLIGHT_WEIGHT = 1.0


@dataclass
class LexicalEvidence:
    """What hybrid search adds for one query (see :mod:`longcolbert.ranking.lexical`)."""

    weights: np.ndarray  # per query token, mean 1
    keywords: list[str]  # the query's distinctive words, as written, for BM25 candidates
    terms: set[str]  # FTS5 terms of its words worth marking in highlights (not "the")


def lexical_evidence(statistics: TermStatistics, query: EncodedQuery) -> LexicalEvidence | None:
    """Token weights, keywords and terms of ``query``, from the term counts of an
    index (its :class:`~longcolbert.plaid.store.Store`, or a Qdrant collection's units);
    None for a query without token spans, or where the index cannot count terms."""
    if not statistics.lexical or query.spans is None:
        return None
    words = shared_words().of(query.text)
    counts = statistics.term_document_counts(sorted({term for _, _, term in words}))
    units = statistics.unit_count()
    weights = query_token_weights(query.spans, words, counts, units).astype(np.float32)
    keywords = [query.text[s:e] for s, e, term in words
                if 0 < counts.get(term, 0) <= KEYWORD_SHARE * units]
    spans = np.asarray(query.spans).reshape(-1, 2)
    weighty = {term for start, end, term in words
               if (weights[(spans[:, 1] > spans[:, 0]) & (spans[:, 0] >= start)
                           & (spans[:, 0] < end)] >= HIGHLIGHT_WEIGHT).any()}
    marked = {term for _, _, term in words
              if 0 < counts.get(term, 0) <= MARKED_SHARE * units and term in weighty}
    return LexicalEvidence(weights, list(dict.fromkeys(keywords)), marked)


def rank_documents(
    documents: Sequence[StoredDocument],
    similarities: Sequence[np.ndarray],
    query: EncodedQuery,
    n_passages: int,
    passage_tokens: int,
    document_score: DocumentScore,
    top: int | None,
    lexical: LexicalEvidence | None = None,
    positions: bool = False,
    reader: Encoder | None = None,
    alone: Callable[[list[int]], list[np.ndarray]] | None = None,
    cache: EncodingCache | None = None,
) -> Hits:
    """Score every document from its query x row ``similarities``, keep the ``top`` best,
    and highlight only their passages; see :mod:`longcolbert.ranking.passages`. With
    ``lexical`` (hybrid search), query tokens are weighted by term rarity and
    highlights mark the query's keywords too. With ``positions``, each hit records
    its document's place in ``documents`` (reranking). With a ``reader`` (the
    encoder), the best candidate passages are re-read on their own
    (:mod:`longcolbert.ranking.reread`) before the ``top`` are kept; with ``alone`` (what
    gives the query x row similarities of the documents at some positions of
    ``documents`` as read a passage at a time, stored at index time), they are
    re-read from those rows instead, encoding nothing. A ``cache`` keeps what a
    ``reader`` encodes for the next query."""
    offsets = [_token_offsets(doc) for doc in documents]
    for doc, doc_offsets, sims in zip(documents, offsets, similarities):
        if sims.shape[1] != doc_offsets.shape[0]:
            raise DamagedIndexError(
                f"document {doc.id!r} has {sims.shape[1]} embeddings but "
                f"{doc_offsets.shape[0]} offsets"
            )
    scoring = similarities if lexical is None else [
        sims * lexical.weights[:, None] for sims in similarities
    ]
    sources = [PassageSource(doc.text, doc_offsets, sims, doc.units, doc.page_map)
               for doc, doc_offsets, sims in zip(documents, offsets, scoring)]
    rereading = reader is not None or alone is not None
    candidates = max(1, n_passages, READ_PASSAGES if rereading else 0)
    found = find_passages(sources, query.content, passage_tokens=passage_tokens,
                          n_passages=candidates, highlights=False)
    hits = []
    for doc, doc_offsets, sims, passages in zip(documents, offsets, scoring, found):
        if document_score == "maxsim":
            score = maxsim(sims)
        else:
            score = passage_document_score(doc_offsets, sims, passages.window)
        hits.append(Hit(doc.id, score, doc.metadata, passages.passages))
    order = np.argsort([-hit.score for hit in hits], kind="stable").tolist()
    if rereading:  # re-read the passages of the best few, then re-order those
        read = order[:READ_DOCUMENTS]  # a bounded cost, whatever k is
        weights = None if lexical is None else lexical.weights
        if alone is not None:
            standalone = stored_standalone_scores([hits[i].passages for i in read],
                                                  [offsets[i] for i in read], alone(read), weights)
        else:
            assert reader is not None
            standalone = standalone_scores([[p.text for p in hits[i].passages] for i in read],
                                           query, weights, reader, cache)
        for i, hit in zip(read, with_standalone([hits[i] for i in read], standalone)):
            hits[i] = hit
        read_order = np.argsort([-hits[i].score for i in read], kind="stable").tolist()
        order = [read[j] for j in read_order] + order[len(read):]
    order = order[:top]
    hits = [replace(hit, passages=hit.passages[:n_passages]) for hit in hits]
    keyword_spans: Iterator[list[tuple[int, int]]] = iter([])
    if lexical is not None and lexical.terms:  # all passages' words in one pass
        keyword_spans = iter(lexical_spans(
            [(documents[i].text, p.start, p.end) for i in order for p in hits[i].passages],
            lexical.terms, shared_words()))
    # the most a score can be: one cosine of 1 per (weighted) query token, in the
    # document and, when re-reading, read alone (Hit.relevance)
    weight = float(lexical.weights.sum()) if lexical is not None else float(len(query.content))
    bound = weight * (2 if rereading else 1)
    # what marks words: the query's content tokens, in hybrid search only those that
    # weigh (HIGHLIGHT_WEIGHT)
    marking = query.content if lexical is None else (
        query.content & (lexical.weights >= HIGHLIGHT_WEIGHT))
    ranked = Hits()
    for i in order:
        doc, sims = documents[i], similarities[i]
        highlighted = [
            replace(with_highlights(p, doc.text, offsets[i], sims, marking,
                                    next(keyword_spans, None)),
                    relevance=relevance(p.score, bound))
            for p in hits[i].passages
        ]
        profile = match_profile(offsets[i], scoring[i][query.content], len(doc.text))
        ranked.append(replace(hits[i], passages=highlighted, profile=profile,
                              position=i if positions else None,
                              relevance=relevance(hits[i].score, bound)))
    return ranked


def _token_offsets(doc: StoredDocument) -> np.ndarray:
    """A stored document's token offsets (the store always reads them)."""
    if doc.offsets is None:
        raise DamagedIndexError(f"document {doc.id!r} has no token offsets in the store")
    return doc.offsets
