"""Residual compression of token embeddings, as in PLAID: a centroid id plus a few bits per dimension.

Each embedding ``v`` becomes the id of its nearest centroid ``c`` and the residual
``v - c`` quantized per dimension into ``2**nbits`` buckets (one scalar quantizer
per dimension, fitted to the training residuals by Lloyd-Max iterations). With
``nbits=4`` and 64 dimensions a token costs 2 bytes of centroid id and 32 bytes of
residual codes. Decompression adds the bucket values back to the centroid and
renormalises.

>>> import torch
>>> vectors = torch.nn.functional.normalize(torch.randn(2000, 16), dim=-1)
>>> codec = ResidualCodec.train(vectors, seed=0)
>>> codes, residuals = codec.compress(vectors)
>>> restored = codec.decompress(codes, residuals)
>>> bool((restored * vectors).sum(-1).mean() > 0.95)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..defaults import POINTS_PER_CENTROID, centroid_count
from ..errors import InvalidInputError

_SCORES_PER_CHUNK = 1 << 24  # floats in one points x centroids block (64 MB): bounds k-means memory
_BYTE_ELEMENT = {1: torch.float32, 2: torch.float64}  # values per byte -> element of that size


def train_centroids(
    vectors: torch.Tensor,
    k: int,
    *,
    generator: torch.Generator | None = None,
    points_per_centroid: int = POINTS_PER_CENTROID,
    iterations: int = 4,
    seed: int = 42,
) -> torch.Tensor:
    """``min(k, n)`` unit centroids of ``vectors`` ([n, dim] float32): k-means on a
    sample of ``k * points_per_centroid`` rows drawn with ``generator``.

    >>> rows = torch.nn.functional.normalize(torch.randn(500, 8), dim=-1)
    >>> tuple(train_centroids(rows, 16, seed=0).shape)
    (16, 8)
    """
    from fastkmeans import FastKMeans

    n = vectors.shape[0]
    k = min(k, n)
    if n <= k:
        return vectors.clone()
    generator = generator or torch.Generator().manual_seed(seed)
    sample = vectors[torch.randperm(n, generator=generator)[: k * points_per_centroid]]
    block = max(1024, int(math.sqrt(_SCORES_PER_CHUNK)))
    kmeans = FastKMeans(vectors.shape[1], k, niter=iterations, gpu=False, seed=seed,
                        verbose=False, chunk_size_data=block, chunk_size_centroids=block)
    kmeans.train(sample.numpy())
    return torch.nn.functional.normalize(torch.from_numpy(kmeans.centroids), dim=-1)


@dataclass
class ResidualCodec:
    """Centroids plus per-dimension residual buckets; see the module docstring."""

    centroids: torch.Tensor  # float32 [K, dim]
    cutoffs: torch.Tensor  # float32 [dim, 2**nbits - 1], bucket edges
    weights: torch.Tensor  # float32 [dim, 2**nbits], bucket values
    nbits: int
    trained_tokens: int  # tokens in the index when the codec was trained

    def __post_init__(self) -> None:
        if self.nbits not in (1, 2, 4, 8):
            raise InvalidInputError(f"nbits must be 1, 2, 4 or 8 (got {self.nbits})")
        per_byte = 8 // self.nbits
        if self.dim % per_byte:
            raise InvalidInputError(
                f"{self.dim}-dimensional embeddings cannot be packed {per_byte} per byte; "
                "use nbits=8"
            )
        self._table = self._byte_table()

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])

    @property
    def code_dtype(self) -> np.dtype:
        return np.dtype(np.uint16 if self.centroids.shape[0] <= 1 << 16 else np.int32)

    @classmethod
    def train(
        cls,
        embeddings: torch.Tensor,
        *,
        nbits: int = 4,
        n_centroids: int | None = None,
        points_per_centroid: int = POINTS_PER_CENTROID,
        iterations: int = 4,
        seed: int = 42,
        trained_tokens: int | None = None,
    ) -> "ResidualCodec":
        """Fit centroids (k-means) and residual buckets on ``embeddings`` ([n, dim]).

        ``trained_tokens`` is the size of the index the codec is for (default ``n``):
        the embeddings may be a sample of it.
        """
        vectors = embeddings.float().cpu().contiguous()
        n = vectors.shape[0]
        generator = torch.Generator().manual_seed(seed)
        centroids = train_centroids(vectors, n_centroids or centroid_count(n), generator=generator,
                                    points_per_centroid=points_per_centroid,
                                    iterations=iterations, seed=seed)
        held_out = vectors[torch.randperm(n, generator=generator)[: 1 << 16]]
        residuals = (held_out - centroids[assign(held_out, centroids)]).T.contiguous()
        weights = _scalar_quantizer(residuals, 1 << nbits)
        return cls(
            centroids=centroids.contiguous(),
            cutoffs=_midpoints(weights),
            weights=weights,
            nbits=nbits,
            trained_tokens=trained_tokens or n,
        )

    def compress(self, embeddings: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Centroid ids ``[n]`` and packed residual codes ``[n, dim * nbits / 8]`` (uint8)."""
        vectors = embeddings.float().cpu()
        codes = assign(vectors, self.centroids)
        residuals = (vectors - self.centroids[codes]).T.contiguous()  # [dim, n]
        buckets = torch.searchsorted(self.cutoffs, residuals).to(torch.uint8).T  # [n, dim]
        per_byte = 8 // self.nbits
        grouped = buckets.reshape(buckets.shape[0], -1, per_byte).to(torch.int32)
        shifts = torch.arange(per_byte - 1, -1, -1, dtype=torch.int32) * self.nbits
        packed = (grouped << shifts).sum(-1).to(torch.uint8)
        return codes.numpy().astype(self.code_dtype), packed.numpy()

    def decompress(self, codes: np.ndarray, packed: np.ndarray) -> torch.Tensor:
        """Unit-length embeddings ``[n, dim]`` back from :meth:`compress`'s output."""
        values = self._centroid_plus_residual(codes, packed)
        return values.div_(torch.linalg.vector_norm(values, dim=-1, keepdim=True).clamp_(min=1e-12))

    def residual_values(self, packed: np.ndarray, workspace: "Workspace | None" = None
                        ) -> torch.Tensor:
        """The quantized residuals ``[n, dim]`` (no centroid added, not normalised).

        With a ``workspace`` the result is a view into its reused buffer.
        """
        n, width = packed.shape
        space = workspace or Workspace()
        # each byte position has its own 256-row table; int32 indices keep index_select fast
        rows = space.buffer("byte_rows", (n, width), torch.int32)
        rows.copy_(torch.from_numpy(packed))
        rows += torch.arange(0, width * 256, 256, dtype=torch.int32)
        values = space.buffer("residual_values", (n * self.dim * 4 // self._table.element_size(),),
                              self._table.dtype)
        if self._table.dim() == 2:
            values = values.view(-1, self._table.shape[1])
        torch.index_select(self._table, 0, rows.reshape(-1), out=values)
        return values.view(torch.float32).reshape(n, self.dim)

    def norms(self, codes: np.ndarray, packed: np.ndarray, chunk: int = 1 << 17) -> np.ndarray:
        """Length of each token's centroid plus residual before normalisation ``[n]`` (float16).

        Stored beside the codes, so search can score ``q . (c + r) / |c + r|`` as a
        centroid-score lookup plus a residual matmul, never rebuilding ``c + r``.
        """
        out = np.empty(len(codes), dtype=np.float16)
        for start in range(0, len(codes), chunk):
            values = self._centroid_plus_residual(codes[start : start + chunk],
                                                  packed[start : start + chunk])
            out[start : start + chunk] = torch.linalg.vector_norm(values, dim=-1).numpy()
        return out

    def _centroid_plus_residual(self, codes: np.ndarray, packed: np.ndarray) -> torch.Tensor:
        """``c + r`` of each token ``[n, dim]``, not normalised."""
        values = self.residual_values(packed)
        values += self.centroids.index_select(0, torch.from_numpy(codes.astype(np.int32)))
        return values

    def _byte_table(self) -> torch.Tensor:
        """For each byte position and byte value, the residual values it stands for."""
        per_byte = 8 // self.nbits
        byte = torch.arange(256)
        shifts = torch.arange(per_byte - 1, -1, -1) * self.nbits
        buckets = (byte[:, None] >> shifts) & ((1 << self.nbits) - 1)  # [256, per_byte]
        weights = self.weights.reshape(-1, per_byte, 1 << self.nbits)  # [positions, per_byte, levels]
        table = torch.stack(
            [weights[:, j, buckets[:, j]] for j in range(per_byte)], dim=-1
        )  # [positions, 256, per_byte]
        table = table.reshape(-1, per_byte).contiguous()
        if per_byte in _BYTE_ELEMENT:  # one byte's values as one 4- or 8-byte element: 1.6x faster
            table = table.view(_BYTE_ELEMENT[per_byte]).reshape(-1)
        return table


class Workspace:
    """Buffers kept from one search to the next.

    A search needs tens of megabytes of temporaries; allocating them afresh each
    time costs more in page faults than the arithmetic (20 ms of a 45 ms score on
    the 1M-token benchmark), so they are reused. Not thread-safe: one per index.

    >>> space = Workspace()
    >>> space.buffer("x", (2, 3), torch.float32).shape
    torch.Size([2, 3])
    """

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def buffer(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A tensor of ``shape`` backed by the buffer ``name``, grown when too small."""
        size = math.prod(shape)
        current = self._buffers.get(name)
        if current is None or current.dtype != dtype or current.numel() < size:
            current = torch.empty(size, dtype=dtype)
            self._buffers[name] = current
        return current[:size].view(shape)

    def scores(self, tokens: int, query_tokens: int) -> torch.Tensor:
        """A ``[tokens, query_tokens]`` float32 buffer."""
        return self.buffer("scores", (tokens, query_tokens), torch.float32)

    def residuals(self, residuals: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``residuals[rows]`` (packed codes, possibly memory-mapped) copied into a reused buffer."""
        out = self.buffer("packed", (len(rows), residuals.shape[1]), torch.uint8).numpy()
        np.take(residuals, rows, axis=0, out=out)
        return out


def _scalar_quantizer(residuals: torch.Tensor, levels: int, iterations: int = 15) -> torch.Tensor:
    """Per dimension, ``levels`` values minimising the squared error (Lloyd-Max).

    ``residuals`` is [dim, n]; starts from equal-probability buckets (their middle
    quantiles) and alternates nearest-value assignment and bucket means.
    """
    middles = (torch.arange(levels, dtype=torch.float32) + 0.5) / levels
    weights = torch.quantile(residuals, middles, dim=1).T.contiguous()  # [dim, levels]
    ones = torch.ones_like(residuals)
    for _ in range(iterations):
        buckets = torch.searchsorted(_midpoints(weights), residuals)
        sums = torch.zeros_like(weights).scatter_add_(1, buckets, residuals)
        counts = torch.zeros_like(weights).scatter_add_(1, buckets, ones)
        weights = torch.where(counts > 0, sums / counts.clamp(min=1), weights)
    return weights.contiguous()


def _midpoints(weights: torch.Tensor) -> torch.Tensor:
    """Bucket edges halfway between consecutive (sorted) bucket values."""
    return ((weights[:, 1:] + weights[:, :-1]) / 2).contiguous()


def assign(vectors: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest (highest dot product) centroid of each row, computed in chunks."""
    rows = max(256, _SCORES_PER_CHUNK // max(1, centroids.shape[0]))
    return torch.cat(
        [
            (vectors[i : i + rows] @ centroids.T).argmax(dim=1)
            for i in range(0, vectors.shape[0], rows)
        ]
    ) if vectors.shape[0] else torch.zeros(0, dtype=torch.long)
