"""Where in a document the query matched: MaxSim along the document, span by span.

A document's token rows are cut into consecutive spans of about ``SPAN_TOKENS``
tokens (at most ``MAX_SPANS`` spans); each span's score is the MaxSim of the
query against it alone (the sum over query tokens of their best similarity
inside it), the same measure as a passage's score. One high bar: the answer is
in one place; many: it is spread out.

>>> import numpy as np
>>> offsets = np.array([[0, 4], [5, 9], [10, 14], [15, 19]])
>>> sims = np.array([[0.1, 0.9, 0.2, 0.3]])
>>> match_profile(offsets, sims, text_length=19, span_tokens=2).scores
[0.9, 0.3]
"""

from __future__ import annotations

import numpy as np

from ..results import MatchProfile

SPAN_TOKENS = 48
MAX_SPANS = 160


def match_profile(offsets: np.ndarray, similarities: np.ndarray, text_length: int,
                  span_tokens: int = SPAN_TOKENS, max_spans: int = MAX_SPANS) -> MatchProfile:
    """The profile of one document from its token ``offsets`` ([n, 2]) and the query's
    ``similarities`` to its rows ([q, n]); special rows (empty spans) are left out."""
    content = np.flatnonzero(offsets[:, 1] > offsets[:, 0])
    if not len(content) or not similarities.shape[0]:
        return MatchProfile(text_length, [], [], [])
    n_spans = int(min(max_spans, max(1, round(len(content) / span_tokens))))
    groups = np.array_split(content, n_spans)
    sims = similarities[:, content]
    firsts = np.cumsum([0] + [len(g) for g in groups[:-1]])
    best = np.maximum.reduceat(sims, firsts, axis=1)  # [q, spans]
    scores = best.sum(axis=0)
    return MatchProfile(
        text_length,
        [int(offsets[g[0], 0]) for g in groups],
        [int(offsets[g[-1], 1]) for g in groups],
        [round(float(s), 4) for s in scores],
    )
