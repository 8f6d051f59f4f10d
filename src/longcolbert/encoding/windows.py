"""Cutting a long token sequence into overlapping model windows and stitching them back.

Every token of the document is kept exactly once, taken from the window where it
has the most context on both sides (a document edge counts as full context).

>>> plan_windows(10, window=4, overlap=2)
[(0, 4), (2, 6), (4, 8), (6, 10)]
>>> owned_ranges([(0, 4), (2, 6), (4, 8), (6, 10)])
[(0, 3), (3, 5), (5, 7), (7, 10)]
"""

from __future__ import annotations

import numpy as np


def plan_windows(n_tokens: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """Half-open ``(start, end)`` token ranges of length ``window`` covering ``n_tokens``."""
    if window <= 0:
        raise ValueError("window must be positive")
    if n_tokens <= window:
        return [(0, n_tokens)]
    overlap = max(0, min(overlap, window - 1))
    stride = window - overlap
    starts = list(range(0, n_tokens - window, stride)) + [n_tokens - window]
    return [(s, s + window) for s in dict.fromkeys(starts)]


def owned_ranges(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """For each window, the token range it contributes to the stitched sequence.

    Inside an overlap a token has more context in the window whose edge is
    further away, so the cut falls in the middle of each overlap.
    """
    cuts = [windows[0][0]]
    for (_, end), (next_start, _) in zip(windows, windows[1:]):
        cuts.append((end - 1 + next_start) // 2 + 1)
    cuts.append(windows[-1][1])
    return list(zip(cuts[:-1], cuts[1:]))


def alone_chunks(token_unit: np.ndarray, target: int, window: int) -> list[tuple[int, int]]:
    """Token ranges that read a document a passage at a time: runs of whole units
    (``token_unit`` numbers each token's sentence, non-decreasing) closed before they
    pass ``target`` tokens; a unit longer than ``target`` is cut every ``target``
    tokens. No range is longer than ``window``.

    >>> alone_chunks(np.array([0, 0, 1, 1, 1, 2, 3, 3, 3, 3, 3]), 4, 8)
    [(0, 2), (2, 6), (6, 10), (10, 11)]
    """
    target = max(1, min(target, window))
    n = len(token_unit)
    if not n:
        return []
    starts = np.flatnonzero(np.r_[True, token_unit[1:] != token_unit[:-1]]).tolist() + [n]
    chunks: list[tuple[int, int]] = []
    begin = 0
    for unit_start, unit_end in zip(starts, starts[1:]):
        if unit_end - begin > target and unit_start > begin:  # close before this unit
            chunks.append((begin, unit_start))
            begin = unit_start
        while unit_end - begin > target:  # a unit longer than a passage
            chunks.append((begin, begin + target))
            begin += target
    if begin < n:
        chunks.append((begin, n))
    return chunks
