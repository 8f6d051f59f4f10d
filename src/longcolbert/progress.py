"""The progress bar longcolbert shows: tqdm's, a widget in notebooks that have
ipywidgets and text elsewhere (without tqdm's warning that ipywidgets is missing).

>>> bar = tqdm(total=3, disable=True)
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "IProgress not found" in a notebook without ipywidgets
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
