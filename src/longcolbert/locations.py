"""Where an index lives, from what the user typed: a folder or a ``qdrant://`` URL.

* ``qdrant://HOST[:PORT]/COLLECTION``: a collection on a Qdrant server (port 6333 by
  default, API key from ``QDRANT_API_KEY``); ``?shards=N&replicas=M`` sets how a
  collection made by the first add is spread over a cluster;
* a folder: the embedded index (SQLite + PLAID).

A Qdrant index kept in a local folder is not offered: qdrant-client's local mode
stores its points with pickle, so opening such a folder could run code from it.

>>> qdrant_url("qdrant://localhost/docs")
('http://localhost:6333', 'docs')
>>> qdrant_layout("qdrant://node-1:6333/docs?shards=6&replicas=2")
{'shards': 6, 'replicas': 2}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .backend import IndexBackend
from .errors import InvalidInputError


def qdrant_url(location: str) -> tuple[str, str]:
    """``(server URL, collection)`` of a ``qdrant://HOST[:PORT]/COLLECTION`` location."""
    parts = urlsplit(location)
    collection = parts.path.strip("/")
    if parts.scheme != "qdrant" or not parts.hostname or not collection or "/" in collection:
        raise InvalidInputError(
            f"{location!r} is not a Qdrant location; write qdrant://HOST[:PORT]/COLLECTION")
    return f"http://{parts.hostname}:{parts.port or 6333}", collection


def qdrant_layout(location: str) -> dict[str, int]:
    """``shards`` and ``replicas`` from a ``qdrant://`` location's query (``?shards=6&replicas=2``),
    for the collection the first add creates; empty when it names neither."""
    layout = {}
    for key, value in parse_qsl(urlsplit(location).query, keep_blank_values=True):
        if key not in ("shards", "replicas") or not value.isdigit() or int(value) < 1:
            raise InvalidInputError(
                f"{key}={value!r} in {location!r} is not understood; a Qdrant location takes "
                "?shards=N&replicas=M with whole numbers of at least 1")
        layout[key] = int(value)
    return layout


def open_index(location: str | Path, *, create: bool = False, model: Any = None,
               hybrid: bool = True, **options: Any) -> IndexBackend:
    """The index at ``location``: a Qdrant collection for ``qdrant://HOST[:PORT]/COLLECTION``
    (made on the first add), else the embedded index folder (made only with
    ``create``). ``hybrid`` applies to the embedded index.

    >>> index = open_index("qdrant://localhost/docs")     # doctest: +SKIP
    >>> index = open_index("./idx", create=True)           # doctest: +SKIP
    """
    from .engine import Index

    text = str(location)
    if text.startswith("qdrant://"):
        from .qdrant_index import QdrantIndex

        url, collection = qdrant_url(text)
        layout = qdrant_layout(text)
        return QdrantIndex(url, collection, model=model, shards=layout.get("shards"),
                           replicas=layout.get("replicas"), **options)
    return Index(Path(location), model=model, create=create, hybrid=hybrid, **options)
