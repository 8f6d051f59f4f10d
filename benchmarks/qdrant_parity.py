"""Parity: the Qdrant backend against the embedded index on the passage-quality questions.

Indexes the same 317 pages of Python's library reference into a ``QdrantIndex`` in
a Qdrant Edge folder (Qdrant's Rust engine in process, what ``--backend qdrant``
makes; ``--engine memory`` uses qdrant-client's in-memory engine, far slower), with
the same stand-in model and documents encoded whole as ``Index`` does, then asks the
103 questions of ``passage_questions.json`` of both backends, each with its default
(hybrid search) and with ``hybrid=False`` (MaxSim alone): the embedded index folder
that ``passage_quality.py`` built, and the Qdrant collection. Re-reading is on for
all (the default).

Reported, per split: the figures of ``passage_quality.py`` for each backend, the
questions where the two differ (right page in the top 3, passage hit), and, where
both return the same documents in the same order, how many first passages have the
same span and the same highlights. The embedded index
scores 4-bit PLAID residuals, Qdrant byte-coded vectors, so scores differ in the last
digits.

Run:  .venv/bin/python benchmarks/passage_quality.py    # once, for the embedded index
      .venv/bin/python benchmarks/qdrant_parity.py      # about 20 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from common import docs_folder
from passage_quality import HERE, evaluate, load_questions, summarise

from longcolbert import Index, IndexBackend
from longcolbert.documents.loaders import Document
from longcolbert.encoding.model import load_model
from longcolbert.qdrant.edge_client import EdgeClient
from longcolbert.qdrant.index import QdrantIndex

METHODS = ("embedded", "qdrant", "embedded hybrid=False", "qdrant hybrid=False")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", default=str(HERE / "work" / "python-docs-index-384"))
    parser.add_argument("--model", default=str(HERE / "work" / "standin-384"))
    parser.add_argument("--out", default=str(HERE / "results" / "qdrant_parity.json"))
    parser.add_argument("--engine", choices=("edge", "memory"), default="edge")
    parser.add_argument("--defaults-only", action="store_true",
                        help="hybrid search only: leave out the two hybrid=False runs")
    args = parser.parse_args()
    if not (Path(args.index) / "store.sqlite").exists():
        sys.exit(f"no index at {args.index}: run benchmarks/passage_quality.py first")

    pages = {p.name: p.read_text(encoding="utf-8") for p in sorted(docs_folder().glob("*.txt"))}
    questions = load_questions(pages, None)
    model = load_model(args.model)
    folder = tempfile.TemporaryDirectory(prefix="qdrant-parity-")
    qdrant = QdrantIndex(EdgeClient(folder.name) if args.engine == "edge" else ":memory:",
                         "python-docs", model=model)
    began = time.perf_counter()
    qdrant.add_documents([Document(name, text) for name, text in pages.items()],
                         show_progress=True)
    build_seconds = round(time.perf_counter() - began, 1)

    hits: dict[str, dict] = {name: {} for name in METHODS}

    def answer(name: str, index: IndexBackend) -> Callable[[str], list[tuple[str, int, int]]]:
        def ask(question: str) -> list[tuple[str, int, int]]:
            found = index.search(question, k=3, passages=1)
            hits[name][question] = found
            return [(h.id, h.passages[0].start, h.passages[0].end) for h in found if h.passages]
        return ask

    report: dict = {"command": " ".join(["python"] + sys.argv), "engine": args.engine,
                    "qdrant_build_seconds": build_seconds,
                    "qdrant_points": qdrant.client.count("python-docs", exact=True).count,
                    "methods": {}}
    qdrant_maxsim = QdrantIndex(qdrant.client, "python-docs", model=model, hybrid=False)
    with Index(args.index, model=model, create=False) as embedded, \
            Index(args.index, model=model, create=False, hybrid=False) as embedded_maxsim:
        indexes = dict(zip(METHODS, (embedded, qdrant, embedded_maxsim, qdrant_maxsim)))
        for name, index in list(indexes.items())[:2 if args.defaults_only else 4]:
            began = time.perf_counter()
            result = evaluate(answer(name, index), questions)
            report["methods"][name] = {"summary": summarise(result["per_question"], questions),
                                       "seconds": round(time.perf_counter() - began, 1),
                                       **result}
            print(name, json.dumps(report["methods"][name]["summary"]), flush=True)
    qdrant.close()
    folder.cleanup()

    report["parity"] = {f"{b} against {a}": compare(hits, a, b, report, questions)
                        for a, b in (METHODS[:2], METHODS[2:]) if b in report["methods"]}
    print(json.dumps(report["parity"]), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


def compare(hits: dict[str, dict], a: str, b: str, report: dict, questions: list) -> dict:
    """Where methods ``a`` and ``b`` differ: questions with the right page in the top 3
    for one only, or a passage hit for one only; and, among questions where both
    return the same documents in the same order, how many first passages have the same
    span and the same highlights, and how alike those highlights are: highlighted
    words in both over words in either (spans, kinds aside), averaged."""
    ours, theirs = (report["methods"][n]["per_question"] for n in (a, b))
    differ = {
        "page_in_top_3": [q.id for q in questions
                          if (ours[q.id]["rank"] is None) != (theirs[q.id]["rank"] is None)],
        "passage_hit": [q.id for q in questions
                        if ours[q.id]["passage_hit"] != theirs[q.id]["passage_hit"]],
    }
    same_documents = same_passage = same_highlights = 0
    overlaps, same_words = [], 0
    for q in questions:
        one, other = hits[a][q.question], hits[b][q.question]
        if [h.id for h in one] != [h.id for h in other]:
            continue
        same_documents += 1
        spans = [(h.passages[0].start, h.passages[0].end) for h in one]
        if spans == [(h.passages[0].start, h.passages[0].end) for h in other]:
            same_passage += 1
            marks = [[(x.start, x.end, x.kind) for x in h.passages[0].highlights] for h in one]
            same_highlights += marks == [[(x.start, x.end, x.kind) for x in h.passages[0].highlights]
                                         for h in other]
            for mine, theirs in zip(one, other):
                words = [{(x.start, x.end) for x in h.passages[0].highlights} for h in (mine, theirs)]
                if words[0] | words[1]:
                    overlaps.append(len(words[0] & words[1]) / len(words[0] | words[1]))
                    same_words += words[0] == words[1]
    return {"questions": len(questions), "differ": differ,
            "same_documents_in_order": same_documents,
            "of_those_same_first_passages": same_passage,
            "of_those_same_highlights": same_highlights,
            "hits_compared": len(overlaps), "hits_with_the_same_highlighted_words": same_words,
            "highlighted_words_in_both_over_either": round(float(sum(overlaps) / len(overlaps)), 3)
            if overlaps else None}


if __name__ == "__main__":
    main()
