"""A Qdrant collection's codebook: the shared centroids of its first stage, kept in it.

The centroids (:mod:`longcolbert.qdrant.centroid_codes`) live in the collection, so every
client codes queries with the same ones and none keeps state of its own:

* *parts*: points of kind ``"centroids"`` whose ``centroids`` multivector holds a run
  of them (float32, at most about a million floats a point), with the ``version`` of
  the codebook they belong to;
* the *head*: one point of kind ``"codebook"`` at a fixed id, saying which version is
  current, how many token rows it was trained for and how many the collection has
  been given since it was made.

A client reads the head on each search (one small request) and the parts only when
the version changed. Training a new codebook writes its parts, codes every stored
segment again (``codes``, a sparse vector), then points the head at it and deletes
the old parts; a search in between finds segments by a mix of the two, so it may
miss some, never returns a wrong one. Two clients adding at once may both train; the
last head written wins, and if its parts were deleted by the other, searches score
every segment until the next add trains again.

>>> book = Codebook(client, "docs")       # doctest: +SKIP
>>> book.centroids() is None              # doctest: +SKIP
True

(``None``: the collection holds fewer than ``TRAIN_ROWS`` token rows, so it has no
first stage yet.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .centroid_codes import TRAIN_ROWS, codebook_due, nearest_means, sample_size, train_codebook
from .filters import kind_is, point_field, scroll_points

if TYPE_CHECKING:  # torch is imported by what computes: opening a collection needs none
    import torch

HEAD_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "longcolbert:codebook"))
_POINT_FLOATS = 1_000_000  # Qdrant's per-point multivector limit, about
_SEGMENTS_READ = 16  # segments read with their token vectors per request (Python lists: bounded memory)


class Codebook:
    """The codebook of ``collection`` through ``client``, cached while its version holds.

    ``train_rows``: token rows a collection holds before it gets its first codebook
    (below, searches score every segment).
    """

    def __init__(self, client: Any, collection: str, train_rows: int = TRAIN_ROWS):
        self.client = client
        self.collection = collection
        self.train_rows = train_rows
        self._version: str | None = None
        self._centroids: torch.Tensor | None = None

    # -- reading ---------------------------------------------------------------------

    def head(self) -> dict[str, Any]:
        """The head's payload: ``version`` (None before the first codebook),
        ``trained_rows`` and ``written_rows``."""
        points, _ = self.client.scroll(self.collection, scroll_filter=_kind("codebook"),
                                       limit=1, with_payload=True)
        found = dict(points[0].payload) if points else {}
        return {"version": found.get("version"), "trained_rows": found.get("trained_rows"),
                "written_rows": int(found.get("written_rows", 0))}

    def centroids(self) -> torch.Tensor | None:
        """The current centroids ([C, dim] float32), or None while the collection has
        none; read again only when the head names another version."""
        for _ in range(3):  # a codebook replaced between reading the head and its parts
            version = self.head()["version"]
            if version is None or version == self._version:
                return self._centroids if version is not None else None
            parts = sorted(self._scroll(_kind("centroids", version), ["centroids"], True),
                           key=lambda p: point_field(p, "part"))
            if parts and len(parts) == point_field(parts[0], "parts"):
                import torch

                self._centroids = torch.cat([torch.tensor(point_field(p, "centroids", vector=True),
                                                          dtype=torch.float32) for p in parts])
                self._version = version
                return self._centroids
        return self._centroids

    # -- writing ---------------------------------------------------------------------

    def count_rows(self, new_rows: int, fresh: Sequence[torch.Tensor]) -> torch.Tensor | None:
        """Note ``new_rows`` more token rows about to be written and return the
        centroids to code them with: a new codebook first where the collection now
        needs one, trained on a sample of its stored rows and ``fresh`` (the new
        documents' rows, not stored yet), with every stored segment coded again."""
        head = self.head()
        written = head["written_rows"] + new_rows
        # a head whose parts are gone (two clients trained at once and each deleted
        # the other's) counts as no codebook: this add trains one
        kept = head["version"] is not None and self.client.count(
            self.collection, count_filter=_kind("centroids", head["version"]), exact=True).count
        trained = head["trained_rows"] if kept else None
        if codebook_due(written, trained, self.train_rows):
            return self._replace(written, fresh)
        self._put_head({**head, "written_rows": written})
        return self.centroids()

    def _replace(self, written: int, fresh: Sequence[torch.Tensor]) -> torch.Tensor:
        from qdrant_client import models

        share = min(1.0, 1.25 * sample_size(written) / max(1, written))
        import torch

        from .token_bytes import decode_rows

        generator = torch.Generator().manual_seed(written)
        sample = [_some(rows, share, generator) for rows in fresh]
        sample += [_some(decode_rows(point_field(p, "tokens", vector=True)), share, generator)
                   for p in self._scroll(_kind("segment"), ["tokens"], False)]
        centroids = train_codebook(torch.cat(sample), written)
        version = uuid.uuid4().hex
        per_part = max(1, _POINT_FLOATS // centroids.shape[1])
        runs = [centroids[i:i + per_part] for i in range(0, centroids.shape[0], per_part)]
        self.client.upsert(self.collection, wait=True, points=[models.PointStruct(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"longcolbert:codebook:{version}:{number}")),
            vector={"centroids": run.tolist()},
            payload={"kind": "centroids", "version": version, "part": number,
                     "parts": len(runs)}) for number, run in enumerate(runs)])
        self.recode(centroids)
        self._put_head({"version": version, "trained_rows": written, "written_rows": written})
        self.client.delete(self.collection, wait=True, points_selector=models.FilterSelector(
            filter=models.Filter(must=[_kind("centroids")], must_not=[models.FieldCondition(
                key="version", match=models.MatchValue(value=version))])))
        self._version, self._centroids = version, centroids
        return centroids

    def recode(self, centroids: torch.Tensor) -> None:
        """Give every stored segment its code and sketch under ``centroids``."""
        from qdrant_client import models

        from .token_bytes import decode_rows

        batch: list[Any] = []
        for point in self._scroll(_kind("segment"), ["tokens"], False):
            batch.append(models.PointVectors(id=point.id, vector=first_stage_vectors(
                decode_rows(point_field(point, "tokens", vector=True)), centroids)))
            if len(batch) == _SEGMENTS_READ:
                self.client.update_vectors(self.collection, points=batch, wait=True)
                batch = []
        if batch:
            self.client.update_vectors(self.collection, points=batch, wait=True)

    def _put_head(self, head: dict[str, Any]) -> None:
        from qdrant_client import models

        self.client.upsert(self.collection, wait=True, points=[models.PointStruct(
            id=HEAD_ID, vector={}, payload={"kind": "codebook", **head})])

    def _scroll(self, condition: Any, vectors: list[str], payload: bool) -> Iterator[Any]:
        """Every point ``condition`` selects, with the named ``vectors`` and, if
        ``payload``, its payload (segments' texts and offsets are not needed here)."""
        return scroll_points(self.client, self.collection, condition, _SEGMENTS_READ,
                             with_payload=payload, with_vectors=vectors)


def first_stage_vectors(rows: torch.Tensor, centroids: torch.Tensor) -> dict[str, Any]:
    """A segment's vectors under ``centroids``, from its token vectors ``rows``: its
    ``codes`` (sparse) and its ``sketch`` (bytes, as its tokens are stored), both from
    :func:`~longcolbert.qdrant.centroid_codes.nearest_means`."""
    from .token_bytes import row_bytes

    codes, means = nearest_means(rows, centroids)
    return {"codes": sparse_code(codes), "sketch": row_bytes(means).tolist()}


def sparse_code(codes: Sequence[int] | dict[int, float]) -> Any:
    """A Qdrant sparse vector of centroid ids: each worth 1, or the weights given."""
    from qdrant_client import models

    if isinstance(codes, dict):
        return models.SparseVector(indices=list(codes), values=list(codes.values()))
    return models.SparseVector(indices=list(codes), values=[1.0] * len(codes))


def _some(rows: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """About ``share`` of ``rows``, drawn at random."""
    if share >= 1.0:
        return rows.float()
    import torch

    return rows.float()[torch.rand(rows.shape[0], generator=generator) < share]


def _kind(kind: str, version: str | None = None) -> Any:
    """A filter on points of ``kind`` (of one codebook ``version``, if given)."""
    from qdrant_client import models

    must: list[Any] = [kind_is(kind)]
    if version is not None:
        must.append(models.FieldCondition(key="version", match=models.MatchValue(value=version)))
    return models.Filter(must=must)
