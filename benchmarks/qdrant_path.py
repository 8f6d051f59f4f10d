"""The Qdrant backend's first stage on the query-path corpus, beside the embedded PLAID.

The same synthetic 1M-token corpus as ``query_path.py`` (500 documents of 2,000
64-dimensional token vectors with topic structure; ``common.synthetic_corpus``) and
the same 50 synthetic queries. Measured in one run, for each backend: build time,
search p50 and recall of the exact top 10 (brute-force MaxSim over fp32 vectors):

* **embedded**: an index folder written by ``Index`` (its SQLite store with the texts,
  token offsets and FTS5 sentence units, and its PLAID, in one generation); a search is
  what ``Index.search`` does before passages: ``PlaidIndex.search`` for the best
  ``CANDIDATES`` documents (centroid interaction, then exact MaxSim on their
  decompressed vectors), then those documents read from the store
  (``Store.by_plaid_ids``: text, offsets, sentence units); the PLAID search alone, for
  the 10 best, is timed too (the only figure before this version);
* **qdrant**: ``QdrantIndex`` points (2,048-token segments, uint8 MaxSim multivector,
  sparse centroid codes, a sketch multivector), written as ``QdrantIndex.add`` writes
  them, ``ADD_BATCH`` documents at a time (so the codebook is trained on the first
  batches and again as the collection grows); a search is what ``QdrantIndex.search``
  does before passages: ``QdrantIndex.candidate_ids`` (prefetch of ``PREFETCH``
  segments by centroid codes, MaxSim in Qdrant on their sketches, grouped by
  document, the best ``SKETCH_READS`` x ``CANDIDATES``), then those documents read
  back (text, offsets, sentence units, token bytes) and scored by exact MaxSim. The
  recall of the first 10 documents ``candidate_ids`` gives (the sketch's order) is
  reported too.

The ratio that matters is the two searches before passages, each reading back what
its passages need (``search_p50_ms``); the passages themselves are the same code for
both.

The same Qdrant backend runs twice: on qdrant-client's in-memory engine (Python and
NumPy, whose times say little about a server, and which ignores the prefetch of a
grouped query, so its recall is brute-force MaxSim's) and on a Qdrant Edge folder (Qdrant's
Rust engine in process, ``--backend qdrant``), whose folder size gives the bytes per
token (uint8 token vectors, the centroid codes and the codebook, the payload with
each token's char span, the sentence units' terms and BM25 vectors, Qdrant's own
indexes) beside the embedded folder's. The texts are sentences of 15 made-up words,
so both backends store sentence units as they would for prose. The in-memory
engine's recall is brute-force MaxSim's; the Edge folder's is what the point layout
and the first stage give.

    .venv/bin/python benchmarks/qdrant_path.py                   # both engines
    .venv/bin/python benchmarks/qdrant_path.py --engines edge    # the Edge folder alone
    .venv/bin/python benchmarks/qdrant_path.py --engines edge --segment-tokens 256 \
        --out /tmp/qdrant_path_256.json                          # passage-sized points

Results go to ``benchmarks/results/qdrant_path.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import HERE, brute_force, p50_ms, synthetic_corpus, synthetic_queries

from longcolbert import Index
from longcolbert.documents.loaders import Document
from longcolbert.encoding.encoder import EncodedDocument
from longcolbert.encoding.model import ModelFingerprint
from longcolbert.qdrant.edge_client import EdgeClient
from longcolbert.qdrant.index import (
    ADD_BATCH,
    CANDIDATES,
    PREFETCH,
    SEGMENT_TOKENS,
    SKETCH_READS,
    QdrantIndex,
    create_collection,
)
from longcolbert.qdrant.token_bytes import byte_similarities, stored_dim

ROWS = 2000
SENTENCE_WORDS = 15
SYNTHETIC = ModelFingerprint("synthetic", 64, "", "", 32, ROWS)


def fake_text(rows: int) -> tuple[str, np.ndarray]:
    """A text of ``rows`` five-character words in sentences of ``SENTENCE_WORDS``, and
    its token spans (one a word; CLS, [D], SEP empty)."""
    text, spans = "", []
    for i in range(rows - 3):
        if i:
            text += ". " if i % SENTENCE_WORDS == 0 else " "
        spans.append([len(text), len(text) + 5])
        text += f"w{i:04d}"
    text += "."
    end = len(text)
    return text, np.array([[0, 0], [0, 0], *spans, [end, end]], dtype=np.int64)


def folder_bytes(folder: Path) -> int:
    """Bytes a folder's files take on disk (allocated blocks, as ``EdgeClient.size_bytes``)."""
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def recall(found: list[list[int]], exact: list[list[int]]) -> float:
    return round(float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)])), 3)


def measure(location: object, docs: list[torch.Tensor], queries: list[torch.Tensor],
            exact: list[list[int]], text: str, offsets: np.ndarray, segment_tokens: int) -> dict:
    """Build the corpus into a ``QdrantIndex`` at ``location`` and search it as
    ``QdrantIndex.search`` does before passages."""
    # the model is never loaded: the vectors are given
    index = QdrantIndex(location, "bench", segment_tokens=segment_tokens)
    create_collection(index.client, "bench", {"name": "synthetic", "dim": docs[0].shape[1]})
    index._ready = True
    started = time.perf_counter()
    for start in range(0, len(docs), ADD_BATCH):
        batch = docs[start:start + ADD_BATCH]
        index.write_encoded([Document(str(start + i), text) for i in range(len(batch))],
                            [EncodedDocument(rows, offsets) for rows in batch])
    build = time.perf_counter() - started
    times, found, first_stage, read_back = [], [], [], []
    for q in queries:
        started = time.perf_counter()
        candidates = index.candidate_ids(q, CANDIDATES)
        # as QdrantIndex.search: the candidates' vectors come back and are scored exactly
        stored = index._documents(candidates, with_rows=True)
        similarities = byte_similarities(q, [rows for _, rows in stored])
        scores = [float(s.max(axis=1).sum()) for s in similarities]
        best = np.argsort(-np.array(scores), kind="stable")[:10]
        found.append([int(stored[i][0].id) for i in best])
        times.append(time.perf_counter() - started)
        first_stage.append([int(i) for i in candidates[:10]])
        read_back.append(candidates)
    entry = {"build_s": round(build, 1), "search_p50_ms": p50_ms(times),
             "recall_at_10": recall(found, exact),
             "recall_at_10_in_candidate_order": recall(first_stage, exact),
             "candidates": CANDIDATES,
             "documents_read_back": int(np.median([len(c) for c in read_back])),
             "points": int(index.client.count("bench", exact=True).count),
             "codebook": {**index.codebook.head(),
                          "centroids": int(index.codebook.centroids().shape[0])}}
    if isinstance(index.client, EdgeClient):
        index.client.close()  # flushed: what is on disk is the folder
        tokens = sum(d.shape[0] for d in docs)
        entry["bytes_per_token"] = round(index.client.size_bytes() / tokens, 1)
        entry["token_vector_bytes_per_token"] = stored_dim(docs[0].shape[1])  # one per coordinate
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--segment-tokens", type=int, default=SEGMENT_TOKENS,
                        help="rows per Qdrant point (QdrantIndex's segment_tokens)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "qdrant_path.json")
    parser.add_argument("--engines", nargs="+", choices=("memory", "edge"),
                        default=["memory", "edge"], help="which Qdrant engines to run")
    args = parser.parse_args()
    torch.set_num_threads(2)

    docs = synthetic_corpus([ROWS] * args.documents)
    queries = synthetic_queries(docs, args.queries)
    flat = torch.cat(docs)
    bounds = np.concatenate([[0], np.cumsum([d.shape[0] for d in docs])[:-1]])
    exact = [brute_force(q, flat, bounds, 10) for q in queries]
    result: dict = {"machine": {"cpu": platform.processor() or platform.machine(),
                                "python": platform.python_version(), "threads": 2},
                    "documents": args.documents, "tokens": int(flat.shape[0]),
                    "queries": args.queries, "prefetch_segments": PREFETCH,
                    "sketch_reads": SKETCH_READS,
                    "segment_tokens": args.segment_tokens}

    text, offsets = fake_text(ROWS)
    with tempfile.TemporaryDirectory() as folder:
        index = Index(Path(folder) / "idx", model="synthetic")  # the model is never loaded
        started = time.perf_counter()
        index._write([Document(str(i), text) for i in range(len(docs))],
                     [EncodedDocument(rows, offsets) for rows in docs], SYNTHETIC)
        build = time.perf_counter() - started
        times, alone, found = [], [], []
        for q in queries:
            started = time.perf_counter()
            candidates = index.plaid.search(q, CANDIDATES)
            index.store.by_plaid_ids(candidates.positions)  # what passages read
            times.append(time.perf_counter() - started)
            found.append(candidates.positions[:10])  # best first, by exact MaxSim
            started = time.perf_counter()
            index.plaid.search(q, 10)
            alone.append(time.perf_counter() - started)
        plaid_folder = index.plaid.path()
        index.close()
        tokens = int(flat.shape[0])
        result["embedded"] = {
            "build_s": round(build, 1), "search_p50_ms": p50_ms(times),
            "plaid_search_alone_p50_ms": p50_ms(alone),
            "recall_at_10": recall(found, exact),
            "bytes_per_token": round(folder_bytes(Path(folder) / "idx") / tokens, 1),
            "plaid_bytes_per_token": round(folder_bytes(plaid_folder) / tokens, 1)}
        print(json.dumps({"embedded": result["embedded"]}), flush=True)

    with tempfile.TemporaryDirectory() as folder:
        engines = {"qdrant_in_memory": ":memory:",
                   "qdrant_edge_folder": EdgeClient(Path(folder) / "edge")}
        chosen = {"memory": "qdrant_in_memory", "edge": "qdrant_edge_folder"}
        for name, location in engines.items():
            if name not in {chosen[e] for e in args.engines}:
                continue
            result[name] = measure(location, docs, queries, exact, text, offsets,
                                   args.segment_tokens)
            print(json.dumps({name: result[name]}), flush=True)
    if "qdrant_edge_folder" in result:
        result["edge_over_embedded"] = round(result["qdrant_edge_folder"]["search_p50_ms"]
                                             / result["embedded"]["search_p50_ms"], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
