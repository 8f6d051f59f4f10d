"""Re-reading: the best candidate passages encoded again on their own.

A document's tokens are encoded with the whole document around them, so each
carries its page's topic; that is what ranks the right page, but inside the
page it makes every topical paragraph look alike. Re-reading adds the other
view: the few best passages of the few best documents are encoded once more,
each alone (as a chunk-then-index system would have stored them), and scored
by MaxSim against the query. Then:

* a passage's score is its MaxSim in its document plus its MaxSim read alone,
  and a document's passages come best first by that score;
* a document's score is its own score plus the best MaxSim of its passages
  read alone, and the documents re-read come best first by that score (those
  not re-read rank below them, as before).

Both views are MaxSim sums over the same (weighted) query tokens, so the sum
needs no tuning weight and scores stay comparable between queries. The cost is
one encoding of ``READ_DOCUMENTS x READ_PASSAGES`` passages per query
(:meth:`~longcolbert.encoding.encoder.Encoder.read_passages`: on a CPU each
passage in its own forward, in bfloat16 where the CPU has AMX; measured in
benchmarks/passage_quality.py).

>>> from longcolbert.results import Hit, Passage
>>> hit = Hit("a", 1.0, {}, [Passage("x", 0, 1, 0.5), Passage("y", 2, 3, 0.4)])
>>> [h.score for h in with_standalone([hit], [[0.1, 0.9]])]
[1.9]
>>> [p.text for p in with_standalone([hit], [[0.1, 0.9]])[0].passages]
['y', 'x']
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..results import Hit, Passage
from .passages import maxsim

if TYPE_CHECKING:
    from ..encoding.cache import EncodingCache
    from ..encoding.encoder import EncodedQuery, Encoder

READ_DOCUMENTS = 5  # documents whose passages are re-read, whatever k is
READ_PASSAGES = 5  # candidate passages re-read per document (more when asked for more)


def standalone_scores(
    passages: Sequence[Sequence[str]], query: EncodedQuery, weights: np.ndarray | None,
    encoder: Encoder, cache: EncodingCache | None = None,
) -> list[list[float]]:
    """MaxSim of ``query`` against each passage text encoded on its own, query tokens
    weighted by ``weights`` (hybrid search) if given; ``passages`` per document.
    A ``cache`` keeps the passages' encodings for the next query that reads them."""
    texts = [text for document in passages for text in document]
    readable = [i for i, text in enumerate(texts) if text.strip()]
    wanted = [texts[i] for i in readable]
    encoded = iter(cache.encode(encoder, wanted, reading=True) if cache is not None
                   else encoder.read_passages(wanted))
    rows = query.embeddings.float()
    if weights is not None:
        rows = rows * rows.new_tensor(weights)[:, None]
    flat = [0.0] * len(texts)
    for i in readable:
        flat[i] = maxsim((rows @ next(encoded).embeddings.T).numpy())
    scores, position = [], 0
    for document in passages:
        scores.append(flat[position : position + len(document)])
        position += len(document)
    return scores


def stored_standalone_scores(
    passages: Sequence[Sequence[Passage]], offsets: Sequence[np.ndarray],
    similarities: Sequence[np.ndarray], weights: np.ndarray | None,
) -> list[list[float]]:
    """:func:`standalone_scores` from the rows stored at index time: each document's
    ``similarities`` are the query against its tokens read a passage at a time
    (``[query tokens, rows]``, rows as in ``offsets``); a passage scores the MaxSim
    of the text rows inside it, query tokens weighted by ``weights`` if given.

    >>> offsets = np.array([[0, 0], [0, 3], [4, 7]])
    >>> sims = np.array([[0.9, 0.2, 0.5], [0.1, 0.3, 0.8]])
    >>> stored_standalone_scores([[Passage("abc", 0, 3, 0.0)]], [offsets], [sims], None)
    [[0.5]]
    """
    scores = []
    for document, spans, sims in zip(passages, offsets, similarities):
        if weights is not None:
            sims = sims * weights[:, None]
        text = spans[:, 1] > spans[:, 0]
        scores.append([maxsim(sims[:, text & (spans[:, 0] >= p.start) & (spans[:, 1] <= p.end)])
                       for p in document])
    return scores


def with_standalone(
    hits: Sequence[Hit], scores: Sequence[Sequence[float]], leading: int = READ_PASSAGES
) -> list[Hit]:
    """``hits`` (in the same order) with each passage's standalone score added to its
    own and the best standalone score of its ``leading`` passages added to the
    document's; the caller re-orders the documents.

    Those ``leading`` passages come best first, and any further ones (a search for
    more passages) after them, best first too: so documents and first passages are
    the same whether 1 or ``leading`` passages are asked for.
    """
    updated = []
    for hit, standalone in zip(hits, scores):
        passages = [replace(p, score=p.score + s) for p, s in zip(hit.passages, standalone)]
        head, tail = passages[:leading], passages[leading:]
        ordered = [*_best_first(head), *_best_first(tail)]
        bonus = max(standalone[:leading], default=0.0)
        updated.append(replace(hit, score=hit.score + bonus, passages=ordered))
    return updated


def _best_first(passages: list[Passage]) -> list[Passage]:
    return [passages[i] for i in np.argsort([-p.score for p in passages], kind="stable")]
