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
as the baseline; then the route that encodes nothing: the reranker given the
vector store (``index=store``), which scores the candidates from the index's
stored vectors, asked each question twice, with how its ranking agrees with the
fresh encodings' (same order, same first, overlap of the five kept).

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
from longcolbert.encoding.model import load_model

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
    fresh_ids: dict[str, list[str | None]] = {}  # the ranking with fresh encodings, per query
    stats: dict = {}
    for route, cache_bytes in (("cache", args.cache_mib << 20), ("no cache", 0),
                               ("stored vectors", args.cache_mib << 20)):
        reranker = LongColBERTReranker(model=model, top_n=5, cache_bytes=cache_bytes,
                                       index=store if route == "stored vectors" else None)
        retriever = ContextualCompressionRetriever(base_compressor=reranker,
                                                   base_retriever=base)
        retriever.invoke("warm up the model")
        for question in questions:
            first_s, first = timed(lambda: retriever.invoke(question))
            row = {"route": route, "cache_bytes": cache_bytes, "query": question,
                   "first_seconds": round(first_s, 3)}
            if route != "no cache":
                again_s, again = timed(lambda: retriever.invoke(question))
                row.update(repeat_seconds=round(again_s, 3),
                           repeat_share=round(again_s / first_s, 4),
                           same_ranking=[d.id for d in again] == [d.id for d in first])
            if route == "no cache":
                fresh_ids[question] = [d.id for d in first]
            if route == "stored vectors":
                fresh = fresh_ids[question]
                row.update(same_order_as_fresh=[d.id for d in first] == fresh,
                           same_first_as_fresh=first[0].id == fresh[0],
                           top5_overlap_with_fresh=len({d.id for d in first} & set(fresh)))
            rows.append(row)
            print(json.dumps(row), flush=True)
        if route == "cache":
            stats = reranker.engine.cache.stats()
        if route == "stored vectors":
            stats_stored = {"texts_from_index": reranker.engine.stored,
                            **reranker.engine.cache.stats()}

    def mean(route: str, key: str) -> float:
        values = [r[key] for r in rows if r["route"] == route]
        return round(sum(values) / len(values), 3)

    cached = [r for r in rows if r["route"] == "cache"]
    stored = [r for r in rows if r["route"] == "stored vectors"]
    report = {
        "command": " ".join(["python"] + sys.argv),
        "candidates": args.candidates,
        "queries": len(questions),
        "rows": rows,
        "cache_stats": stats,
        "stored_route_stats": stats_stored,
        "mean_first_seconds_cached": mean("cache", "first_seconds"),
        "mean_first_seconds_no_cache": mean("no cache", "first_seconds"),
        "mean_repeat_seconds": mean("cache", "repeat_seconds"),
        "max_repeat_share": max(r["repeat_share"] for r in cached),
        "all_same_ranking": all(r["same_ranking"] for r in cached),
        "mean_first_seconds_stored": mean("stored vectors", "first_seconds"),
        "mean_repeat_seconds_stored": mean("stored vectors", "repeat_seconds"),
        "stored_same_order_as_fresh": sum(r["same_order_as_fresh"] for r in stored),
        "stored_same_first_as_fresh": sum(r["same_first_as_fresh"] for r in stored),
        "stored_mean_top5_overlap_with_fresh": round(
            sum(r["top5_overlap_with_fresh"] for r in stored) / len(stored), 2),
    }
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=1))
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
