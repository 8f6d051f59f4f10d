"""The tunable defaults, named once: every module and adapter that needs one imports it.

>>> TOKEN_BUDGET, PASSAGE_TOKENS, DOCUMENT_SCORES
(8192, 150, ('passage', 'maxsim'))
"""

from __future__ import annotations

from typing import Literal

DocumentScore = Literal["passage", "maxsim"]
"""How a document is ranked: ``"passage"``, the MaxSim of its best window of sentences
plus its special tokens; ``"maxsim"``, every token (README, "document score")."""
DOCUMENT_SCORES: tuple[DocumentScore, ...] = ("passage", "maxsim")

PASSAGE_TOKENS = 150  # target passage length, tuned in benchmarks/passage_quality.py
CANDIDATES = 30  # PLAID candidates scored exactly per search (benchmarks/query_path.py)
TOKEN_BUDGET = 8192  # tokens of one model forward: bounds encoding memory
BATCH_TOKENS = 1 << 18  # tokens an add encodes and compresses before parking them on disk
PROGRESS_FROM_TOKENS = 50_000  # a progress bar by default from this many tokens
TOP_N = 5  # what the rerankers of both integrations keep by default
SQL_CHUNK = 500  # ids per SQL statement, well under SQLite's limit on variables
