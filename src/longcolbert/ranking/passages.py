"""Best passages of one document and their token-level MaxSim highlights.

With ``S = Q @ D.T`` (query tokens x document tokens, cosine similarities):

* a window's score is the MaxSim of the query against that window alone:
  ``sum over query tokens of max over the window's tokens``;
* windows are runs of whole sentences/lines holding about a third more than
  ``passage_tokens`` tokens; the best non-overlapping ones locate the passages;
* inside each chosen window, the run of about ``FOCUS_TOKENS`` tokens (a
  sentence or two) with the best MaxSim is the evidence, and the passage is
  that evidence grown by whole sentences on both sides to ``passage_tokens``:
  shorter than the window, centred on what matched. Its score is the MaxSim of
  the query against it alone; passages come in the order of their windows, so
  the first one is the same however many are asked for;
* a highlight is a document token inside a passage that wins a content query
  token's max within that passage, widened to whole words; its score is that
  similarity. Special, prefix and expansion query tokens count in scores but
  make no highlights.

>>> text = "One. Two!\\nThree\\nwrapped.\\n\\n- item"
>>> print(" | ".join(text[s:e].replace("\\n", "/") for s, e in sentence_units(text)))
One. | Two! | Three/wrapped. | - item
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, replace

import numpy as np

from ..defaults import PASSAGE_TOKENS
from ..results import Highlight, Passage

# Where a passage may start or end: after a sentence (or clause) end, at a blank
# line, before a list item or heading marker, after CJK sentence punctuation.
# A single line break inside a hard-wrapped paragraph is not a boundary.
_BOUNDARY = re.compile(
    r"(?<=[.!?;:])(?<!\b\d\.)(?<!\b\d\d\.)\s+"  # not after an enumerator like "2."
    r"|\n[ \t]*\n\s*"
    r"|\n(?=[ \t]*(?:[-*+•#>|]|\d+[.)]|\.\. )\s?)"
    r"|(?<=[。！？；])"
)


FOCUS_TOKENS = 32  # the evidence a passage is centred on: about a sentence


def context_tokens(passage_tokens: int) -> int:
    """Tokens of the windows that locate passages of ``passage_tokens`` tokens."""
    return passage_tokens + passage_tokens // 3


def sentence_units(text: str) -> list[tuple[int, int]]:
    """Char spans of sentences, paragraphs and list items, trimmed of whitespace."""
    units: list[tuple[int, int]] = []
    position = 0
    for match in _BOUNDARY.finditer(text):
        _add_trimmed(text, position, match.start(), units)
        position = match.end()
    _add_trimmed(text, position, len(text), units)
    return units


def sentence_unit_array(text: str) -> np.ndarray:
    """:func:`sentence_units` as an ``[n, 2]`` int64 array, as the store keeps them."""
    return np.array(sentence_units(text), dtype=np.int64).reshape(-1, 2)


def _add_trimmed(text: str, start: int, end: int, units: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        units.append((start, end))


@dataclass
class DocumentLayout:
    """Sentence/line units of a document and which unit each embedding row falls in.

    Units longer than ``passage_tokens`` tokens are split at token boundaries.
    """

    units: np.ndarray  # [n_units, 2] char spans
    row_unit: np.ndarray  # [n_rows] unit index, -1 for rows without text (special tokens)
    unit_tokens: np.ndarray  # [n_units] rows per unit

    @classmethod
    def build(
        cls, text: str, offsets: np.ndarray, passage_tokens: int, spans: np.ndarray | None = None
    ) -> "DocumentLayout":
        """Lay out ``text``; ``spans`` are its :func:`sentence_units` if already known."""
        spans = sentence_unit_array(text) if spans is None else (
            np.asarray(spans, dtype=np.int64).reshape(-1, 2))
        has_text = offsets[:, 1] > offsets[:, 0]
        owner = np.searchsorted(spans[:, 0], offsets[:, 0], side="right") - 1
        owner = np.where(has_text & (owner >= 0), owner, -1)
        counts = np.bincount(owner[owner >= 0], minlength=len(spans))
        if not len(counts) or counts.max() <= passage_tokens:  # usual: no unit to split
            return cls(spans, owner, counts)
        rows = np.flatnonzero(owner >= 0)
        rows = rows[np.argsort(owner[rows], kind="stable")]
        pieces = np.maximum(1, -(-counts // passage_tokens))
        first_piece = np.concatenate([[0], np.cumsum(pieces)[:-1]]).astype(np.int64)
        rank = np.arange(len(rows)) - np.concatenate([[0], np.cumsum(counts)[:-1]])[owner[rows]]
        row_unit = np.full(len(offsets), -1, dtype=np.int64)
        row_unit[rows] = first_piece[owner[rows]] + rank // passage_tokens
        units = np.repeat(spans, pieces, axis=0)
        for u in np.flatnonzero(pieces > 1):  # rare: a unit longer than a passage
            unit_rows = rows[owner[rows] == u]
            for piece in range(pieces[u]):
                chunk = unit_rows[piece * passage_tokens : (piece + 1) * passage_tokens]
                index = first_piece[u] + piece
                # tokens may share a character (byte-level BPE): never overlap the last piece
                start = spans[u, 0] if piece == 0 else max(int(offsets[chunk[0], 0]), units[index - 1, 1])
                end = spans[u, 1] if piece == pieces[u] - 1 else max(int(offsets[chunk[-1], 1]), start)
                units[index] = (start, end)
        unit_tokens = np.bincount(row_unit[rows], minlength=len(units))
        return cls(units, row_unit, unit_tokens)


def maxsim(similarities: np.ndarray) -> float:
    """MaxSim of a query against a whole document: sum over query tokens of the row max."""
    if similarities.shape[1] == 0:
        return 0.0
    return float(similarities.max(axis=1).sum())


def passage_document_score(
    offsets: np.ndarray, similarities: np.ndarray, window: tuple[int, int] | None
) -> float:
    """MaxSim of the query against the best window plus the document's special tokens.

    ``window`` is the char span of the document's best-scoring window
    (:attr:`FoundPassages.window`). The special rows (CLS, [D], SEP: empty
    spans) summarise the whole document; the window brings the local evidence.
    Unlike MaxSim over every token, this does not grow with the document's
    length (see benchmarks/README.md).
    """
    if window is None:
        return maxsim(similarities)
    special = offsets[:, 1] == offsets[:, 0]
    rows = special | ((offsets[:, 0] >= window[0]) & (offsets[:, 1] <= window[1]))
    return maxsim(similarities[:, rows])


@dataclass
class PassageSource:
    """One document to find passages in: its text, token offsets and query similarities.

    ``similarities`` is ``Q @ D.T`` ([query tokens, rows]); ``units`` are the text's
    :func:`sentence_units` if known; ``page_map`` holds ``(start, end, page)``.
    """

    text: str
    offsets: np.ndarray
    similarities: np.ndarray
    units: np.ndarray | None = None
    page_map: list[tuple[int, int, int]] | None = None


@dataclass
class FoundPassages:
    """The passages of one document, best first, and the char span of its best
    window (what :func:`passage_document_score` scores the document by)."""

    passages: list[Passage]
    window: tuple[int, int] | None


def best_passages(
    text: str,
    offsets: np.ndarray,
    similarities: np.ndarray,
    content: np.ndarray,
    *,
    passage_tokens: int = PASSAGE_TOKENS,
    n_passages: int = 3,
    page_map: list[tuple[int, int, int]] | None = None,
    highlights: bool = True,
    units: np.ndarray | None = None,
) -> list[Passage]:
    """The ``n_passages`` best non-overlapping passages, best first, with highlights.

    ``content`` marks the query tokens that may make highlights. With
    ``highlights=False`` they are left empty (add them later with
    :func:`with_highlights`). See :class:`PassageSource` for the other arguments.
    """
    source = PassageSource(text, offsets, similarities, units, page_map)
    return best_passages_many([source], content, passage_tokens=passage_tokens,
                              n_passages=n_passages, highlights=highlights)[0]


def best_passages_many(
    documents: list[PassageSource],
    content: np.ndarray,
    *,
    passage_tokens: int = PASSAGE_TOKENS,
    n_passages: int = 3,
    highlights: bool = True,
) -> list[list[Passage]]:
    """:func:`best_passages` of several documents for one query, computed together."""
    found = find_passages(documents, content, passage_tokens=passage_tokens,
                          n_passages=n_passages, highlights=highlights)
    return [f.passages for f in found]


def find_passages(
    documents: list[PassageSource],
    content: np.ndarray,
    *,
    passage_tokens: int = PASSAGE_TOKENS,
    n_passages: int = 3,
    highlights: bool = True,
) -> list[FoundPassages]:
    """Passages and best window of several documents for one query, computed together.

    The per-unit maxima and window scores of all documents come from one pass
    over their units side by side, so the cost per document is a few array
    operations, not a few dozen.
    """
    if n_passages <= 0:
        return [FoundPassages([], None) for _ in documents]
    context = context_tokens(passage_tokens)
    layouts = [DocumentLayout.build(d.text, d.offsets, context, d.units) for d in documents]
    unit_base = np.concatenate([[0], np.cumsum([len(layout.units) for layout in layouts])])
    n_query = documents[0].similarities.shape[0] if documents else 0
    # Per-unit maxima of all documents side by side, [units, query tokens]: each row's
    # similarities go to its unit's row (rows without text to a spare last row);
    # units without rows stay at -inf.
    import torch  # here, not at the top: opening an index folder needs no torch

    unit_max = torch.full((int(unit_base[-1]) + 1, n_query), -torch.inf)
    for doc, layout, base in zip(documents, layouts, unit_base):
        owner = torch.from_numpy(np.where(layout.row_unit >= 0, layout.row_unit + base, -1))
        owner[owner < 0] = len(unit_max) - 1
        rows = torch.from_numpy(np.ascontiguousarray(doc.similarities.T, dtype=np.float32))
        unit_max.scatter_reduce_(0, owner[:, None].expand(rows.shape), rows, "amax")
    unit_max = unit_max[:-1].numpy().T  # [query tokens, units]

    # Windows (and focus runs) start at every unit, never crossing into the next document.
    def window_ends(target: int) -> np.ndarray:
        if not layouts:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([_unit_window_ends(layout.unit_tokens, target) + base
                               for layout, base in zip(layouts, unit_base)])

    ends, focus_ends = window_ends(context), window_ends(FOCUS_TOKENS)
    starts = np.arange(len(ends))
    scores = _window_scores(unit_max, starts, ends)
    focus = _window_scores(unit_max, starts, focus_ends)
    found = []
    for i, (doc, layout) in enumerate(zip(documents, layouts)):
        lo, hi = unit_base[i], unit_base[i + 1]
        found.append(_choose(doc, layout, unit_max[:, lo:hi], scores[lo:hi], ends[lo:hi] - lo,
                             focus[lo:hi], focus_ends[lo:hi] - lo, content, passage_tokens,
                             n_passages, highlights))
    return found


def _choose(
    doc: PassageSource,
    layout: DocumentLayout,
    unit_max: np.ndarray,
    scores: np.ndarray,
    ends: np.ndarray,
    focus: np.ndarray,
    focus_ends: np.ndarray,
    content: np.ndarray,
    passage_tokens: int,
    n_passages: int,
    highlights: bool,
) -> FoundPassages:
    """The best windows of one document, each narrowed to the passage around its
    evidence; passages never overlap and come in their windows' order."""
    chosen: list[tuple[int, int, float]] = []
    best_window = None
    for a in np.argsort(-scores, kind="stable").tolist():
        b = int(ends[a])
        if best_window is None:
            best_window = (int(layout.units[a, 0]), int(layout.units[b - 1, 1]))
        # the evidence: the best focus run that fits inside this window
        inside = np.flatnonzero(focus_ends[a:b] <= b) + a
        s = int(inside[np.argmax(focus[inside])]) if len(inside) else a
        start, end = _grow(layout.unit_tokens, s, int(focus_ends[s]) if len(inside) else b,
                           passage_tokens)
        start, end = _snapped(doc.text, layout.units, start, end)
        if any(start < e and s_ < end for s_, e, _ in chosen):
            continue  # overlaps a better passage
        chosen.append((start, end, _range_maxsim(unit_max, start, end)))
        if len(chosen) == n_passages:
            break
    passages = []
    for a, b, score in chosen:
        start, end = int(layout.units[a, 0]), int(layout.units[b - 1, 1])
        found: list[Highlight] = []
        if highlights:
            rows = np.flatnonzero((layout.row_unit >= a) & (layout.row_unit < b))
            found = _highlights(doc.text, doc.offsets, doc.similarities, content, rows, start, end)
        passages.append(
            Passage(text=doc.text[start:end], start=start, end=end, score=score,
                    pages=_pages(start, end, doc.page_map), highlights=found)
        )
    return FoundPassages(passages, best_window)


LABEL_CHARS = 32  # a line's leading text this short and ending in ":" labels the rest


def _label_start(text: str, units: np.ndarray, u: int) -> int | None:
    """The first unit of unit ``u``'s line if all that comes before ``u`` on that line
    is a short label (``.. versionadded::`` before ``3.8``, ``Note:`` before its
    sentence), else None."""
    line_start = text.rfind("\n", 0, int(units[u, 0])) + 1
    label = text[line_start : int(units[u, 0])].strip()
    if not label or len(label) > LABEL_CHARS or not label.endswith(":"):
        return None
    first = u
    while first > 0 and int(units[first - 1, 0]) >= line_start:
        first -= 1
    return first


def _snapped(text: str, units: np.ndarray, start: int, end: int) -> tuple[int, int]:
    r"""The units ``start:end`` of a passage with its edges at line starts where a
    label would be cut off its line: a passage opens with the label of its first
    line (not on an orphan fragment such as ``3.8``), and does not end on a label
    whose line goes on past it.

    >>> text = ".. versionadded:: 3.8\n   The copy keeps links. Other text."
    >>> units = np.array(sentence_units(text))
    >>> [text[s:e] for s, e in units]
    ['..', 'versionadded::', '3.8\n   The copy keeps links.', 'Other text.']
    >>> a, b = _snapped(text, units, 2, 4)
    >>> text[units[a, 0]:units[b - 1, 1]]
    '.. versionadded:: 3.8\n   The copy keeps links. Other text.'
    >>> _snapped(text, units, 3, 4)
    (3, 4)
    """
    first = _label_start(text, units, start)
    if first is not None:
        start = first
    if end < len(units) and end - 1 > start:
        label = _label_start(text, units, end)  # the next unit's line opens with ours
        if label is not None and start < label < end:
            end = label
    return start, end


def _grow(unit_tokens: np.ndarray, start: int, end: int, target: int) -> tuple[int, int]:
    """Units ``[start, end)`` grown by whole units, after then before in turn, until
    they hold at least ``target`` tokens or the document ends."""
    tokens = int(unit_tokens[start:end].sum())
    after = True
    while tokens < target and (start > 0 or end < len(unit_tokens)):
        if (after and end < len(unit_tokens)) or start == 0:
            tokens += int(unit_tokens[end])
            end += 1
        else:
            start -= 1
            tokens += int(unit_tokens[start])
        after = not after
    return start, end


def _range_maxsim(unit_max: np.ndarray, start: int, end: int) -> float:
    """MaxSim of the query against units ``[start, end)``; query tokens with no
    finite similarity there count 0, as in :func:`_window_scores`."""
    best = unit_max[:, start:end].max(axis=1)
    return float(np.where(np.isfinite(best), best, 0.0).sum())


def with_highlights(
    passage: Passage, text: str, offsets: np.ndarray, similarities: np.ndarray,
    content: np.ndarray, lexical: list[tuple[int, int]] | None = None,
) -> Passage:
    """``passage`` with its highlights: the words inside it that win a ``content``
    query token (``"semantic"``) and, given ``lexical`` (the spans of its words that
    carry a query word: :func:`~longcolbert.ranking.lexical.lexical_spans`), those words
    (``"lexical"``; ``"both"`` where a word is both)."""
    inside = (offsets[:, 0] >= passage.start) & (offsets[:, 1] <= passage.end)
    rows = np.flatnonzero(inside & (offsets[:, 1] > offsets[:, 0]))
    found = _highlights(text, offsets, similarities, content, rows, passage.start, passage.end)
    if lexical:
        found = _with_lexical(found, offsets, similarities, content, rows, lexical)
    return replace(passage, highlights=found)


def _with_lexical(
    semantic: list[Highlight], offsets: np.ndarray, similarities: np.ndarray,
    content: np.ndarray, rows: np.ndarray, lexical: list[tuple[int, int]],
) -> list[Highlight]:
    """Semantic highlights joined by the words at the ``lexical`` spans."""
    found = list(semantic)
    for start, end in lexical:
        overlapping = [i for i, h in enumerate(found) if h.start < end and start < h.end]
        if overlapping:
            for i in overlapping:
                found[i] = replace(found[i], kind="both")
            continue
        word_rows = rows[(offsets[rows, 0] >= start) & (offsets[rows, 1] <= end)]
        score = (float(similarities[np.ix_(np.flatnonzero(content), word_rows)].max())
                 if len(word_rows) and content.any() else 0.0)
        found.append(Highlight(start, end, score, "lexical"))
    return sorted(found, key=lambda h: h.start)


def _window_scores(unit_max: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """MaxSim of every window ``[start, end)`` of units, from per-unit maxima, via a sparse table.

    Level ``k`` of the table holds the max over ``2**k`` consecutive units, so any
    range max is the max of two overlapping power-of-two blocks.
    """
    if not len(starts):
        return np.zeros(0, dtype=np.float32)
    lengths = ends - starts
    levels = [unit_max]
    while (1 << len(levels)) <= lengths.max():
        previous, step = levels[-1], 1 << (len(levels) - 1)
        levels.append(np.maximum(previous[:, :-step], previous[:, step:]))
    best = np.empty((unit_max.shape[0], len(starts)), dtype=unit_max.dtype)
    level_of = np.floor(np.log2(lengths)).astype(int)
    for k in np.unique(level_of):
        chosen = np.flatnonzero(level_of == k)
        a = starts[chosen]
        b_block = a + lengths[chosen] - (1 << k)
        best[:, chosen] = np.maximum(levels[k][:, a], levels[k][:, b_block])
    finite = np.isfinite(best)
    scores = np.where(finite, best, 0.0).sum(axis=0)
    return np.where(finite.any(axis=0), scores, -np.inf)


def _unit_window_ends(unit_tokens: np.ndarray, target: int) -> np.ndarray:
    """For each start unit, the end of the shortest run of units holding at least ``target`` tokens."""
    n = len(unit_tokens)
    total = np.concatenate([[0], np.cumsum(unit_tokens)])
    ends = np.searchsorted(total, total[:-1] + target, side="left")
    return np.maximum(np.minimum(ends, n), np.arange(1, n + 1))


def _pages(start: int, end: int, page_map: list[tuple[int, int, int]] | None) -> list[int]:
    if not page_map:
        return []
    return [page for p_start, p_end, page in page_map if p_start < end and start < p_end]


def _highlights(
    text: str,
    offsets: np.ndarray,
    similarities: np.ndarray,
    content: np.ndarray,
    rows: np.ndarray,
    start: int,
    end: int,
) -> list[Highlight]:
    if len(rows) == 0 or not content.any():
        return []
    local = similarities[np.ix_(np.flatnonzero(content), rows)]
    winners = rows[local.argmax(axis=1)]
    best = local.max(axis=1)
    by_row: dict[int, float] = {}  # several query tokens often win the same row
    for row, score in zip(winners.tolist(), best.tolist()):
        by_row[row] = max(by_row.get(row, -np.inf), score)
    spans: dict[tuple[int, int], float] = {}
    for row, score in by_row.items():
        span = _word_span(text, int(offsets[row, 0]), int(offsets[row, 1]), start, end)
        if not text[span[0] : span[1]].strip():
            continue  # a bare-space token (byte-level BPE) marks nothing worth showing
        spans[span] = max(spans.get(span, -np.inf), score)
    merged: list[list] = []
    for (s, e), score in sorted(spans.items()):
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
            merged[-1][2] = max(merged[-1][2], score)
        else:
            merged.append([s, e, score])
    return [Highlight(s, e, score) for s, e, score in merged]


@functools.lru_cache(maxsize=4096)
def _is_word_char(ch: str) -> bool:
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return False  # CJK: each character stands alone
    return ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M")


def _word_span(text: str, s: int, e: int, lo: int, hi: int) -> tuple[int, int]:
    """Widen a token span to the whole word(s) it touches, within ``[lo, hi)``."""
    if s < e and _is_word_char(text[s]):
        while s > lo and _is_word_char(text[s - 1]):
            s -= 1
    if s < e and _is_word_char(text[e - 1]):
        while e < hi and _is_word_char(text[e]):
            e += 1
    return max(s, lo), min(e, hi)
