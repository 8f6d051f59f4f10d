"""Shared fixtures: real local ColBERT checkpoints (no model hub), built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from local_models import build_standin, build_tiny_modernbert  # noqa: E402


@pytest.fixture(scope="session")
def standin_path(tmp_path_factory) -> str:
    """all-MiniLM-L6-v2 (BERT, 512 positions) as a PyLate ColBERT checkpoint."""
    return str(build_standin(tmp_path_factory.mktemp("models") / "standin"))


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory) -> str:
    """A tiny random ModernBERT ColBERT (RoPE, byte-level BPE, lowercasing)."""
    return str(build_tiny_modernbert(tmp_path_factory.mktemp("models") / "tiny"))


@pytest.fixture(scope="session")
def standin_model(standin_path):
    from longcolbert.encoding.model import load_model

    return load_model(standin_path)


@pytest.fixture(scope="session")
def tiny_model(tiny_path):
    from longcolbert.encoding.model import load_model

    return load_model(tiny_path)


@pytest.fixture(scope="session")
def corpus_index_path(tmp_path_factory, standin_model) -> str:
    """An index folder (stand-in model) of the small corpus plus the real PDF when installed.

    Shared read-only: tests that add or delete build their own index.
    """
    from longcolbert import Document, Index
    from longcolbert.documents.loaders import load_paths

    from corpus import DOCS, META, REAL_PDF

    documents = [Document(i, text, META[i]) for i, text in DOCS.items()]
    if REAL_PDF.exists():
        documents += load_paths([REAL_PDF])[0]
    path = tmp_path_factory.mktemp("indexes") / "corpus"
    with Index(path, model=standin_model) as index:
        index.add_documents(documents)  # one add: the PLAID codec learns from every document
    return str(path)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` run only with LONGCOLBERT_SLOW=1 (they are long sweeps)."""
    import os

    if os.environ.get("LONGCOLBERT_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="a long sweep: run with LONGCOLBERT_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
