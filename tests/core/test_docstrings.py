"""The runnable examples in the engine's docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["normalize", "lexical", "results", "passages", "store"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"longcolbert.{module}"))
    assert result.attempted > 0 and result.failed == 0
