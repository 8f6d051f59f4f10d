"""Packed attention (ModernBERT): equal to the stock padded path, window by window."""

from __future__ import annotations

import torch

from longcolbert.attention import band_bias, banded_attention, pack, packed_attention_enabled
from longcolbert.encoder import Encoder


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
