"""The tunable defaults, named once: every module and adapter that needs one imports it.

>>> TOKEN_BUDGET, PASSAGE_TOKENS, DOCUMENT_SCORES
(8192, 150, ('passage', 'maxsim'))
"""

from __future__ import annotations

import math
from typing import Literal

DocumentScore = Literal["passage", "maxsim"]
"""How a document is ranked: ``"passage"``, the MaxSim of its best window of sentences
plus its special tokens; ``"maxsim"``, every token (docs/concepts.md, "document score")."""
DOCUMENT_SCORES: tuple[DocumentScore, ...] = ("passage", "maxsim")

PASSAGE_TOKENS = 150  # target passage length, tuned in benchmarks/passage_quality.py
CANDIDATES = 30  # PLAID candidates scored exactly per search (benchmarks/query_path.py)
TOKEN_BUDGET = 8192  # tokens of one model forward: bounds encoding memory
BATCH_TOKENS = 1 << 18  # tokens an add encodes and compresses before parking them on disk
PROGRESS_FROM_TOKENS = 50_000  # a progress bar by default from this many tokens
TOP_N = 5  # what the rerankers of both integrations keep by default
SQL_CHUNK = 500  # ids per SQL statement, well under SQLite's limit on variables
POINTS_PER_CENTROID = 16  # k-means training points per centroid (PLAID codec, Qdrant codebook)
KEYWORD_CANDIDATES = 10  # documents of the best BM25 units that join the first stage's candidates
UNIT_BITS = 24  # a document holds fewer than 2**24 sentence units (their FTS5 keys, the lexical texts)
RETRAIN_GROWTH = 4  # centroids are trained again once an index outgrows their training set this much

SETTING_HELP = {
    "hybrid": "Add lexical evidence (SQLite FTS5 / Qdrant sparse words): query words weighted "
              "by rarity, keyword candidates, keyword highlights. None: the index's own "
              "(on by default).",
    "reread": "Score the best candidate passages again as read alone, from the rows an "
              "index stores for it (nearly free; an index built with reread=False encodes "
              "them per search). None: the index's own (on by default).",
    "candidates": "Documents scored exactly after the first stage (30 by default; more is "
                  "slower and finds a little more). None: the index's own.",
    "device": "Torch device for the model (\"cuda\", \"cpu\"...); by default PyLate's choice.",
}
"""What each search and model setting does, worded once for every adapter's fields."""

RERANK_HELP = {
    "hybrid": "Weight query words by their rarity among the candidates' sentences (the "
              "index's, for candidates from the reranker's index) and mark keywords in "
              "highlights (on by default).",
    "reread": "Score each candidate's best passages again, each encoded alone (on by "
              "default; off is faster).",
    "cache": "Bytes of encoded texts kept in memory for the next rerank (least recently "
             "used first out; 0 keeps none); engine.cache.stats() counts hits and misses.",
    "cache_folder": "Also keep encoded texts in this folder (NumPy files, no pickle), within "
                    "cache_bytes, so a new process starts warm.",
    "index": "The longcolbert index the candidates came from (an index, or the vector store "
             "or retriever over it), built with the same model: its documents and their "
             "passages are scored from its stored vectors, not encoded (engine.stored counts "
             "them).",
}
"""The rerankers' settings, as :data:`SETTING_HELP` words the indexes'."""


def centroid_count(n_tokens: int) -> int:
    """Centroids for an index of ``n_tokens`` (PLAID codec, Qdrant codebook): the power
    of two nearest ``8 * sqrt(n)``.

    >>> centroid_count(1_000_000)
    8192
    """
    return 1 << max(0, round(math.log2(8 * math.sqrt(max(n_tokens, 1)))))
