"""The precision of passages re-read at search time (:mod:`longcolbert.ranking.reread`).

On a CPU with Intel AMX, bfloat16 matrix products run in hardware, several times
faster than float32 ones. Re-reading encodes about 25 passages on every query, so
under ``dtype="auto"`` it runs on a copy of the model whose linear layers multiply
in bfloat16 (:func:`bfloat16_linear_copy`), as ``torch.autocast`` would, without
casting the weights again on every call: the attention between their outputs runs
in bfloat16 too, while the residual stream and the layer norms stay float32
(adding a bfloat16 output to a float32 residual gives float32). Stored rows,
queries and reranked documents are encoded by the float32 model as before.

>>> reading_dtype("auto", "cpu", "float32", amx=False) is None
True
"""

from __future__ import annotations

import copy
from typing import Any

import torch


def reading_dtype(dtype: str, device_type: str, weights: str, amx: bool) -> str | None:
    """``"bfloat16"`` when passages are re-read with bfloat16 linear layers: a model
    asked for with ``dtype="auto"`` whose ``weights`` are float32 on a CPU with AMX
    (``amx``, see :func:`cpu_has_amx`); else ``None`` (they run as the model does,
    and ``dtype="float32"`` keeps every product float32).

    >>> reading_dtype("auto", "cpu", "float32", amx=True)
    'bfloat16'
    >>> reading_dtype("float32", "cpu", "float32", amx=True) is None
    True
    """
    if dtype == "auto" and device_type == "cpu" and weights == "float32" and amx:
        return "bfloat16"
    return None


def cpu_has_amx() -> bool:
    """Whether PyTorch finds Intel AMX tiles on this CPU (Sapphire Rapids and later).

    >>> isinstance(cpu_has_amx(), bool)
    True
    """
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # torch >= 2.3
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:
        return False


def bfloat16_linear_copy(model: Any) -> Any:
    """A copy of ``model`` whose ``nn.Linear`` layers keep bfloat16 weights and multiply in
    bfloat16 whatever their input; every other module is left as it is.

    >>> layer = bfloat16_linear_copy(torch.nn.Linear(4, 2))
    >>> layer.weight.dtype, layer(torch.ones(1, 4)).dtype
    (torch.bfloat16, torch.bfloat16)
    """
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
            module.register_forward_pre_hook(_to_bfloat16)
    return twin


def _to_bfloat16(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple:
    return tuple(x.to(torch.bfloat16) if x.is_floating_point() else x for x in inputs)
