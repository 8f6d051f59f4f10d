"""Token vectors as a bag of shared centroids: the Qdrant backend's first stage.

PLAID's idea as a sparse vector. A collection trains one codebook (k-means over its
token vectors, :func:`~longcolbert.plaid.codec.train_centroids`); a segment's code is the
set of centroids nearest its rows, each worth 1; a query's code holds, for each
centroid among its rows' ``NPROBE`` nearest, the sum of those rows' similarities to
it. The dot product of the two adds up, query token by query token, how close each
comes to the segment's tokens through the centroids they share, so an inverted index
(Qdrant's sparse vectors) finds the segments worth scoring by MaxSim without
scanning them all. (Summed per token rather than the largest per centroid: a
prefetch of 200 segments then holds 0.994 of the exact top 10 of
``benchmarks/qdrant_path.py``'s corpus, against 0.974; 400 were needed before.)
A segment's sketch (:func:`nearest_means`) then chooses, among the segments
prefetched, those worth reading back.

>>> import torch
>>> centroids = torch.eye(4)
>>> nearest_means(torch.tensor([[0.9, 0.1, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]), centroids)[0]
[0, 2]
>>> query_codes(torch.tensor([[0.8, 0.6, 0.0, 0.0], [0.6, 0.0, 0.8, 0.0]]), centroids, nprobe=2)
{0: 1.4, 1: 0.6, 2: 0.8}
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..defaults import POINTS_PER_CENTROID, RETRAIN_GROWTH, centroid_count

if TYPE_CHECKING:  # the codec (torch) is imported by what computes: opening needs none
    import torch

NPROBE = 4  # nearest centroids of each query token (2: a larger prefetch for the same recall; benchmarks/README.md)
TRAIN_ROWS = 1 << 16  # a collection with fewer token rows has no codebook: every segment is scored


def codebook_due(written_rows: int, trained_rows: int | None, least: int = TRAIN_ROWS) -> bool:
    """Whether a collection of ``written_rows`` needs a (new) codebook: it has none and
    holds ``least`` rows, or it outgrew ``trained_rows`` by ``RETRAIN_GROWTH`` (as the
    embedded index's PLAID codec).

    >>> codebook_due(70_000, None), codebook_due(70_000, 65_536), codebook_due(300_000, 70_000)
    (True, False, True)
    """
    if trained_rows is None:
        return written_rows >= least
    return written_rows >= RETRAIN_GROWTH * trained_rows


def planned_rows(written_rows: int) -> int:
    """Token rows a codebook trained at ``written_rows`` is sized for: the geometric
    middle of the span it codes, from ``written_rows`` until the collection outgrows
    them ``RETRAIN_GROWTH`` times (a collection grows by adds, so a codebook sized for
    the rows at hand would be the coarsest one through all its life).

    >>> planned_rows(512_000)
    1024000
    """
    return round(written_rows * math.sqrt(RETRAIN_GROWTH))


def train_codebook(sample: torch.Tensor, written_rows: int) -> torch.Tensor:
    """Unit centroids for a collection of ``written_rows`` token rows, trained on
    ``sample`` (some of them): as many as the embedded index's PLAID has for
    :func:`planned_rows` rows.

    >>> import torch
    >>> rows = torch.nn.functional.normalize(torch.randn(4000, 8), dim=-1)
    >>> tuple(train_codebook(rows, 4000).shape)
    (512, 8)
    """
    from ..plaid.codec import train_centroids

    return train_centroids(sample.float().contiguous(),
                           centroid_count(planned_rows(written_rows)),
                           points_per_centroid=POINTS_PER_CENTROID)


def sample_size(written_rows: int) -> int:
    """Rows a codebook for ``written_rows`` is trained on (k-means samples this many).

    >>> sample_size(512_000)
    131072
    """
    return centroid_count(planned_rows(written_rows)) * POINTS_PER_CENTROID


def nearest_means(rows: torch.Tensor, centroids: torch.Tensor) -> tuple[list[int], torch.Tensor]:
    """A segment's code and *sketch*: the ids of the centroids nearest ``rows`` ([n, dim]),
    each once, ascending, and for each the unit mean of the rows nearest it ([ids, dim]).

    The sketch is a segment in a few rows (about one in five on
    ``benchmarks/qdrant_path.py``'s corpus), each the rows that one centroid stands
    for, not the centroid itself: MaxSim over it is cheap and ranks segments much as
    MaxSim over all their rows does, so it chooses which prefetched segments get the
    full MaxSim.

    >>> import torch
    >>> centroids = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    >>> nearest_means(torch.tensor([[0.0, -1.0], [1.0, 0.0]]), centroids)
    ([0, 2], tensor([[ 1.,  0.],
            [ 0., -1.]]))
    >>> nearest_means(torch.tensor([[0.8, 0.6], [1.0, 0.0]]), centroids)  # their mean, not the centroid
    ([0], tensor([[0.9487, 0.3162]]))
    """
    import torch

    from ..plaid.codec import assign

    rows = rows.float()
    ids, inverse = torch.unique(assign(rows, centroids), sorted=True, return_inverse=True)
    sums = torch.zeros(len(ids), rows.shape[1]).index_add_(0, inverse, rows)
    return ids.tolist(), torch.nn.functional.normalize(sums, dim=1)


def query_codes(rows: torch.Tensor, centroids: torch.Tensor, nprobe: int = NPROBE
                ) -> dict[int, float]:
    """For each centroid among the ``nprobe`` nearest of any row of ``rows`` (a query's
    token vectors), the sum of the similarities to it of the rows it is near (where
    above 0: a centroid pointing away from the query is no evidence for it)."""
    best = (rows.float() @ centroids.T).topk(min(nprobe, centroids.shape[0]), dim=1)
    codes: dict[int, float] = {}
    for code, value in zip(best.indices.reshape(-1).tolist(), best.values.reshape(-1).tolist()):
        codes[code] = codes.get(code, 0.0) + value
    return {code: round(value, 6) for code, value in sorted(codes.items()) if value > 0}
