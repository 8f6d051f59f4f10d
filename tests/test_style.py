"""The code is checked the way pyproject.toml configures it: ruff (pyflakes, pycodestyle
errors, import order) over everything, mypy over the engine and the three integrations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INTEGRATIONS = {
    "langchain": ["integrations/langchain/langchain_longcolbert"],
    "llama-index": ["-p", "llama_index.retrievers.longcolbert",
                    "-p", "llama_index.postprocessor.longcolbert_rerank"],
}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)


def test_ruff_finds_nothing():
    done = _run("ruff", "check", "src", "integrations", "tests", "benchmarks", "scripts")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


@pytest.mark.parametrize("target", ["engine", *INTEGRATIONS])
def test_mypy_finds_nothing(target):
    done = _run("mypy", *([] if target == "engine" else INTEGRATIONS[target]))
    assert done.returncode == 0 and "Success" in done.stdout, done.stdout[-3000:]
