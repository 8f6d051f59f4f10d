"""Which single vector per document could be the Qdrant backend's first stage?

On the query-path corpus (500 synthetic documents of 2,000 64-dim rows, 50 queries;
``common.synthetic_corpus``), each candidate vector is computed for every document
and query, and the documents whose vector is nearest the query's (exact dot
products, no index) are checked against the exact MaxSim top 10: the share of it
that a prefetch of N documents would hand to MaxSim. The candidates:

* ``pooled``: the unit mean of the rows (what ``QdrantIndex`` prefetches by today);
* ``fde k=K p=P r=R``: a MUVERA-style fixed dimensional encoding (Dhulipala et al.,
  2024). Per repetition, K random hyperplanes cut the space into 2^K buckets; a
  document's bucket holds the mean of its rows there (an empty bucket takes the row
  nearest it by hyperplane signs), a query's the sum of its rows there; each bucket
  is projected to P dimensions by a random sign matrix; R repetitions are joined.
  The dot product of two encodings approximates MaxSim, the query side summed;
* ``centroids C=N``: a sparse vector over N centroids shared by the corpus
  (k-means on 100,000 of its rows): a document holds 1 for each centroid nearest one
  of its rows; a query holds, for each centroid among its rows' ``NPROBE`` nearest,
  the largest similarity to it. Their dot product is what a Qdrant sparse vector
  (an inverted index, no idf) would rank by: a bag of PLAID codes.

Nothing here touches Qdrant: it measures what a vector could give before it is
built into the collection.

    .venv/bin/python benchmarks/first_stage_options.py   # about 5 minutes on 2 cores

Results go to ``benchmarks/results/first_stage_options.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from common import HERE, brute_force, synthetic_corpus, synthetic_queries

DEPTHS = (30, 100, 200)
SETTINGS = ((3, 8, 10), (4, 16, 10), (5, 8, 20), (5, 16, 20))  # (k, p, r)
CENTROIDS = (1024, 4096)
NPROBE = 2


def kmeans(rows: torch.Tensor, n: int, rounds: int = 6) -> torch.Tensor:
    """``n`` unit centroids of ``rows`` (spherical k-means from a seeded sample)."""
    generator = torch.Generator().manual_seed(0)
    centroids = rows[torch.randperm(rows.shape[0], generator=generator)[:n]].clone()
    for _ in range(rounds):
        nearest = (rows @ centroids.T).argmax(1)
        sums = torch.zeros_like(centroids).index_add_(0, nearest, rows)
        counts = torch.bincount(nearest, minlength=n)
        centroids = torch.where(counts[:, None] > 0,
                                torch.nn.functional.normalize(sums, dim=1), centroids)
    return centroids


def bag_of_centroids(docs: list[torch.Tensor], queries: list[torch.Tensor],
                     centroids: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Documents' and queries' sparse centroid vectors, dense here."""
    n = centroids.shape[0]
    doc_codes = np.zeros((len(docs), n), dtype=np.float32)
    for j, rows in enumerate(docs):
        doc_codes[j, np.unique((rows @ centroids.T).argmax(1).numpy())] = 1.0
    query_codes = np.zeros((len(queries), n), dtype=np.float32)
    for i, rows in enumerate(queries):
        best = (rows @ centroids.T).topk(NPROBE, dim=1)
        np.maximum.at(query_codes[i], best.indices.numpy().reshape(-1),
                      best.values.numpy().reshape(-1))
    return doc_codes, query_codes


def fde(rows: np.ndarray, planes: np.ndarray, signs: np.ndarray, query: bool) -> np.ndarray:
    """The encoding of one document's (or query's) ``rows`` [n, dim] for hyperplanes
    ``planes`` [r, k, dim] and projections ``signs`` [r, dim, p]."""
    r, k, _ = planes.shape
    buckets = 2 ** k
    parts = []
    for rep in range(r):
        bits = (rows @ planes[rep].T) > 0  # [n, k]
        ids = bits.astype(np.int64) @ (1 << np.arange(k))
        projected = rows @ signs[rep] / np.sqrt(signs.shape[2])  # [n, p]
        sums = np.zeros((buckets, projected.shape[1]))
        np.add.at(sums, ids, projected)
        counts = np.bincount(ids, minlength=buckets)
        if not query:
            filled = counts > 0
            sums[filled] /= counts[filled, None]
            for empty in np.flatnonzero(~filled):  # the row nearest by hyperplane signs
                code = (empty >> np.arange(k)) & 1
                nearest = int(np.argmin((bits != code.astype(bool)).sum(axis=1)))
                sums[empty] = projected[nearest]
        parts.append(sums.reshape(-1))
    return np.concatenate(parts).astype(np.float32)


def recalls(doc_vectors: np.ndarray, query_vectors: np.ndarray,
            exact: list[list[int]]) -> dict[str, float]:
    """Share of the exact top 10 among each query's nearest ``DEPTHS`` documents."""
    order = np.argsort(-(query_vectors @ doc_vectors.T), axis=1, kind="stable")
    return {str(n): round(float(np.mean([len(set(order[i, :n].tolist()) & set(e)) / len(e)
                                         for i, e in enumerate(exact)])), 3)
            for n in DEPTHS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "first_stage_options.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    docs = synthetic_corpus([2000] * args.documents)
    queries = synthetic_queries(docs, args.queries)
    flat = torch.cat(docs)
    bounds = np.concatenate([[0], np.cumsum([d.shape[0] for d in docs])[:-1]])
    exact = [brute_force(q, flat, bounds, 10) for q in queries]
    result: dict = {"documents": args.documents, "queries": args.queries, "depths": DEPTHS,
                    "options": {}}

    pooled = torch.nn.functional.normalize(torch.stack([d.mean(0) for d in docs]), dim=1)
    asked = torch.nn.functional.normalize(torch.stack([q.mean(0) for q in queries]), dim=1)
    result["options"]["pooled"] = {"dims": pooled.shape[1],
                                   "recall": recalls(pooled.numpy(), asked.numpy(), exact)}
    print("pooled", json.dumps(result["options"]["pooled"]), flush=True)

    dim = docs[0].shape[1]
    for k, p, r in SETTINGS:
        rng = np.random.default_rng(0)
        planes = rng.standard_normal((r, k, dim))
        signs = rng.choice([-1.0, 1.0], size=(r, dim, p))
        doc_codes = np.stack([fde(d.numpy().astype(np.float64), planes, signs, False) for d in docs])
        query_codes = np.stack([fde(q.numpy().astype(np.float64), planes, signs, True)
                                for q in queries])
        name = f"fde k={k} p={p} r={r}"
        result["options"][name] = {"dims": int(doc_codes.shape[1]),
                                   "recall": recalls(doc_codes, query_codes, exact)}
        print(name, json.dumps(result["options"][name]), flush=True)

    sample = flat[torch.randperm(flat.shape[0], generator=torch.Generator().manual_seed(0))[:100_000]]
    for n in CENTROIDS:
        doc_codes, query_codes = bag_of_centroids(docs, queries, kmeans(sample, n))
        name = f"centroids C={n} nprobe={NPROBE}"
        result["options"][name] = {"dims": n, "nonzero_per_document": round(float(
            (doc_codes > 0).sum(axis=1).mean()), 1), "recall": recalls(doc_codes, query_codes, exact)}
        print(name, json.dumps(result["options"][name]), flush=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
