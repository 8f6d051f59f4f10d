"""The model holder: loads a model (and its encoder) the first time a search or an add
needs one, so ``info`` and ``delete`` never import torch, and refuses a local model
path that an index folder names.

>>> holder = ModelHolder("mixedbread-ai/mxbai-edge-colbert-v0-32m", None, None, 8192)
>>> holder.name
'mixedbread-ai/mxbai-edge-colbert-v0-32m'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import UnsafeModelError
from .model import check_dtype, load_model, model_name, normalize_model_name
from .model_files import looks_like_hub_id

if TYPE_CHECKING:  # the encoder (torch) is imported when a model is: info and delete need none

    from .encoder import Encoder



class ModelHolder:
    """Loads the model (and its encoder) on first use, so `info` or `delete` never load it.

    ``from_index``: the name came from an index folder, not from the user. Such a
    name is loaded only as a model hub id: a folder on disk that an index names
    is refused, so opening a shared index never runs code from a path it chose.
    """

    def __init__(self, model: str | Any, document_length: int | None, device: str | None,
                 token_budget: int, dtype: str = "auto", *, trust_remote_code: bool = False,
                 from_index: bool = False):
        check_dtype(dtype)  # a bad name fails at once, not when the model loads
        self._source = model
        self._document_length = document_length
        self._device = device
        self._dtype = dtype
        self._token_budget = token_budget
        self._trust_remote_code = trust_remote_code
        self._from_index = from_index
        self._encoder: Encoder | None = None

    @property
    def name(self) -> str:
        if isinstance(self._source, str):
            return self._source if self._from_index else normalize_model_name(self._source)
        return model_name(self._source)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            model = self._source
            if isinstance(model, str):
                if self._from_index and not looks_like_hub_id(model):
                    raise UnsafeModelError(
                        f"this index was built with the local model {model!r}; an index "
                        "folder does not choose which local files load: name the model "
                        f"yourself (model={model!r}, CLI: --model {model})"
                    )
                model = load_model(model, document_length=self._document_length,
                                   device=self._device, dtype=self._dtype,
                                   trust_remote_code=self._trust_remote_code)
            from .encoder import Encoder

            self._encoder = Encoder(model, token_budget=self._token_budget, dtype=self._dtype)
        return self._encoder
