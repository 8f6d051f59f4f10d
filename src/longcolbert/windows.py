"""Cutting a long token sequence into overlapping model windows and stitching them back.

Every token of the document is kept exactly once, taken from the window where it
has the most context on both sides (a document edge counts as full context).

>>> plan_windows(10, window=4, overlap=2)
[(0, 4), (2, 6), (4, 8), (6, 10)]
>>> owned_ranges([(0, 4), (2, 6), (4, 8), (6, 10)])
[(0, 3), (3, 5), (5, 7), (7, 10)]
"""

from __future__ import annotations


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
