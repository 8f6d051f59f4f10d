"""longcolbert: whole-document ColBERT retrieval with passages, highlights and exact offsets.

>>> from longcolbert import Index
>>> index = Index("./my-index")                      # doctest: +SKIP
>>> index.add_files(["./reports", "./handbook.pdf"])  # doctest: +SKIP
>>> for hit in index.search("notice period for termination", k=3):  # doctest: +SKIP
...     print(hit.id, hit.passages[0].text)
"""

from .engine import Index, Reranker
from .errors import (
    IncompatibleModelError,
    InvalidInputError,
    LoadError,
    LongColBERTError,
    UnsafeIndexError,
    UnsafeModelError,
)
from .loaders import Document
from .model import DEFAULT_MODEL, load_model
from .results import Highlight, Hit, Passage, passage_id

__all__ = [
    "DEFAULT_MODEL",
    "Document",
    "Highlight",
    "Hit",
    "IncompatibleModelError",
    "Index",
    "InvalidInputError",
    "LoadError",
    "LongColBERTError",
    "Passage",
    "Reranker",
    "UnsafeIndexError",
    "UnsafeModelError",
    "load_model",
    "passage_id",
]
__version__ = "0.1.0"
