"""Rerank without re-encoding: a LangChain ContextualCompressionRetriever asked twice.

The base retriever is ``LongColBERTVectorStore.as_retriever`` over the index of
``passage_quality.py`` (Python's library pages, whole), returning ``--candidates``
pages; the compressor is ``LongColBERTReranker`` (its defaults: hybrid,
re-reading; an in-memory encoding cache of ``--cache-mib``: 20 long pages of
384-dimension stand-in vectors take a few hundred MiB, more than the default
256 MiB holds, which would make the cache forget a query's first candidates
before its last). Each of ``--queries`` questions is asked
twice in a row: the first call encodes the candidates (and the passages it
re-reads); the second finds them all in the cache. Reports both times per query,
their ratio, the cache's hits and misses, and whether both calls ranked alike;
and, in the same run, the same first calls with the cache off (``cache_bytes=0``)
as the baseline.

Run:  .venv/bin/python benchmarks/rerank_cache.py [--queries 5] [--candidates 20]
      (the index of passage_quality.py: run that first)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from langchain_classic.retrievers import ContextualCompressionRetriever

from langchain_longcolbert import LongColBERTReranker, LongColBERTVectorStore
from longcolbert import Index
from longcolbert.model import load_model

HERE = Path(__file__).resolve().parent


def timed(call):  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    out = call()
    return time.perf_counter() - began, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", default=str(HERE / "work" / "python-docs-index-384"))
    parser.add_argument("--model", default=str(HERE / "work" / "standin-384"))
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--cache-mib", type=int, default=2048)
    parser.add_argument("--out", default=str(HERE / "results" / "rerank_cache.json"))
    args = parser.parse_args()
    if not (Path(args.index) / "store.sqlite").exists():
        sys.exit("error: no index; run benchmarks/passage_quality.py first (it builds it)")
    model = load_model(args.model)
    questions = [q["question"] for q in
                 json.loads((HERE / "passage_questions.json").read_text())][: args.queries]
    store = LongColBERTVectorStore(Index(args.index, model=model, create=False))
    base = store.as_retriever(search_kwargs={"k": args.candidates})
    rows = []
    for cache_bytes in (args.cache_mib << 20, 0):
        reranker = LongColBERTReranker(model=model, top_n=5, cache_bytes=cache_bytes)
        retriever = ContextualCompressionRetriever(base_compressor=reranker,
                                                   base_retriever=base)
        retriever.invoke("warm up the model")
        for question in questions:
            first_s, first = timed(lambda: retriever.invoke(question))
            row = {"cache_bytes": cache_bytes, "query": question,
                   "first_seconds": round(first_s, 3)}
            if cache_bytes:
                again_s, again = timed(lambda: retriever.invoke(question))
                row.update(repeat_seconds=round(again_s, 3),
                           repeat_share=round(again_s / first_s, 4),
                           same_ranking=[d.id for d in again] == [d.id for d in first])
            rows.append(row)
            print(json.dumps(row), flush=True)
        if cache_bytes:
            stats = reranker.engine.cache.stats()
    cached = [r for r in rows if r["cache_bytes"]]
    report = {
        "command": " ".join(["python"] + sys.argv),
        "candidates": args.candidates,
        "queries": len(questions),
        "rows": rows,
        "cache_stats": stats,
        "mean_first_seconds_cached": round(sum(r["first_seconds"] for r in cached) / len(cached), 3),
        "mean_first_seconds_no_cache": round(
            sum(r["first_seconds"] for r in rows if not r["cache_bytes"]) / len(cached), 3),
        "mean_repeat_seconds": round(sum(r["repeat_seconds"] for r in cached) / len(cached), 3),
        "max_repeat_share": max(r["repeat_share"] for r in cached),
        "all_same_ranking": all(r["same_ranking"] for r in cached),
    }
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=1))
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
