"""Packed attention for ModernBERT: many documents in one row, no padding, no n x n masks.

The stock path pads a batch and builds ``seq x seq`` masks (17 GB for one 32k-token
document). Here the windows of a batch are concatenated into one row with
positions restarting at each window, and attention runs per window:

* global layers: plain ``scaled_dot_product_attention`` on each window, without a
  mask, so PyTorch picks its memory-efficient fused kernel (O(n) memory);
* sliding-window layers: banded attention, each block of ``w`` queries against
  its ``3w`` neighbouring keys, so the cost grows with ``n * w``, not ``n**2``.

Pure PyTorch by default: nothing is compiled, so it runs wherever torch does (CPU
or CUDA). On a CUDA device with the ``flash-attn`` package and fp16/bf16 weights,
both kinds of layer run FlashAttention-2's variable-length kernel instead
(``kernel="flash"``, see :func:`choose_kernel`).

>>> ids, positions, layout = pack([[5, 6, 7], [8, 9]])
>>> positions.tolist(), layout.bounds
([[0, 1, 2, 0, 1]], [0, 3, 5])
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from pylate.models import ColBERT

ATTENTION_NAME = "longcolbert_packed"
_registered = False


TORCH, FLASH = "torch", "flash"


class Layout:
    """Where each packed sequence starts and ends, the attention kernel to use, and the
    band masks, built once per forward.

    >>> Layout([0, 3, 5]).segments().tolist()
    [0, 0, 0, 1, 1]
    """

    def __init__(self, bounds: Sequence[int], kernel: str = TORCH):
        self.bounds = [int(b) for b in bounds]
        self.kernel = kernel
        self._masks: dict[tuple[int, str, torch.dtype], torch.Tensor] = {}

    def segments(self, device: torch.device | str = "cpu") -> torch.Tensor:
        lengths = torch.tensor(self.bounds, device=device).diff()
        return torch.repeat_interleave(torch.arange(len(lengths), device=device), lengths)

    def band(self, window: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The :func:`band_bias` of this layout (built once, used by every sliding layer)."""
        key = (window, str(device), dtype)
        if key not in self._masks:
            self._masks[key] = band_bias(self.segments(device), window).to(dtype)
        return self._masks[key]

    @property
    def longest(self) -> int:
        return max(b - a for a, b in zip(self.bounds[:-1], self.bounds[1:]))


def flash_attention_installed() -> bool:
    """Whether FlashAttention-2 can run: the ``flash-attn`` package and a CUDA device."""
    from transformers.utils import is_flash_attn_2_available

    return bool(is_flash_attn_2_available())


def choose_kernel(device: torch.device | str, dtype: torch.dtype, flash_installed: bool) -> str:
    """``"flash"`` where FlashAttention-2 can run (CUDA, fp16/bf16, flash-attn installed), else ``"torch"``.

    >>> choose_kernel("cpu", torch.float32, flash_installed=False)
    'torch'
    """
    half = dtype in (torch.float16, torch.bfloat16)
    return FLASH if torch.device(device).type == "cuda" and half and flash_installed else TORCH


def _flash_varlen(*args: Any, **kwargs: Any) -> torch.Tensor:
    from flash_attn import flash_attn_varlen_func  # CUDA only; imported when chosen

    return flash_attn_varlen_func(*args, **kwargs)


def flash_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    layout: Layout,
    window: int | None,
    scaling: float,
) -> torch.Tensor:
    """FlashAttention-2 over the packed row, one sequence per ``layout`` segment.

    ``[1, heads, n, dim]`` in, ``[1, n, heads, dim]`` out. A sliding layer sees keys
    within ``window`` tokens on each side, as :func:`band_bias` does.
    """
    edges = torch.tensor(layout.bounds, dtype=torch.int32, device=query.device)
    q, k, v = (x[0].transpose(0, 1) for x in (query, key, value))  # [n, heads, dim]
    out = _flash_varlen(
        q, k, v,
        cu_seqlens_q=edges, cu_seqlens_k=edges,
        max_seqlen_q=layout.longest, max_seqlen_k=layout.longest,
        softmax_scale=scaling, causal=False,
        window_size=(window, window) if window else (-1, -1),
    )
    return out.unsqueeze(0)


def pack(
    sequences: Sequence[Sequence[int]], kernel: str = TORCH
) -> tuple[torch.Tensor, torch.Tensor, Layout]:
    """One row of token ids, the position of each token in its sequence, and the layout."""
    lengths = [len(s) for s in sequences]
    ids = torch.tensor([t for s in sequences for t in s], dtype=torch.long)
    positions = torch.cat([torch.arange(n) for n in lengths])
    bounds = [0, *torch.tensor(lengths).cumsum(0).tolist()]
    return ids.unsqueeze(0), positions.unsqueeze(0), Layout(bounds, kernel)


def band_bias(segment: torch.Tensor, window: int) -> torch.Tensor:
    """0 where a query may see a key (same segment, distance <= ``window``), else -inf.

    Queries come in blocks of ``window``; block ``i`` sees keys from ``window``
    before it to ``window`` after it (``3 * window`` keys). Returns ``[blocks, window, 3 * window]``.
    """
    n = segment.numel()
    block, span = window, 3 * window
    blocks = -(-n // block)
    padded = blocks * block
    key_seg = F.pad(segment, (window, padded - n + window), value=-1).unfold(0, span, block)
    query_seg = F.pad(segment, (0, padded - n), value=-2).view(blocks, block)
    offset = torch.arange(span, device=segment.device) - window
    distance = offset[None, :] - torch.arange(block, device=segment.device)[:, None]
    allowed = (distance.abs() <= window)[None] & (key_seg[:, None, :] == query_seg[:, :, None])
    allowed |= (distance == 0)[None]  # a padding query sees itself: no empty softmax
    return torch.zeros(allowed.shape, device=segment.device).masked_fill_(~allowed, float("-inf"))


def banded_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    bias: torch.Tensor,
    window: int,
    scaling: float,
) -> torch.Tensor:
    """Attention restricted by :func:`band_bias`; ``[batch, heads, n, dim]`` in and out."""
    b, h, n, d = query.shape
    blocks, block, span = bias.shape[0], window, 3 * window
    padded = blocks * block

    def windows(x: torch.Tensor) -> torch.Tensor:  # [b, h, blocks, span, d]
        return F.pad(x, (0, 0, window, padded - n + window)).unfold(2, span, block).transpose(-1, -2)

    q = F.pad(query * scaling, (0, 0, 0, padded - n)).view(b, h, blocks, block, d)
    scores = torch.matmul(q, windows(key).transpose(-1, -2)) + bias
    weights = torch.softmax(scores, dim=-1)
    out = torch.matmul(weights, windows(value)).reshape(b, h, padded, d)
    return out[:, :, :n]


def packed_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: Any,
    scaling: float | None = None,
    sliding_window: int | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """A transformers attention function; ``attention_mask`` is the :class:`Layout` of :func:`pack`."""
    layout: Layout = attention_mask
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    # transformers passes the inclusive flash-attention width (half window + 1)
    window = (
        int(getattr(module.config, "sliding_window", sliding_window - 1)) if sliding_window else None
    )
    if layout.kernel == FLASH:
        return flash_attention(query, key, value, layout, window, scale), None
    if window:
        bias = layout.band(window, query.device, query.dtype)
        out = banded_attention(query, key, value, bias, window, scale)
    elif len(layout.bounds) == 2:  # one window: no slicing, no copy
        out = F.scaled_dot_product_attention(query, key, value, scale=scale)
    else:
        edges = layout.bounds
        out = torch.cat(
            [
                F.scaled_dot_product_attention(
                    query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], scale=scale
                )
                for a, b in zip(edges[:-1], edges[1:])
            ],
            dim=2,
        )
    return out.transpose(1, 2).contiguous(), None


def supports_packing(model: ColBERT) -> bool:
    """Whether this PyLate model's backbone can run packed (ModernBERT on transformers >= 5)."""
    try:
        import transformers

        backbone = model[0].auto_model
    except (AttributeError, IndexError, TypeError, ImportError):
        return False
    major = int(transformers.__version__.split(".")[0])
    config = getattr(backbone, "config", None)
    return (
        major >= 5
        and getattr(config, "model_type", None) == "modernbert"
        and getattr(config, "_attn_implementation", None)
        in ("sdpa", "eager", "flash_attention_2", ATTENTION_NAME)
    )


@contextmanager
def packed_attention_enabled(backbone: Any) -> Iterator[None]:
    """Run ``backbone`` with :func:`packed_attention`, then restore its own attention."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface

        AttentionInterface.register(ATTENTION_NAME, packed_attention)
        _registered = True
    config = backbone.config
    previous = config._attn_implementation
    config._attn_implementation = ATTENTION_NAME
    try:
        yield
    finally:
        config._attn_implementation = previous


def packed_forward(
    model: ColBERT, sequences: Sequence[Sequence[int]], kernel: str = TORCH
) -> list[torch.Tensor]:
    """Token embeddings (before normalisation) of each sequence, run as one packed row
    with the attention ``kernel`` (see :func:`choose_kernel`)."""
    ids, positions, layout = pack(sequences, kernel)
    device = model.device
    features = {
        "input_ids": ids.to(device),
        "position_ids": positions.to(device),
        "attention_mask": {"full_attention": layout, "sliding_attention": layout},
    }
    with packed_attention_enabled(model[0].auto_model):
        features = model[0](features)
    features["attention_mask"] = torch.ones(ids.shape, dtype=torch.long, device=device)
    for module in list(model)[1:]:
        features = module(features)
    rows = features["token_embeddings"][0]
    edges = layout.bounds
    return [rows[start:end] for start, end in zip(edges[:-1], edges[1:])]
