"""The text as the model should see it, with every character mapped back to the stored text.

The store keeps a document byte for byte; the model reads a cleaner view of it:

* compatibility characters folded (NFKC): ligatures such as "ﬁ" become "fi",
  full-width letters and digits their ASCII forms, no-break spaces plain spaces;
* words hyphenated at a line break joined again ("abbrevia-\\ntion" reads
  "abbreviation"), as PDF text from LaTeX is full of them;
* runs of whitespace collapsed: one space, or one blank line where the run holds
  two line breaks or more, so indentation and hard wraps cost no model tokens;
* lowercased, for models that lowercase (mxbai-edge-colbert does).

Each character of the view knows the range of stored characters it came from
(``starts[i]:ends[i]``), so a token's span in the view maps to an exact span of
the stored text.

>>> view = model_view("The ﬁrst  para-\\ngraph.", lowercase=True)
>>> view.text
'the first paragraph.'
>>> view.source_span(4, 9)  # "first" in the view: "ﬁrst" in the stored text
(4, 8)
>>> view.source_span(10, 19)  # "paragraph" spans the hyphen and the line break
(10, 21)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

# A hyphen at the end of a line, after a letter and before a lowercase letter.
_HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])(?<!-)-[ \t]*\r?\n[ \t]*(?=[^\W\d_])")
_WHITESPACE = re.compile(r"\s+")
_NOT_ASCII = re.compile(r"[^\x00-\x7f]+")


@dataclass(frozen=True)
class ModelView:
    """``text`` as the model reads it; view character ``i`` came from stored
    characters ``starts[i]:ends[i]``."""

    text: str
    starts: np.ndarray  # int64 [len(text)]
    ends: np.ndarray  # int64 [len(text)]

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The stored-text span of view characters ``start:end`` (``end > start``)."""
        return int(self.starts[start]), int(self.ends[end - 1])

    def source_spans(self, spans: np.ndarray) -> np.ndarray:
        """:meth:`source_span` of many ``[n, 2]`` view spans; empty spans stay empty."""
        spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        if not len(self.text) or not len(spans):
            return np.zeros_like(spans)
        last = len(self.text) - 1
        starts = self.starts[np.minimum(spans[:, 0], last)]
        ends = self.ends[np.clip(spans[:, 1] - 1, 0, last)]
        ends = np.where(spans[:, 1] > spans[:, 0], ends, starts)
        return np.stack([starts, np.maximum(ends, starts)], axis=1)


def model_view(text: str, *, lowercase: bool = False, collapse: bool = True) -> ModelView:
    """Fold, de-hyphenate, collapse whitespace in (and optionally lowercase) ``text``;
    leading and trailing whitespace is dropped. See the module docstring.

    ``collapse=False`` keeps the whitespace as it is (what a word tokenizer
    ignores anyway); then plain ASCII without line-break hyphens costs nothing.
    """
    if not collapse and not lowercase and text.isascii() and not _HYPHEN_BREAK.search(text):
        return _identity(text)
    view = _identity(text)
    if not unicodedata.is_normalized("NFKC", text):
        view = _compose(view, _fold_compatibility(view.text))
    view = _compose(view, _join_hyphens(view.text))
    if collapse:
        view = _compose(view, _collapse(view.text))
    if lowercase:
        view = _compose(view, _lowercase(view.text))
    return view


def _identity(text: str) -> ModelView:
    positions = np.arange(len(text), dtype=np.int64)
    return ModelView(text, positions, positions + 1)


def _compose(outer: ModelView, inner: ModelView) -> ModelView:
    """``inner`` is a view of ``outer.text``; the result maps ``inner.text`` to
    what ``outer`` maps from."""
    if not len(inner.text):
        return inner
    return ModelView(inner.text, outer.starts[inner.starts], outer.ends[inner.ends - 1])


def _apply(text: str, edits: list[tuple[int, int, str]]) -> ModelView:
    """``text`` with sorted, non-overlapping edits ``(start, end, replacement)``;
    each replacement character maps to its whole ``start:end``."""
    if not edits:
        return _identity(text)
    # segments in output order: kept text, replacement, kept text, ..., kept text
    pieces, source, lengths, kept, ends, position = [], [], [], [], [], 0
    for start, end, replacement in edits:
        pieces += [text[position:start], replacement]
        source += [position, start]
        lengths += [start - position, len(replacement)]
        kept += [True, False]
        ends += [0, end]
        position = end
    pieces.append(text[position:])
    source.append(position)
    lengths.append(len(text) - position)
    kept.append(True)
    ends.append(0)
    lengths_ = np.asarray(lengths, dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(lengths_)[:-1]])  # each segment's first output char
    within = np.arange(int(lengths_.sum()), dtype=np.int64) - np.repeat(first, lengths_)
    is_kept = np.repeat(np.asarray(kept), lengths_)
    starts = np.repeat(np.asarray(source, dtype=np.int64), lengths_) + np.where(is_kept, within, 0)
    stops = np.where(is_kept, starts + 1, np.repeat(np.asarray(ends, dtype=np.int64), lengths_))
    return ModelView("".join(pieces), starts, stops)


def _fold_compatibility(text: str) -> ModelView:
    """NFKC, applied to each base character with its combining marks."""
    edits = []
    for run in _NOT_ASCII.finditer(text):
        # a combining mark may follow an ASCII base letter: start one character early
        position = run.start() - 1 if run.start() else 0
        while position < run.end():
            cluster_end = position + 1
            while cluster_end < len(text) and unicodedata.combining(text[cluster_end]):
                cluster_end += 1
            cluster = text[position:cluster_end]
            folded = unicodedata.normalize("NFKC", cluster)
            if folded != cluster:
                edits.append((position, cluster_end, folded))
            position = cluster_end
    return _apply(text, edits)


def _join_hyphens(text: str) -> ModelView:
    """Join words hyphenated at a line break (before a lowercase letter)."""
    return _apply(text, [(m.start(), m.end(), "") for m in _HYPHEN_BREAK.finditer(text)
                         if text[m.end()].islower()])


def _collapse(text: str) -> ModelView:
    """One space per run of whitespace (a blank line where the run holds two line
    breaks); no whitespace at either end."""
    edits = []
    for m in _WHITESPACE.finditer(text):
        if m.start() == 0 or m.end() == len(text):
            edits.append((m.start(), m.end(), ""))
            continue
        run = m.group()
        wanted = "\n\n" if run.count("\n") >= 2 else " "
        if run != wanted:
            edits.append((m.start(), m.end(), wanted))
    return _apply(text, edits)


def _lowercase(text: str) -> ModelView:
    """``text.lower()``; a character whose lowercase is longer ("İ") maps each of
    its lowercase characters back to itself."""
    lowered = text.lower()
    if len(lowered) == len(text):  # the usual case: one character each
        same = _identity(text)
        return ModelView(lowered, same.starts, same.ends)
    longer = [(i, i + 1, ch.lower()) for i, ch in enumerate(text) if len(ch.lower()) != 1]
    view = _apply(text, longer)
    return ModelView(view.text.lower(), view.starts, view.ends)
