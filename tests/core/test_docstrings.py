"""The runnable examples in the engine's docstrings stay true, in every module."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import longcolbert

PACKAGE = Path(longcolbert.__file__).parent
MODULES = sorted(".".join(p.relative_to(PACKAGE).with_suffix("").parts)
                 for p in PACKAGE.rglob("*.py") if p.stem != "__init__")
# modules whose examples run (elsewhere they need a model or a folder and are skipped)
RUNNABLE = {"documents.normalize", "ranking.lexical", "results", "ranking.passages",
            "plaid.store", "documents.checks", "defaults", "errors", "plaid.format",
            "qdrant.index", "filters", "folders", "encoding.windows", "ranking.reread",
            "encoding.holder"}


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"longcolbert.{module}"))
    assert result.failed == 0
    assert result.attempted > 0 or module not in RUNNABLE
