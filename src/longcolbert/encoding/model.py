"""Loading a PyLate ColBERT model and describing it (fingerprint, context length).

>>> from longcolbert.encoding.model import load_model
>>> model = load_model("mixedbread-ai/mxbai-edge-colbert-v0-32m")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import IncompatibleModelError, InvalidInputError
from .model_files import check_model_code

if TYPE_CHECKING:  # PyLate is imported when a model loads, not with longcolbert
    from pylate.models import ColBERT

DEFAULT_MODEL = "mixedbread-ai/mxbai-edge-colbert-v0-32m"

# Models whose shipped config understates the document length they were trained for.
# mxbai-edge-colbert-v0-32m: its card says 32k tokens, its config says 512.
KNOWN_DOCUMENT_LENGTHS = {DEFAULT_MODEL: 32_000}

# Absolute position tables reserve these many slots before the first token.
_POSITION_OFFSETS = {"roberta": 2, "xlm-roberta": 2, "camembert": 2}


@dataclass(frozen=True)
class ModelFingerprint:
    """What an index remembers about the model that built it.

    Two models are compatible when name, dim and prefixes match.
    """

    name: str
    dim: int
    query_prefix: str
    document_prefix: str
    query_length: int
    document_length: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelFingerprint":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    def check_compatible(self, other: "ModelFingerprint") -> None:
        """Raise IncompatibleModelError unless ``other`` can search an index built with ``self``."""
        for field in ("name", "dim", "query_prefix", "document_prefix"):
            mine, theirs = getattr(self, field), getattr(other, field)
            if mine != theirs:
                raise IncompatibleModelError(
                    f"this index was built with model {self.name!r} ({field}={mine!r}) but "
                    f"{other.name!r} has {field}={theirs!r}; open it without a model (or with "
                    f"{self.name!r}), or index into a new folder"
                )


def normalize_model_name(name_or_path: str) -> str:
    """A hub id stays as is; an existing local folder becomes its absolute path."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path.resolve())
    return name_or_path


def uses_rotary_positions(config: Any) -> bool:
    """True for RoPE models (ModernBERT...), whose context is not capped by a position table."""
    if getattr(config, "rope_parameters", None) or getattr(config, "rope_theta", None):
        return True
    return getattr(config, "position_embedding_type", "absolute") not in (None, "absolute")


def position_limit(config: Any) -> int | None:
    """Tokens an absolute-position model can see at once, or None for RoPE models."""
    if uses_rotary_positions(config):
        return None
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None:
        return None
    return int(limit) - _POSITION_OFFSETS.get(getattr(config, "model_type", ""), 0)


DTYPES = ("auto", "float32", "bfloat16", "float16")
DTYPE_HELP = ("Weights' precision: auto (bfloat16 with FlashAttention-2 on a CUDA GPU with "
              "flash-attn installed, else float32), float32, bfloat16 or float16.")


def check_dtype(dtype: str) -> str:
    """``dtype`` if it is one of :data:`DTYPES`, else a one-line error with the choices."""
    if dtype not in DTYPES:
        raise InvalidInputError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    return dtype


def resolve_dtype(dtype: str, device_type: str, flash_installed: bool) -> str:
    """The weights' dtype for ``dtype``: ``"auto"`` is bfloat16 on a CUDA device where
    FlashAttention-2 is installed (it needs half precision), else float32.

    >>> resolve_dtype("auto", "cpu", flash_installed=False)
    'float32'
    """
    if check_dtype(dtype) != "auto":
        return dtype
    return "bfloat16" if device_type == "cuda" and flash_installed else "float32"


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    *,
    document_length: int | None = None,
    device: str | None = None,
    dtype: str = "auto",
    trust_remote_code: bool = False,
) -> ColBERT:
    """Load any PyLate ColBERT checkpoint by hub id or local folder.

    A checkpoint that would import code of its own (a custom module type in
    ``modules.json``, an activation outside ``torch.nn``, an ``auto_map``) is
    refused with :class:`~longcolbert.UnsafeModelError` before anything loads,
    unless ``trust_remote_code=True`` (see :mod:`longcolbert.encoding.model_files`).

    PyLate builds the module stack (transformer + one or more dense layers).
    ``document_length`` is the model context used for each encoding window:
    for RoPE models it defaults to the model's known length (32,000 for the
    default model) or its configured one; absolute-position models (BERT) are
    capped at their position table. ``dtype`` is the weights' precision (see
    :func:`resolve_dtype`): ``"auto"`` keeps float32 except on a CUDA GPU with
    flash-attn installed, where bfloat16 lets FlashAttention-2 run.

    >>> model = load_model("./my-colbert", document_length=8192)  # doctest: +SKIP
    >>> model = load_model(device="cuda", dtype="float32")  # doctest: +SKIP
    """
    with warnings.catch_warnings():  # sentence-transformers imports tqdm.autonotebook,
        # which warns "IProgress not found" in a notebook without ipywidgets
        warnings.filterwarnings("ignore", message="IProgress not found")
        from pylate import models  # heavy import, deferred

    if document_length is not None and document_length < 8:
        raise InvalidInputError(
            f"document length {document_length} is too small; use at least 8 tokens"
        )
    check_dtype(dtype)  # a bad name fails before any loading
    source = normalize_model_name(name_or_path)
    config_files = _config_files(source)
    if config_files is not None:
        check_model_code(config_files, trust_remote_code=trust_remote_code)
    try:
        with _quiet_loading():
            model = models.ColBERT(model_name_or_path=source, device=device,
                                   trust_remote_code=trust_remote_code)
    except Exception as exc:  # hub, network and file errors come in many types
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = (
            "it is not a local folder and the hub is offline (HF_HUB_OFFLINE=1)"
            if offline
            else "check the hub id or the folder path, and your network"
        )
        reason = " ".join(str(exc).split())[:160]
        raise InvalidInputError(
            f"cannot load model {name_or_path!r}: {hint} ({type(exc).__name__}: {reason})"
        ) from exc
    model.eval()
    from .attention import flash_attention_installed

    chosen = resolve_dtype(dtype, model.device.type, flash_attention_installed())
    if chosen != "float32":
        import torch

        model.to(getattr(torch, chosen))
    model.document_length = context_length(model, source, document_length)
    setattr(model, _NAME, source)  # what model_name() reads back
    return model


_NAME = "longcolbert_name"  # set on a PyLate model by load_model: the name it was loaded by


def model_name(model: ColBERT) -> str:
    """The hub id or folder ``model`` was loaded by (:func:`load_model`): what an index
    records; ``""`` for a model loaded some other way.

    >>> model_name(load_model("./my-colbert"))  # doctest: +SKIP
    '/abs/path/my-colbert'
    """
    return str(getattr(model, _NAME, "") or "")


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """No "Loading weights" progress bars from transformers while a model loads."""
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()


def _config_files(source: str) -> str | None:
    """A folder holding ``source``'s configuration files: the folder itself, or for a
    hub id its snapshot of them (None when the hub cannot be reached; the load then
    fails on its own)."""
    if Path(source).is_dir():
        return source
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(source, allow_patterns=["modules.json", "*config.json"])
    except Exception:  # offline, unknown id, gated: PyLate reports it when it loads
        return None


def context_length(model: ColBERT, name: str, requested: int | None) -> int:
    """Tokens per encoding window (special and prefix tokens included)."""
    transformer: Any = model[0]
    config = transformer.auto_model.config
    limit = position_limit(config)
    if requested is None:
        requested = KNOWN_DOCUMENT_LENGTHS.get(name) or (
            limit if limit is not None else _whole(model.document_length)
        )
    return min(requested, limit) if limit is not None else requested


def fingerprint(model: ColBERT) -> ModelFingerprint:
    """The fingerprint an index stores for ``model`` (a model from :func:`load_model`)."""
    dim = model.get_sentence_embedding_dimension()
    if dim is None:  # some stacks only know it from their last dense layer
        encoded: Any = model.encode(["dim"], is_query=True)
        dim = int(encoded[0].shape[-1])
    return ModelFingerprint(
        name=model_name(model) or str(model.model_card_data.base_model),
        dim=int(dim),
        query_prefix=model.query_prefix or "",
        document_prefix=model.document_prefix or "",
        query_length=_whole(model.query_length),
        document_length=_whole(model.document_length),
    )


def _whole(value: int | None) -> int:
    """A model length PyLate always sets once loaded (typed optional in PyLate)."""
    if value is None:
        raise InvalidInputError("the model has no query or document length; set it in PyLate")
    return int(value)
