"""The runnable examples in the engine's docstrings stay true, in every module."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import longcolbert

MODULES = sorted(p.stem for p in Path(longcolbert.__file__).parent.glob("*.py")
                 if p.stem != "__init__")
# modules whose examples run (elsewhere they need a model or a folder and are skipped)
RUNNABLE = {"normalize", "lexical", "results", "passages", "store", "checks", "defaults",
            "errors", "plaid_format", "qdrant_index", "filters", "folders", "windows", "reread"}


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"longcolbert.{module}"))
    assert result.failed == 0
    assert result.attempted > 0 or module not in RUNNABLE
