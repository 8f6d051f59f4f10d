"""Lexical evidence for hybrid search, from SQLite's own full-text engine (FTS5).

Hybrid search joins two kinds of evidence to MaxSim:

* **term rarity**: each query token is weighted by the BM25 inverse document
  frequency of the query word it belongs to, counted over the sentence units of
  the corpus (an index) or of the texts being reranked. Rare words ("setuid",
  "lchmod") then count more than common ones ("how", "the"), whose best matches
  are everywhere and only add noise to a window's MaxSim. Tokens outside any
  word (special, prefix, expansion tokens, punctuation) get the smallest word
  weight; the weights average 1, so scores keep their scale;
* **keyword candidates**: the documents of the best BM25 units join the PLAID
  candidates, so a page that shares the query's rare words is always scored;

and highlights say which words match a query word lexically (same FTS5 term).

Terms are FTS5's: Unicode words, case and diacritics folded, Porter stems. The
embedded index keeps them in SQLite (:class:`~longcolbert.plaid.store.Store`); the Qdrant
backend keeps each sentence unit's terms in a point of its own, with their
:func:`bm25_vector` (:func:`longcolbert.qdrant.index.unit_points`), and both answer
:class:`TermStatistics`.

>>> words = Words()
>>> [term for _, _, term in words.of("Sorting the lists")]
['sort', 'the', 'list']
>>> round(idf(1, 100), 2), round(idf(50, 100), 2)
(4.21, 0.69)
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ..defaults import UNIT_BITS
from ..documents.normalize import model_view

TOKENIZE = "porter unicode61 remove_diacritics 2"
BM25_K1, BM25_B = 1.2, 0.75  # FTS5's bm25() constants
KEYWORD_UNITS_READ = 8  # best BM25 units read for each keyword-candidate document wanted
BM25_UNIT_WORDS = 10.0  # unit length a sparse BM25 vector assumes (Python's reference: 7 words on average)
_WORD = re.compile(r"[^\W_]+")  # FTS5's unicode61 words: runs of letters and digits


@functools.lru_cache(maxsize=1)
def fts5_available() -> bool:
    """Whether this Python's SQLite has FTS5 (nearly all builds do)."""
    try:
        connection = sqlite3.connect(":memory:")
        connection.execute(f"CREATE VIRTUAL TABLE probe USING fts5(x, tokenize='{TOKENIZE}')")
        connection.close()
        return True
    except sqlite3.OperationalError:
        return False


def idf(df: int, n: int) -> float:
    """BM25's inverse document frequency of a term found in ``df`` of ``n`` units."""
    return math.log((n - df + 0.5) / (df + 0.5) + 1.0)


def fts_phrase(word: str) -> str:
    """``word`` as one FTS5 phrase (a bare word could read as an operator)."""
    return '"' + word.replace('"', '""') + '"'


class Words:
    """FTS5's tokenizer and stemmer run on any text, through an in-memory table.

    Thread-safe; one is enough for a process.
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize='{TOKENIZE}')")
        self._db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        self._lock = threading.Lock()

    def of(self, text: str) -> list[tuple[int, int, str]]:
        """The words of ``text`` as ``(start, end, term)``, in order.

        Empty if FTS5 splits the text differently from its Unicode words (rare
        symbols), so callers never pair a word with another word's term.
        """
        return self.of_many([text])[0]

    def of_many(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
        """:meth:`of` for several texts, in one pass through SQLite."""
        terms = self.terms_of_many(texts)
        found = []
        for text, text_terms in zip(texts, terms):
            spans = [m.span() for m in _WORD.finditer(text)]
            found.append([(start, end, term) for (start, end), term in zip(spans, text_terms)]
                         if len(spans) == len(text_terms) else [])
        return found

    def terms_of_many(self, texts: Sequence[str]) -> list[list[str]]:
        """The FTS5 terms of each text, in order, as FTS5 indexes them."""
        with self._lock:
            self._db.execute("DELETE FROM t")
            self._db.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", enumerate(texts))
            rows = self._db.execute("SELECT doc, term FROM v ORDER BY doc, offset").fetchall()
        terms: list[list[str]] = [[] for _ in texts]
        for doc, term in rows:
            terms[doc].append(term)
        return terms


@functools.lru_cache(maxsize=1)
def shared_words() -> Words:
    """The process-wide :class:`Words`."""
    return Words()


class TermStatistics(Protocol):
    """What term rarity is counted from: sentence units, and the units holding a term
    (``lexical``: whether it can count them; SQLite without FTS5 cannot)."""

    lexical: bool

    def unit_count(self) -> int:
        """Sentence units of all documents."""
        ...

    def term_document_counts(self, terms: Sequence[str]) -> dict[str, int]:
        """How many units hold each term (absent terms may be left out)."""
        ...


class CountedTerms:
    """:class:`TermStatistics` over the sentence units of a few texts, counted in Python
    from each unit's set of FTS5 terms (what a SQLite FTS5 table over the same unit
    texts counts): a reranker's rarity over its candidates, with no table to build.

    >>> counted = CountedTerms([[{"river", "sea"}, {"sea"}], [{"bread"}]])
    >>> counted.unit_count(), counted.term_document_counts(["sea", "bread", "moon"])
    (3, {'sea': 2, 'bread': 1})
    """

    lexical = True

    def __init__(self, texts_units: Sequence[Sequence[frozenset[str] | set[str]]]):
        self._units = [terms for units in texts_units for terms in units]

    def unit_count(self) -> int:
        return len(self._units)

    def term_document_counts(self, terms: Sequence[str]) -> dict[str, int]:
        counts = {term: sum(term in unit for unit in self._units) for term in terms}
        return {term: count for term, count in counts.items() if count}


def term_id(term: str) -> int:
    """A term's index in a sparse vector: a 32-bit hash (CRC-32 of its UTF-8), the
    same in every process. Two terms may share one; that only blurs their BM25 idf.

    >>> term_id("sort")
    1361375778
    """
    return zlib.crc32(term.encode("utf-8"))


def bm25_vector(terms: Sequence[str]) -> dict[int, float]:
    """A unit's sparse BM25 vector, ``{term_id: weight}``, for a store that multiplies
    each weight by the term's idf (Qdrant's ``Modifier.IDF``): BM25's term-frequency
    part, ``tf (k1 + 1) / (tf + k1 (1 - b + b len / avg))``, with FTS5's k1 and b and
    a fixed average unit length (a writer cannot know the corpus's).

    >>> {k: round(v, 3) for k, v in bm25_vector(["sort", "list", "sort"]).items()}
    {1361375778: 1.712, 1154021400: 1.401}
    """
    norm = BM25_K1 * (1 - BM25_B + BM25_B * len(terms) / BM25_UNIT_WORDS)
    return {term_id(term): tf * (BM25_K1 + 1) / (tf + norm) for term, tf in Counter(terms).items()}


def query_token_weights(
    spans: np.ndarray, words: list[tuple[int, int, str]], document_counts: dict[str, int],
    units: int,
) -> np.ndarray:
    """Weights of a query's tokens: the idf of the word each token falls in.

    ``spans`` are the tokens' char spans in the query text (empty for tokens
    outside it), ``words`` the query's :meth:`Words.of`, ``document_counts`` the
    units holding each term, out of ``units``. Tokens outside any word get the
    smallest word weight; the weights average 1.

    >>> spans = np.array([[0, 0], [0, 3], [4, 9], [9, 10]])
    >>> words = [(0, 3, "how"), (4, 9, "lchmod")]
    >>> query_token_weights(spans, words, {"how": 500, "lchmod": 2}, 1000).round(2).tolist()
    [0.34, 0.34, 2.97, 0.34]
    """
    weights = np.full(len(spans), np.nan)
    for row, (start, end) in enumerate(np.asarray(spans).reshape(-1, 2).tolist()):
        if end <= start:
            continue
        for word_start, word_end, term in words:
            if word_start <= start < word_end:
                weights[row] = idf(document_counts.get(term, 0), max(units, 1))
                break
    known = weights[~np.isnan(weights)]
    if not len(known) or known.max() <= 0:
        return np.ones(len(spans))
    weights = np.where(np.isnan(weights), known.min(), weights)
    return weights / weights.mean()


def lexical_spans(
    passages: list[tuple[str, int, int]], query_terms: set[str], words: Words
) -> list[list[tuple[int, int]]]:
    """For each passage ``(text, start, end)``, the char spans of its words whose
    term is a query term.

    The passage is read as the model reads it (ligatures folded, line-break
    hyphens joined), so "ﬁts" matches "fits"; spans index ``text``.
    """
    views = [model_view(text[start:end], collapse=False) for text, start, end in passages]
    found = []
    for (_, start, _), view, view_words in zip(passages, views,
                                               words.of_many([v.text for v in views])):
        spans = []
        for word_start, word_end, term in view_words:
            if term in query_terms:
                s, e = view.source_span(word_start, word_end)
                spans.append((start + s, start + e))
        found.append(spans)
    return found


def unit_texts(text: str, units: np.ndarray) -> list[str]:
    """The texts a lexical index reads for a document's sentence ``units`` (char
    spans): each as the model reads it (ligatures folded, line-break hyphens joined),
    the first ``2**UNIT_BITS`` only. Both backends index these.

    >>> unit_texts("Rivers ﬂow. Seas stay.", np.array([[0, 11], [12, 22]]))
    ['Rivers flow.', 'Seas stay.']
    """
    return [model_view(text[s:e]).text for s, e in units[: 1 << UNIT_BITS].tolist()]
