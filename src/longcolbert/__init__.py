"""longcolbert: whole-document ColBERT retrieval with passages, highlights and exact offsets.

>>> from longcolbert import Index
>>> index = Index("./my-index")                      # doctest: +SKIP
>>> index.add_files(["./reports", "./handbook.pdf"])  # doctest: +SKIP
>>> for hit in index.search("notice period for termination", k=3):  # doctest: +SKIP
...     print(hit.id, hit.passages[0].text)

The names below load their modules on first use (PEP 562), so ``import longcolbert``
and ``longcolbert --help`` do not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it
_WHERE = {
    "DEFAULT_MODEL": "encoding.model",
    "DamagedIndexError": "errors",
    "Document": "documents.loaders",
    "Highlight": "results",
    "Hit": "results",
    "Hits": "results",
    "IncompatibleModelError": "errors",
    "Index": "plaid.index",
    "IndexBackend": "backend",
    "IndexBusyError": "errors",
    "IndexVersionError": "errors",
    "InvalidInputError": "errors",
    "LoadError": "errors",
    "LongColBERTError": "errors",
    "MatchProfile": "results",
    "Passage": "results",
    "QdrantIndex": "qdrant.index",
    "Reranker": "reranker",
    "StoredDocument": "results",
    "UnsafeIndexError": "errors",
    "UnsafeModelError": "errors",
    "display": "render",
    "load_model": "encoding.model",
    "open_index": "locations",
    "passage_id": "results",
}
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
    "QdrantIndex",
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

if TYPE_CHECKING:
    from .backend import IndexBackend
    from .documents.loaders import Document
    from .encoding.model import DEFAULT_MODEL, load_model
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
    from .locations import open_index
    from .plaid.index import Index
    from .qdrant.index import QdrantIndex
    from .render import display
    from .reranker import Reranker
    from .results import Highlight, Hit, Hits, MatchProfile, Passage, StoredDocument, passage_id


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'longcolbert' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
