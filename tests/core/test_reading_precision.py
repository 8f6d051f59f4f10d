"""Passages re-read at search time: bfloat16 products on a CPU with AMX under ``dtype="auto"``,
each passage in its own forward on a CPU, kept apart from float32 rows in the cache.

The bfloat16 path is forced here (``reading_dtype``), so it runs on any CPU: autocast
to bfloat16 works everywhere, and is fast only where AMX multiplies it."""

from __future__ import annotations

import pytest
import torch

from longcolbert import Index
from longcolbert.encoding import encoder as encoder_module
from longcolbert.encoding.cache import EncodingCache
from longcolbert.encoding.encoder import Encoder
from longcolbert.encoding.precision import reading_dtype

PASSAGES = [
    "The notice period for termination is three months.",
    "Saturn is known for its bright rings of ice and rock, seen from far away.",
    "Prune the roses in early spring.",
]


@pytest.mark.parametrize(("dtype", "device", "weights", "amx", "expected"), [
    ("auto", "cpu", "float32", True, "bfloat16"),
    ("auto", "cpu", "float32", False, None),  # no AMX: bfloat16 would be slower
    ("float32", "cpu", "float32", True, None),  # asked for: float32 everywhere
    ("bfloat16", "cpu", "bfloat16", True, None),  # the model is bfloat16 already
    ("auto", "cuda", "float32", True, None),
    ("auto", "cpu", "float16", True, None),
])
def test_passages_are_read_in_bfloat16_only_where_auto_meets_amx_on_float32_weights(
        dtype, device, weights, amx, expected):
    assert reading_dtype(dtype, device, weights, amx) == expected


def test_the_dtype_asked_for_reaches_the_encoder(standin_model, tmp_path, monkeypatch):
    monkeypatch.setattr(encoder_module, "cpu_has_amx", lambda: True)
    assert Encoder(standin_model).reading_dtype == "bfloat16"
    assert Encoder(standin_model, dtype="float32").reading_dtype is None
    with Index(tmp_path / "idx", model=standin_model, dtype="float32") as index:
        index.add(["Jupiter is the largest planet."], ids=["a"])
        assert index.encoder.reading_dtype is None
    monkeypatch.setattr(encoder_module, "cpu_has_amx", lambda: False)
    assert Encoder(standin_model).reading_dtype is None


@pytest.mark.parametrize("which", ["standin_model", "tiny_model"])  # padded and packed
def test_bfloat16_reads_stay_close_to_float32_and_keep_their_offsets(which, request):
    model = request.getfixturevalue(which)
    exact, fast = Encoder(model, dtype="float32"), Encoder(model, dtype="float32")
    fast.reading_dtype = "bfloat16"
    for want, got in zip(exact.read_passages(PASSAGES), fast.read_passages(PASSAGES)):
        assert got.embeddings.dtype == torch.float32
        assert (got.offsets == want.offsets).all()
        assert torch.allclose(got.embeddings.norm(dim=1), torch.ones(len(got.embeddings)),
                              atol=1e-5)
        cosines = (got.embeddings * want.embeddings).sum(dim=1)
        assert float(cosines.min()) > 0.99
        assert not torch.equal(got.embeddings, want.embeddings)  # it did run in bfloat16


@pytest.mark.parametrize("precision", [None, "bfloat16"])
def test_a_passage_reads_the_same_whatever_is_read_with_it(standin_model, precision):
    encoder = Encoder(standin_model, dtype="float32")
    encoder.reading_dtype = precision
    alone = encoder.read_passages(PASSAGES[:1])[0]
    together = encoder.read_passages(PASSAGES)[0]  # longer neighbours: no padding counts
    assert torch.equal(alone.embeddings, together.embeddings)


def test_the_cache_keeps_bfloat16_reads_apart_from_float32_rows(standin_model):
    encoder = Encoder(standin_model, dtype="float32")
    encoder.reading_dtype = "bfloat16"
    cache = EncodingCache()
    whole = cache.encode(encoder, PASSAGES[:1])[0]
    read = cache.encode(encoder, PASSAGES[:1], reading=True)[0]
    assert (cache.hits, cache.misses) == (0, 2)  # a float32 entry never answers a read
    assert not torch.equal(whole.embeddings, read.embeddings)
    again = cache.encode(encoder, PASSAGES[:1], reading=True)[0]
    assert cache.hits == 1 and torch.equal(again.embeddings, read.embeddings)
    encoder.reading_dtype = None  # reads in float32 are the float32 rows
    assert torch.equal(cache.encode(encoder, PASSAGES[:1], reading=True)[0].embeddings,
                       whole.embeddings)
    assert cache.hits == 2
