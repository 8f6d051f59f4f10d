"""A Qdrant index in a local folder: a Qdrant Edge shard behind the client calls
:class:`~longcolbert.qdrant.index.QdrantIndex` makes.

Qdrant Edge (``qdrant-edge-py``) is Qdrant's Rust engine in process. Its folder holds
Qdrant's own segment files and JSON, so opening it runs no code (qdrant-client's local
mode, which pickles its points, is never used for a folder). :class:`EdgeClient`
answers the dozen ``QdrantClient`` methods that ``QdrantIndex`` uses, translating
qdrant-client's request models into Edge's, so the Qdrant backend has one code path
for a server and for a folder. The folder holds::

    qdrant-edge.json   {"format": 1, "collection": ..., "metadata": {"longcolbert_model": ...},
                        "anchor": true}
    shard/             the Edge shard (one shard: a folder lives on one machine)

The shard holds one *anchor* point (no vectors, ``kind`` ``"anchor"``) from its
creation on: a shard that lost its points (a removed segment, a truncated id
tracker) has lost it too, and is refused as damaged instead of read as empty.

Qdrant Edge cannot match ``true`` / ``false`` payload values (it reads them as 1 / 0),
so a filter on a boolean metadata value is refused with the remedy.

>>> is_edge_folder("/nonexistent")
False
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable, Mapping

from ..errors import DamagedIndexError, IndexBusyError, InvalidInputError, LongColBERTError
from ..folders import check_folder
from .filters import point_field

MARKER = "qdrant-edge.json"
SHARD = "shard"
FORMAT = 1
ANCHOR_ID = "00000000-0000-0000-0000-00000000a4c0"  # the point every shard keeps


def is_edge_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder made by the Qdrant backend (``--backend qdrant``)."""
    return (Path(path) / MARKER).is_file()


def _edge() -> Any:
    try:
        import qdrant_edge
    except ImportError as exc:
        raise InvalidInputError(
            "a Qdrant index folder needs Qdrant Edge; install it with "
            "pip install \"longcolbert[qdrant]\"") from exc
    return qdrant_edge


def _edge_failure(folder: Path, exc: BaseException) -> LongColBERTError:
    """What an error of Qdrant Edge means for the user, in one line: the folder is open
    in another process (its write-ahead log is locked), or it is damaged. A damaged
    shard can make Edge's Rust code panic: that comes as a ``BaseException``
    (pyo3's PanicException), caught here too."""
    reason = " ".join(str(exc).split())[:200] or type(exc).__name__
    if "WouldBlock" in reason:
        return IndexBusyError(
            f"{folder} is open in another process (a notebook, another search); a Qdrant "
            "folder takes one process at a time: close the other one, or serve the index "
            "from a Qdrant server (qdrant://HOST/COLLECTION) to share it")
    return DamagedIndexError(f"the Qdrant Edge shard in {folder} cannot be read ({reason})")


class _Guarded:
    """An Edge shard whose every call turns Edge's errors and Rust panics into one
    :class:`~longcolbert.errors.LongColBERTError` line (see :func:`_edge_failure`)."""

    def __init__(self, folder: Path, open_shard: Any):
        self._folder = folder
        self._shard = self._call(open_shard)

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (KeyboardInterrupt, SystemExit, GeneratorExit, LongColBERTError):
            raise
        except BaseException as exc:  # Edge's panics are BaseExceptions
            raise _edge_failure(self._folder, exc) from None

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._shard, name)
        if not callable(attribute):
            return attribute
        return lambda *args, **kwargs: self._call(attribute, *args, **kwargs)


class EdgeClient:
    """The ``QdrantClient`` methods ``QdrantIndex`` calls, on a Qdrant Edge shard in ``path``.

    >>> client = EdgeClient("./idx")                       # doctest: +SKIP
    >>> index = QdrantIndex(client, "longcolbert")          # doctest: +SKIP
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        check_folder(self.path)  # nothing in it may lead out of it
        self._edge = _edge()
        self._shard: Any = None
        self._marker: dict[str, Any] | None = None
        if is_edge_folder(self.path):
            self._marker = self._read_marker()
            self._shard = _Guarded(self.path, lambda: self._edge.EdgeShard.load(
                str(self.path / SHARD)))
            if self._marker.get("anchor") and self._anchors() != 1:
                self.close()
                raise DamagedIndexError(f"the Qdrant Edge shard in {self.path} has lost its "
                                        "points (its anchor point is gone)")

    def _read_marker(self) -> dict[str, Any]:
        try:
            marker = json.loads((self.path / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DamagedIndexError(f"{self.path / MARKER} cannot be read ({exc})") from exc
        if not isinstance(marker, dict) or marker.get("format") != FORMAT:
            raise DamagedIndexError(f"{self.path / MARKER} is not a longcolbert Qdrant folder "
                                    f"of format {FORMAT}")
        return marker

    # -- collections -------------------------------------------------------------------

    def collection_exists(self, name: str) -> bool:
        return self._marker is not None and self._marker.get("collection") == name

    def get_collection(self, name: str) -> Any:
        metadata = (self._marker or {}).get("metadata")
        return SimpleNamespace(config=SimpleNamespace(metadata=metadata))

    def create_collection(self, name: str, vectors_config: Mapping[str, Any],
                          sparse_vectors_config: Mapping[str, Any] | None = None,
                          metadata: Mapping[str, Any] | None = None,
                          shard_number: int | None = None,
                          replication_factor: int | None = None) -> bool:
        if (shard_number or 1) > 1 or (replication_factor or 1) > 1:
            raise InvalidInputError(
                "a Qdrant index folder is one shard on one machine; use a Qdrant server "
                "(qdrant://HOST/COLLECTION?shards=N&replicas=M) to shard or replicate")
        E = self._edge
        vectors = {key: self._vector_params(params) for key, params in vectors_config.items()}
        sparse = {key: E.EdgeSparseVectorParams(
                      modifier=E.Modifier.Idf if params.modifier is not None else None)
                  for key, params in (sparse_vectors_config or {}).items()}
        self.path.mkdir(parents=True, exist_ok=True)
        self._shard = _Guarded(self.path, lambda: E.EdgeShard.create(
            str(self.path / SHARD), E.EdgeConfig(
                vectors=vectors, sparse_vectors=sparse,
                # the payload through the page cache: a search reads its best documents'
                # payloads (Edge's default reads them from disk each time, about twice
                # as slow until they were read once: benchmarks/qdrant_path.py)
                payload_memory=E.Memory.Cached)))
        self._shard.update(E.UpdateOperation.upsert_points(
            [E.Point(ANCHOR_ID, {}, {"kind": "anchor"})]))
        self._marker = {"format": FORMAT, "collection": name, "metadata": dict(metadata or {}),
                        "anchor": True}
        (self.path / MARKER).write_text(json.dumps(self._marker), encoding="utf-8")
        return True

    def _anchors(self) -> int:
        E = self._edge
        return int(self._shard.count(E.CountRequest(exact=True, filter=E.Filter(
            must=[E.FieldCondition("kind", match=E.MatchValue("anchor"))]))))

    def _vector_params(self, params: Any) -> Any:
        E = self._edge
        multivector = None
        if params.multivector_config is not None:
            multivector = E.MultiVectorConfig(E.MultiVectorComparator.MaxSim)
        hnsw = None
        if params.hnsw_config is not None and params.hnsw_config.m == 0:
            hnsw = E.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000)
        datatype = {"float16": E.VectorStorageDatatype.Float16,
                    "uint8": E.VectorStorageDatatype.Uint8}.get(
            str(getattr(params.datatype, "value", "")))
        return E.EdgeVectorParams(size=params.size, distance=E.Distance.Dot,
                                  multivector_config=multivector, datatype=datatype,
                                  hnsw_config=hnsw)

    def create_payload_index(self, name: str, field: str, field_schema: Any) -> None:
        E = self._edge
        schema = {"keyword": E.PayloadSchemaType.Keyword, "integer": E.PayloadSchemaType.Integer,
                  "bool": E.PayloadSchemaType.Bool}[str(getattr(field_schema, "value", field_schema))]
        self._shard.update(E.UpdateOperation.create_field_index(field, schema))

    # -- writing -----------------------------------------------------------------------

    def upsert(self, name: str, points: Iterable[Any], wait: bool = True) -> None:
        E = self._edge
        self._shard.update(E.UpdateOperation.upsert_points(
            [E.Point(p.id, {key: self._vector(v) for key, v in p.vector.items()}, p.payload)
             for p in points]))

    def _vector(self, vector: Any) -> Any:
        from qdrant_client import models

        if isinstance(vector, models.SparseVector):
            return self._edge.SparseVector(list(vector.indices), list(vector.values))
        return vector

    def update_vectors(self, name: str, points: Iterable[Any], wait: bool = True) -> None:
        """Replace the named vectors of existing points (``models.PointVectors``)."""
        E = self._edge
        self._shard.update(E.UpdateOperation.update_vectors(
            [E.PointVectors(p.id, {key: self._vector(v) for key, v in p.vector.items()})
             for p in points]))

    def delete(self, name: str, points_selector: Any, wait: bool = True) -> None:
        self._shard.update(self._edge.UpdateOperation.delete_points_by_filter(
            self._filter(points_selector.filter)))

    def set_payload(self, name: str, payload: Mapping[str, Any], points: Any,
                    wait: bool = True) -> None:
        self._shard.update(self._edge.UpdateOperation.set_payload_by_filter(
            self._filter(points), dict(payload)))

    # -- reading -----------------------------------------------------------------------

    def count(self, name: str, count_filter: Any = None, exact: bool = True) -> Any:
        return SimpleNamespace(count=self._shard.count(
            self._edge.CountRequest(exact=True, filter=self._filter(count_filter))))

    def scroll(self, name: str, scroll_filter: Any = None, limit: int = 10,
               offset: Any = None, with_payload: Any = True,
               with_vectors: Any = False) -> tuple[list[Any], Any]:
        return self._shard.scroll(self._edge.ScrollRequest(
            offset=offset, limit=limit, filter=self._filter(scroll_filter),
            with_payload=with_payload, with_vector=with_vectors))

    def query_points_groups(self, name: str, query: Any, using: str, group_by: str,
                            prefetch: Any, query_filter: Any, limit: int,
                            group_size: int = 1, with_payload: Any = False) -> Any:
        """Edge has no grouping: the prefetched points (every point ``query_filter``
        selects, without ``prefetch``), rescored, grouped here by ``group_by``, each
        group at its best point's place (``group_size`` 1)."""
        E = self._edge
        prefetches = None if prefetch is None else [self._prefetch(prefetch)]
        request = E.QueryRequest(
            limit=(max(1, self.count(name, query_filter).count) if prefetch is None
                   else prefetch.limit),
            query=E.Query.Nearest(query, using=using), prefetches=prefetches,
            filter=self._filter(query_filter), with_payload=[group_by], with_vector=False)
        groups: dict[str, None] = {}
        for point in self._shard.query(request):
            groups.setdefault(str(point_field(point, group_by)), None)
            if len(groups) == limit:
                break
        return SimpleNamespace(groups=[SimpleNamespace(id=key) for key in groups])

    def query_points(self, name: str, query: Any, using: str, query_filter: Any, limit: int,
                     with_payload: Any = False) -> Any:
        """The ``limit`` best points for one vector query (dense or sparse)."""
        E = self._edge
        points = self._shard.query(E.QueryRequest(
            limit=limit, query=E.Query.Nearest(self._vector(query), using=using),
            filter=self._filter(query_filter), with_payload=with_payload, with_vector=False))
        return SimpleNamespace(points=points)

    def optimize(self) -> None:
        """Run Qdrant's optimizer where the folder needs it (merging small segments,
        dropping the space of rewritten payloads): a server does this by itself, an
        Edge folder only when asked. Returns at once when nothing is due."""
        self._shard.optimize()

    def size_bytes(self) -> int:
        """Bytes the folder's files take on disk. Qdrant maps files of 32 MiB and more
        that stay sparse until written, so their apparent size says little: blocks are
        counted where the system reports them (not on Windows: apparent size there)."""
        return sum(stat.st_blocks * 512 if hasattr(stat, "st_blocks") else stat.st_size
                   for stat in (p.stat() for p in self.path.rglob("*") if p.is_file()))

    def close(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None

    # -- qdrant-client request models to Edge's -------------------------------------------

    def _prefetch(self, prefetch: Any) -> Any:
        """A ``models.Prefetch`` as Edge's, with the prefetches nested in it."""
        inner = prefetch.prefetch
        inner = [] if inner is None else inner if isinstance(inner, list) else [inner]
        return self._edge.Prefetch(
            limit=prefetch.limit, filter=self._filter(prefetch.filter),
            query=self._edge.Query.Nearest(self._vector(prefetch.query), using=prefetch.using),
            prefetches=[self._prefetch(p) for p in inner] or None)

    def _filter(self, condition: Any) -> Any:
        if condition is None:
            return None
        E = self._edge

        def each(part: Any) -> list[Any] | None:
            if part is None:
                return None
            return [self._condition(c) for c in (part if isinstance(part, list) else [part])]

        return E.Filter(must=each(condition.must), should=each(condition.should),
                        must_not=each(condition.must_not))

    def _condition(self, condition: Any) -> Any:
        from qdrant_client import models

        E = self._edge
        if isinstance(condition, models.Filter):
            return self._filter(condition)
        if isinstance(condition, models.IsNullCondition):
            return E.IsNullCondition(condition.is_null.key)
        if isinstance(condition, models.IsEmptyCondition):
            return E.IsEmptyCondition(condition.is_empty.key)
        if isinstance(condition, models.HasIdCondition):
            return E.HasIdCondition(set(condition.has_id))
        if isinstance(condition, models.FieldCondition):
            if condition.range is not None:
                r = condition.range
                return E.FieldCondition(condition.key, range=E.RangeFloat(
                    gte=r.gte, gt=r.gt, lte=r.lte, lt=r.lt))
            match = condition.match
            values = [match.value] if isinstance(match, models.MatchValue) else list(
                getattr(match, "any", None) or getattr(match, "except_", None) or [])
            if any(isinstance(v, bool) for v in values):
                raise InvalidInputError(
                    f"a Qdrant index folder cannot filter on true/false ({condition.key!r}): "
                    "Qdrant Edge reads them as 1/0; store the field as text or 0/1, or use "
                    "the embedded index or a Qdrant server")
            if isinstance(match, models.MatchValue):
                return E.FieldCondition(condition.key, match=E.MatchValue(match.value))
            if isinstance(match, models.MatchAny):
                return E.FieldCondition(condition.key, match=E.MatchAny(list(match.any)))
            if isinstance(match, models.MatchExcept):
                return E.FieldCondition(condition.key,
                                        match=E.MatchExcept(list(match.except_)))
        raise InvalidInputError(f"this filter condition is not supported on a Qdrant index "
                                f"folder: {condition!r}")
