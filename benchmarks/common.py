"""What the benchmarks share: Python's library docs as text, and the offline models.

The models are the test suite's own local stand-ins (``tests/local_models.py``, no
model hub): this module is the one place that reaches into ``tests/``, so each
benchmark imports its helpers from here and from no other benchmark.

    from common import build_standin, docs_folder, source_texts
"""

from __future__ import annotations

import glob
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from local_models import build_shape_twin, build_standin  # noqa: E402

# Python's library docs as reStructuredText (python3-doc); PYTHON_DOCS_GLOB points elsewhere
DOCS_GLOB = os.environ.get("PYTHON_DOCS_GLOB",
                           "/usr/share/doc/python3*/html/_sources/library/*.txt")
_MISSING = "error: Python's docs are missing; install python3-doc (scripts/setup.sh does)"

__all__ = ["DIM", "HERE", "brute_force", "build_shape_twin", "build_standin", "docs_folder",
           "p50_ms", "source_texts", "synthetic_corpus", "synthetic_queries", "timed"]
DIM = 64  # the shape twin's (and mxbai-edge-colbert's) embedding size


def source_texts() -> list[str]:
    """Every page that ``DOCS_GLOB`` matches, in path order (the encoding, memory and
    query-path benchmarks cut their documents from these, so their inputs stay fixed)."""
    paths = sorted(glob.glob(DOCS_GLOB))
    if not paths:
        sys.exit(_MISSING)
    return [Path(p).read_text(encoding="utf-8") for p in paths]


def docs_folder() -> Path:
    """The first folder of Python's library pages (one copy of each page)."""
    found = sorted({str(Path(p).parent) for p in glob.glob(DOCS_GLOB)})
    if not found:
        sys.exit(_MISSING)
    return Path(found[0])


def synthetic_corpus(doclens: list[int], seed: int = 0) -> list[torch.Tensor]:
    """Unit token vectors with topic structure, like contextual ColBERT embeddings.

    1,024 topic directions; 32,768 word directions near a topic (cosine about 0.7);
    a token is a word direction plus noise (cosine about 0.94). Each document
    mixes 4 topics' words (Zipf-weighted) with 25% common words shared by all.
    """
    rng = np.random.default_rng(seed)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    topics = unit(rng.standard_normal((1024, DIM)))
    word_topic = rng.integers(0, 1024, 32768)
    words = unit(topics[word_topic] + unit(rng.standard_normal((32768, DIM))))
    by_topic = [np.flatnonzero(word_topic == t) for t in range(1024)]
    common = np.arange(512)
    docs = []
    for n in doclens:
        pool = np.concatenate([by_topic[t] for t in rng.choice(1024, 4, replace=False)])
        zipf = 1.0 / np.arange(1, len(pool) + 1)
        chosen = np.where(
            rng.random(n) < 0.25,
            rng.choice(common, n),
            rng.choice(rng.permutation(pool), n, p=zipf / zipf.sum()),
        )
        noise = unit(rng.standard_normal((n, DIM))) * 0.35
        docs.append(torch.from_numpy(unit(words[chosen] + noise).astype(np.float32)))
    return docs


def synthetic_queries(docs: list[torch.Tensor], n: int, seed: int = 1) -> list[torch.Tensor]:
    """32-token queries: tokens of a random target document plus noise (cosine about 0.96)."""
    rng = np.random.default_rng(seed)
    queries = []
    for _ in range(n):
        target = docs[rng.integers(len(docs))]
        picked = target[torch.from_numpy(rng.integers(0, target.shape[0], 32))]
        noise = torch.nn.functional.normalize(
            torch.from_numpy(rng.standard_normal((32, DIM)).astype(np.float32)), dim=-1)
        queries.append(torch.nn.functional.normalize(picked + 0.3 * noise, dim=-1))
    return queries


def brute_force(query: torch.Tensor, flat: torch.Tensor, bounds: np.ndarray, k: int) -> list[int]:
    """Exact MaxSim top-k over every fp32 vector."""
    scores = np.maximum.reduceat((query @ flat.T).numpy(), bounds, axis=1).sum(axis=0)
    return np.argsort(-scores, kind="stable")[:k].tolist()


def p50_ms(times: list[float]) -> float:
    return round(statistics.median(times) * 1000, 1)


def timed(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result
