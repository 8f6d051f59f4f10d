"""Where an index lives, from what the user typed: a folder or a ``qdrant://`` URL.

* ``qdrant://HOST[:PORT]/COLLECTION``: a collection on a Qdrant server (port 6333 by
  default, API key from ``QDRANT_API_KEY``); ``?shards=N&replicas=M`` sets how a
  collection made by the first add is spread over a cluster;
* a folder: the embedded index (SQLite + PLAID), or, made with ``backend="qdrant"``
  (``--backend qdrant``), a Qdrant Edge shard (:mod:`longcolbert.qdrant.edge_client`).

qdrant-client's local mode, which stores its points with pickle, is never used for
a folder: opening one could run code from it.

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
from .documents.checks import check_choice
from .errors import InvalidInputError
from .qdrant.edge_client import is_edge_folder

BACKENDS = ("embedded", "qdrant")
EDGE_COLLECTION = "longcolbert"  # the one collection of a Qdrant index folder


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
        if key not in ("shards", "replicas") or not (value.isascii() and value.isdigit()) \
                or int(value) < 1:
            raise InvalidInputError(
                f"{key}={value!r} in {location!r} is not understood; a Qdrant location takes "
                "?shards=N&replicas=M with whole numbers of at least 1")
        layout[key] = int(value)
    return layout


def open_index(location: str | Path, *, create: bool = False, model: Any = None,
               hybrid: bool = True, backend: str | None = None, **options: Any) -> IndexBackend:
    """The index at ``location``: a Qdrant collection for ``qdrant://HOST[:PORT]/COLLECTION``
    (made on the first add), else the index folder there (made only with ``create``):
    the embedded index, or a Qdrant Edge folder where one was made with
    ``backend="qdrant"``; a folder records its backend, so later opens need none.
    ``hybrid=False`` is MaxSim alone, on either backend.

    >>> index = open_index("qdrant://localhost/docs")                  # doctest: +SKIP
    >>> index = open_index("./idx", create=True)                        # doctest: +SKIP
    >>> index = open_index("./qidx", create=True, backend="qdrant")     # doctest: +SKIP
    """
    from .plaid.index import STORE_FILE, Index

    check_choice("backend", backend or "embedded", BACKENDS)
    text = str(location)
    if text.startswith("qdrant://"):
        from .qdrant.index import QdrantIndex

        url, collection = qdrant_url(text)
        layout = qdrant_layout(text)
        return QdrantIndex(url, collection, model=model, shards=layout.get("shards"),
                           replicas=layout.get("replicas"), hybrid=hybrid, **options)
    folder = Path(location)
    edge, embedded = is_edge_folder(folder), (folder / STORE_FILE).exists()
    if (edge and (embedded or backend == "embedded")) or (embedded and backend == "qdrant"):
        raise InvalidInputError(
            f"{folder} holds {'an embedded' if embedded else 'a Qdrant'} index; leave out "
            "--backend, or give another folder")
    if edge or (backend == "qdrant" and create):
        from .qdrant.edge_client import EdgeClient
        from .qdrant.index import QdrantIndex

        return QdrantIndex(EdgeClient(folder), EDGE_COLLECTION, model=model, hybrid=hybrid,
                           **options)
    return Index(folder, model=model, create=create, hybrid=hybrid, **options)
