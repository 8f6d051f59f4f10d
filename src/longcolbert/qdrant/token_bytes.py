"""Token vectors in one byte per coordinate, scored by Qdrant's MaxSim in the same order.

Qdrant stores ``uint8`` vectors and, on such a vector, casts the query to ``uint8``
as well, so both sides must be bytes, and an affine code ``x -> 127 x + 128`` would
add ``128 * 127 * sum(v)``, which differs from token to token, to every dot product.
So each unit vector ``v`` (``dim`` coordinates) is first extended by a zero and
turned by a fixed reflection ``H`` that sends the extra axis to the all-ones
direction: ``b = H [v; 0]`` keeps every dot product and sums to exactly 0. Stored
bytes are ``127 b + 128``, rounded so that they sum to exactly ``128 (dim + 1)``;
a query token's bytes are ``round(127 H [q; 0] + 128)``. Their dot product is
``127^2 q.v`` plus a constant for that query token plus rounding noise of about
0.005 in cosine units, so MaxSim keeps its order. Rows read back are
``H^-1 ((bytes - 128) / 127)`` minus the extra axis (``H`` is its own inverse).

>>> import torch
>>> rows = torch.nn.functional.normalize(torch.randn(5, 8, generator=torch.Generator().manual_seed(0)), dim=1)
>>> stored = row_bytes(rows)
>>> stored.shape, stored.dtype.name
((5, 9), 'uint8')
>>> bool((decode_rows(stored) - rows).abs().max() < 0.02)
True
>>> q = encode_queries(rows[:1])
>>> scores = (torch.tensor(q, dtype=torch.float32) @ torch.from_numpy(stored).float().T)[0]
>>> int(scores.argmax())   # the row itself scores best, as q . v says
0
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import torch

SCALE, ZERO = 127.0, 128.0


def stored_dim(dim: int) -> int:
    """Bytes per stored token of a ``dim``-dimensional model: one more than ``dim``."""
    return dim + 1


@functools.lru_cache(maxsize=8)
def _reflection(size: int) -> torch.Tensor:
    """The Householder reflection of ``size`` dimensions that swaps the last axis and
    the all-ones direction (symmetric and orthogonal: its own inverse)."""
    last = torch.zeros(size, dtype=torch.float64)
    last[-1] = 1.0
    w = last - torch.full((size,), size ** -0.5, dtype=torch.float64)
    return torch.eye(size, dtype=torch.float64) - 2.0 * torch.outer(w, w) / (w @ w)


def _turned(rows: torch.Tensor) -> torch.Tensor:
    extended = torch.nn.functional.pad(rows.to(torch.float64), (0, 1))
    return extended @ _reflection(extended.shape[1])  # H is symmetric


def row_bytes(rows: torch.Tensor) -> np.ndarray:
    """Unit-vector rows ``[n, dim]`` as stored bytes ``[n, dim + 1]`` (uint8), each row
    summing to exactly ``128 (dim + 1)`` (largest-remainder rounding); ``.tolist()`` is
    the multivector Qdrant takes."""
    if rows.shape[0] == 0:
        return np.zeros((0, rows.shape[1] + 1), dtype=np.uint8)
    exact = _turned(rows) * SCALE + ZERO
    low = torch.floor(exact)
    short = (ZERO * exact.shape[1] - low.sum(dim=1)).round().to(torch.long)  # ones to add
    order = torch.argsort(exact - low, dim=1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(exact.shape[1]).expand_as(order))
    stored = low + (rank < short[:, None]).to(low.dtype)
    return stored.clamp(0, 255).to(torch.uint8).numpy()


def byte_similarities(rows: torch.Tensor, stored: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``rows @ decoded.T`` for each of ``stored`` (token bytes as :func:`row_bytes`
    writes them) without decoding them: ``H`` is orthogonal, so a query row turned as
    the stored ones were scores their bytes directly (float32, ``[len(rows), n]`` each).

    >>> rows = torch.nn.functional.normalize(torch.randn(3, 8, generator=torch.Generator().manual_seed(1)), dim=1)
    >>> direct = byte_similarities(rows[:2], [row_bytes(rows)])[0]
    >>> bool(np.abs(direct - (rows[:2] @ decode_rows(row_bytes(rows)).T).numpy()).max() < 1e-5)
    True
    """
    turned = (_turned(rows) / SCALE).float()
    return [(turned @ (torch.from_numpy(np.ascontiguousarray(s)).float() - ZERO).T).numpy()
            for s in stored]


def encode_queries(rows: torch.Tensor) -> list[list[float]]:
    """Query token vectors ``[n, dim]`` as the bytes Qdrant compares with stored ones."""
    return torch.round(_turned(rows) * SCALE + ZERO).clamp(0, 255).to(torch.uint8).tolist()


def decode_rows(values: Sequence[Sequence[float]] | np.ndarray) -> torch.Tensor:
    """Rows ``[n, dim]`` back from :func:`row_bytes` (as an array or a multivector; within about
    0.01 per coordinate)."""
    stored = np.asarray(values, dtype=np.float32).reshape(-1, len(values[0]) if len(values) else 1)
    turned = (torch.from_numpy(stored) - ZERO) / SCALE  # torch's memory: later copies are fast
    return (turned @ _reflection(turned.shape[1]).float())[:, :-1].contiguous()
