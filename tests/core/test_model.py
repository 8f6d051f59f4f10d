"""Model loading: context lengths, fingerprints, clear errors."""

from __future__ import annotations

import pytest

from longcolbert.encoding.model import (
    DEFAULT_MODEL,
    ModelFingerprint,
    context_length,
    fingerprint,
    load_model,
    position_limit,
)
from longcolbert.errors import IncompatibleModelError, InvalidInputError


def test_absolute_positions_cap_the_context(standin_path, standin_model):
    assert position_limit(standin_model[0].auto_model.config) == 512
    assert standin_model.document_length == 512  # its own limit, not PyLate's 180
    assert load_model(standin_path, document_length=100_000).document_length == 512
    assert load_model(standin_path, document_length=300).document_length == 300


def test_rope_models_take_the_configured_length(tiny_path, tiny_model):
    assert position_limit(tiny_model[0].auto_model.config) is None
    assert tiny_model.document_length == 512  # the checkpoint's configured length
    assert load_model(tiny_path, document_length=100_000).document_length == 100_000
    # the default model's shipped config says 512; its card (and longcolbert) say 32k
    assert context_length(tiny_model, DEFAULT_MODEL, None) == 32_000


def test_fingerprint_and_compatibility(standin_model, tiny_model):
    a, b = fingerprint(standin_model), fingerprint(tiny_model)
    assert (a.dim, a.query_prefix, a.document_prefix) == (128, "[Q] ", "[D] ")
    assert ModelFingerprint.from_dict(a.to_dict()) == a
    a.check_compatible(a)
    with pytest.raises(IncompatibleModelError, match="dim|name"):
        a.check_compatible(b)


def test_unloadable_model_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInputError, match="cannot load model"):
        load_model(str(tmp_path / "no-such-model-folder"))
