"""longcolbert: whole-document ColBERT retrieval with passages, highlights and exact offsets.

>>> from longcolbert import Index
>>> index = Index("./my-index")                      # doctest: +SKIP
>>> index.add_files(["./reports", "./handbook.pdf"])  # doctest: +SKIP
>>> for hit in index.search("notice period for termination", k=3):  # doctest: +SKIP
...     print(hit.id, hit.passages[0].text)
"""

from .backend import IndexBackend
from .engine import Index, Reranker
from .errors import (
    DamagedIndexError,
    IncompatibleModelError,
    IndexBusyError,
    IndexVersionError,
    InvalidInputError,
    LoadError,
    LongColBERTError,
    UnsafeIndexError,
    UnsafeModelError,
)
from .loaders import Document
from .locations import open_index
from .model import DEFAULT_MODEL, load_model
from .profile import MatchProfile
from .render import display
from .results import Highlight, Hit, Hits, Passage, passage_id
from .store import StoredDocument

__all__ = [
    "DEFAULT_MODEL",
    "DamagedIndexError",
    "Document",
    "Highlight",
    "Hit",
    "Hits",
    "IncompatibleModelError",
    "Index",
    "IndexBackend",
    "IndexBusyError",
    "IndexVersionError",
    "InvalidInputError",
    "LoadError",
    "LongColBERTError",
    "MatchProfile",
    "Passage",
    "Reranker",
    "StoredDocument",
    "UnsafeIndexError",
    "UnsafeModelError",
    "display",
    "load_model",
    "open_index",
    "passage_id",
]
__version__ = "0.1.0"
