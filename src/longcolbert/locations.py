"""Where an index lives, from what the user typed: a folder or a ``qdrant://`` URL.

* ``qdrant://HOST[:PORT]/COLLECTION``: a collection on a Qdrant server (port 6333 by
  default, API key from ``QDRANT_API_KEY``);
* a folder holding ``backend.json``: an index kept by Qdrant's in-process engine in
  that folder (``longcolbert index FOLDER ... --backend qdrant`` made it);
* any other folder: the embedded index (SQLite + PLAID).

>>> qdrant_url("qdrant://localhost/docs")
('http://localhost:6333', 'docs')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .backend import IndexBackend
from .errors import DamagedIndexError, InvalidInputError

Backend = Literal["embedded", "qdrant"]
BACKENDS: tuple[Backend, ...] = ("embedded", "qdrant")
RECORD = "backend.json"  # in a folder whose index Qdrant's in-process engine keeps
_COLLECTION = "longcolbert"


def qdrant_url(location: str) -> tuple[str, str]:
    """``(server URL, collection)`` of a ``qdrant://HOST[:PORT]/COLLECTION`` location."""
    parts = urlsplit(location)
    collection = parts.path.strip("/")
    if parts.scheme != "qdrant" or not parts.hostname or not collection or "/" in collection:
        raise InvalidInputError(
            f"{location!r} is not a Qdrant location; write qdrant://HOST[:PORT]/COLLECTION")
    return f"http://{parts.hostname}:{parts.port or 6333}", collection


def folder_backend(folder: Path) -> Backend:
    """The backend an index folder records (``embedded`` when it records none)."""
    record = folder / RECORD
    if not record.exists():
        return "embedded"
    try:
        backend = json.loads(record.read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, AttributeError) as exc:
        raise DamagedIndexError(f"{record} cannot be read ({type(exc).__name__})") from exc
    if backend != "qdrant":
        raise DamagedIndexError(f"{record} names an unknown backend {backend!r}")
    return "qdrant"


def open_index(location: str | Path, *, create: bool = False, backend: Backend | None = None,
               model: Any = None, hybrid: bool = True, **options: Any) -> IndexBackend:
    """The index at ``location``. ``create`` makes a new one (of ``backend``, embedded by
    default) where there is none; ``hybrid`` applies to the embedded index.

    >>> index = open_index("qdrant://localhost/docs")     # doctest: +SKIP
    >>> index = open_index("./idx", create=True, backend="qdrant")  # doctest: +SKIP
    """
    from .engine import Index

    if backend is not None and backend not in BACKENDS:
        raise InvalidInputError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    text = str(location)
    if text.startswith("qdrant://"):
        from .qdrant_index import QdrantIndex

        url, collection = qdrant_url(text)
        return QdrantIndex(url, collection, model=model, **options)
    folder = Path(location)
    found: Backend | None = None
    if (folder / RECORD).exists():
        found = folder_backend(folder)
    elif (folder / "store.sqlite").exists():
        found = "embedded"
    if found is not None and backend is not None and backend != found:
        raise InvalidInputError(
            f"{folder} holds a {found} index; leave out --backend, or give a new folder")
    chosen = found or backend or "embedded"
    if chosen == "embedded":
        return Index(folder, model=model, create=create, hybrid=hybrid, **options)
    from .qdrant_index import QdrantIndex

    if found is None:
        if not create:
            raise InvalidInputError(
                f"no longcolbert index at {folder}; create one with "
                f"`longcolbert index {folder} FILES... --backend qdrant`")
        if folder.exists() and not folder.is_dir():
            raise InvalidInputError(f"{folder} is a file; give a folder for the index")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RECORD).write_text(json.dumps({"backend": "qdrant",
                                                 "collection": _COLLECTION}) + "\n")
    return QdrantIndex(str(folder / "qdrant"), _COLLECTION, model=model, **options)
