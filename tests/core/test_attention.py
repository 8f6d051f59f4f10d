"""Packed attention (ModernBERT): equal to the stock padded path, window by window."""

from __future__ import annotations

import pytest
import torch

from longcolbert import Index, Reranker
from longcolbert.encoding import attention
from longcolbert.encoding.attention import (
    band_bias,
    banded_attention,
    choose_kernel,
    pack,
    packed_attention_enabled,
)
from longcolbert.encoding.encoder import Encoder
from longcolbert.encoding.model import load_model, resolve_dtype
from longcolbert.errors import InvalidInputError


def dense_reference(q, k, v, segment, window, scale):
    distance = (torch.arange(q.shape[2])[:, None] - torch.arange(q.shape[2])[None, :]).abs()
    allowed = (segment[:, None] == segment[None, :])
    if window is not None:
        allowed &= distance <= window
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=scale)


def test_banded_attention_equals_masked_dense_attention():
    generator = torch.Generator().manual_seed(0)
    lengths = [1, 7, 64, 65, 130, 3]
    segment = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    n = int(segment.numel())
    q, k, v = (torch.randn(2, 3, n, 16, generator=generator) for _ in range(3))
    for window in (1, 8, 64):
        bias = band_bias(segment, window)
        ours = banded_attention(q, k, v, bias, window, 0.25)
        expected = dense_reference(q, k, v, segment, window, 0.25)
        assert float((ours - expected).abs().max()) <= 1e-5


def test_packed_forward_equals_the_stock_forward_per_document(tiny_model):
    encoder = Encoder(tiny_model)
    assert encoder.packed  # ModernBERT on transformers 5
    texts = ["Short one.", "A longer sentence about rivers and hills. " * 20, "Mid size text. " * 9]
    sequences = [encoder._window_input(encoder._prepare(t).ids, 0, len(encoder._prepare(t).ids))[0]
                 for t in texts]
    with torch.inference_mode():
        packed = encoder._forward(sequences)
        encoder.packed = False  # the stock path: padded batch, transformers' own masks
        padded = encoder._forward(sequences)
    for seq, ours, stock in zip(sequences, packed, padded):
        assert ours.shape[0] == len(seq)
        assert float((ours - stock[: len(seq)]).abs().max()) <= 1e-5
    # the model's own attention setting is restored afterwards
    assert tiny_model[0].auto_model.config._attn_implementation == "sdpa"


def test_bert_models_keep_the_padded_path(standin_model):
    assert not Encoder(standin_model).packed


def test_pack_restarts_positions_per_sequence():
    ids, positions, layout = pack([[1, 2], [3], [4, 5, 6]])
    assert ids.tolist() == [[1, 2, 3, 4, 5, 6]]
    assert positions.tolist() == [[0, 1, 0, 0, 1, 2]]
    assert layout.bounds == [0, 2, 3, 6]
    assert layout.segments().tolist() == [0, 0, 1, 2, 2, 2]


def test_attention_setting_is_restored_after_an_error(tiny_model):
    backbone = tiny_model[0].auto_model
    try:
        with packed_attention_enabled(backbone):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert backbone.config._attn_implementation == "sdpa"


def _sequences(encoder, texts):
    prepared = [encoder._prepare(t).ids for t in texts]
    return [encoder._window_input(ids, 0, len(ids))[0] for ids in prepared]


TEXTS = ["Short one.", "A longer sentence about rivers and hills. " * 20, "Mid size text. " * 9]


def flash_varlen_by_its_docstring(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                                  max_seqlen_k, softmax_scale, causal, window_size):
    """flash-attn's ``flash_attn_varlen_func`` as its docstring specifies it: q, k, v are
    ``(total, heads, dim)``, ``cu_seqlens`` int32 sequence starts, and query ``i`` sees
    keys ``i - window_size[0]`` to ``i + window_size[1]`` inclusive (-1: unbounded)."""
    assert cu_seqlens_q.dtype == torch.int32 and torch.equal(cu_seqlens_q, cu_seqlens_k)
    assert max_seqlen_q == max_seqlen_k == int(cu_seqlens_q.diff().max())
    assert not causal and q.shape == k.shape == v.shape and q.dim() == 3
    out = torch.empty_like(q)
    edges = cu_seqlens_q.tolist()
    for a, b in zip(edges[:-1], edges[1:]):
        i = torch.arange(b - a)
        offset = i[None, :] - i[:, None]  # key minus query
        left, right = window_size
        allowed = torch.ones(b - a, b - a, dtype=torch.bool)
        if left >= 0:
            allowed &= offset >= -left
        if right >= 0:
            allowed &= offset <= right
        scores = torch.einsum("qhd,khd->hqk", q[a:b], k[a:b]) * softmax_scale
        weights = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
        out[a:b] = torch.einsum("hqk,khd->qhd", weights, v[a:b])
    return out


def test_flash_kernel_is_called_as_flash_attn_documents_it(tiny_model, monkeypatch):
    # No CUDA here: flash-attn's kernel is replaced by its documented contract, to check
    # that the packed row, sequence edges and sliding window reach it as it expects.
    monkeypatch.setattr(attention, "_flash_varlen", flash_varlen_by_its_docstring)
    encoder = Encoder(tiny_model)
    sequences = _sequences(encoder, TEXTS)
    assert max(len(s) for s in sequences) > 4 * tiny_model[0].auto_model.config.sliding_window
    with torch.inference_mode():
        encoder.kernel = "flash"
        flash = encoder._forward(sequences)
        encoder.kernel, encoder.packed = "torch", False  # the stock padded path
        stock = encoder._forward(sequences)
    for seq, ours, expected in zip(sequences, flash, stock):
        assert float((ours - expected[: len(seq)]).abs().max()) <= 1e-5


def test_flash_attention_is_chosen_only_where_it_can_run():
    assert choose_kernel("cuda", torch.bfloat16, flash_installed=True) == "flash"
    assert choose_kernel("cuda:1", torch.float16, flash_installed=True) == "flash"
    assert choose_kernel("cuda", torch.float32, flash_installed=True) == "torch"  # needs half
    assert choose_kernel("cuda", torch.bfloat16, flash_installed=False) == "torch"
    assert choose_kernel("cpu", torch.bfloat16, flash_installed=True) == "torch"


def test_auto_dtype_is_half_only_for_flash_attention_on_cuda():
    assert resolve_dtype("auto", "cuda", flash_installed=True) == "bfloat16"
    assert resolve_dtype("auto", "cuda", flash_installed=False) == "float32"
    assert resolve_dtype("auto", "cpu", flash_installed=True) == "float32"
    assert resolve_dtype("float16", "cpu", flash_installed=False) == "float16"
    with pytest.raises(InvalidInputError, match="unknown dtype 'fp8'; use one of auto"):
        resolve_dtype("fp8", "cpu", flash_installed=False)


def test_a_wrong_dtype_fails_before_any_model_loads(tmp_path, tiny_path):
    for make in (lambda: Index(tmp_path / "idx", model=tiny_path, dtype="half"),
                 lambda: Reranker(tiny_path, dtype="half"),
                 lambda: load_model(tiny_path, dtype="half")):
        with pytest.raises(InvalidInputError, match="unknown dtype 'half'"):
            make()


def test_half_precision_weights_run_the_packed_path(tiny_path, tiny_model):
    # What a CUDA GPU without flash-attn runs with dtype="bfloat16" (here on CPU).
    half = load_model(tiny_path, dtype="bfloat16")
    assert next(half.parameters()).dtype == torch.bfloat16
    assert next(tiny_model.parameters()).dtype == torch.float32  # "auto" on CPU
    ours, full = Encoder(half), Encoder(tiny_model)
    assert ours.packed and ours.kernel == "torch"
    sequences = _sequences(full, TEXTS)
    with torch.inference_mode():
        rows, reference = ours._forward(sequences), full._forward(sequences)
    for a, b in zip(rows, reference):
        assert a.dtype == torch.float32
        assert float((a * b).sum(-1).min()) >= 0.98  # cosine of each row to fp32
