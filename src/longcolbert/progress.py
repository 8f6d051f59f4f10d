"""The progress bar longcolbert shows: tqdm's, a widget in notebooks that have
ipywidgets and text elsewhere (without tqdm's warning that ipywidgets is missing).

>>> bar = tqdm(total=3, disable=True)
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "IProgress not found" in a notebook without ipywidgets
    from tqdm.auto import tqdm

__all__ = ["tqdm", "toward"]


def toward(bar: Any, start: int, rows: int) -> Callable[[int, int], None]:
    """A callback for an encoder's progress (model tokens done, their total) that moves
    ``bar`` from ``start`` toward ``start + rows`` in proportion, never back: an add's
    bar counts the rows it indexes and moves while they are encoded.

    >>> import io
    >>> bar = tqdm(total=100, file=io.StringIO())
    >>> toward(bar, 40, 20)(3, 4)
    >>> bar.n
    55
    """

    def moved(done: int, total: int) -> None:
        bar.update(max(0, start + rows * done // max(total, 1) - bar.n))

    return moved
