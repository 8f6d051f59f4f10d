"""Retrieval quality on Python's library docs (python3-doc) with the offline stand-in model.

Indexes every page of /usr/share/doc/python3.*/html/_sources/library with the CLI
(all-MiniLM-L6-v2 saved as a PyLate ColBERT, see tests/local_models.py), then asks
the questions in python_docs_questions.json and reports, for several document
scores and PLAID candidate depths:

* top1 / top3: the right page ranks first / in the first three;
* answer_in_passage: the right page is in the top 3 and its first passage
  contains the answer string;
* whether every passage and highlight slices the stored text exactly.

Run:  .venv/bin/python benchmarks/python_docs_quality.py [--index DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

from common import build_standin, docs_folder  # noqa: E402

from longcolbert import Index  # noqa: E402
from longcolbert.encoding.model import load_model  # noqa: E402


def evaluate(index: Index, questions: list[dict]) -> dict:
    top1 = top3 = in_passage = 0
    exact = True
    for q in questions:
        hits = index.search(q["question"], k=3, passages=1)
        ids = [h.id for h in hits]
        top1 += bool(ids) and ids[0] == q["page"]
        if q["page"] in ids:
            top3 += 1
            hit = hits[ids.index(q["page"])]
            in_passage += bool(hit.passages) and q["answer"] in hit.passages[0].text
        for hit in hits:
            text = index.get(hit.id).text
            for p in hit.passages:
                exact &= text[p.start : p.end] == p.text
                exact &= all(p.start <= h.start < h.end <= p.end for h in p.highlights)
    n = len(questions)
    return {"top1": top1 / n, "top3": top3 / n, "answer_in_passage": in_passage / n,
            "offsets_exact": exact}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", default=str(HERE / "work" / "python-docs-index"))
    parser.add_argument("--model", default=str(HERE / "work" / "standin"))
    parser.add_argument("--out", default=str(HERE / "results" / "python_docs_quality.json"))
    args = parser.parse_args()
    model = str(build_standin(Path(args.model)))
    folder = docs_folder()
    questions = json.loads((HERE / "python_docs_questions.json").read_text())

    build_seconds = None
    if not (Path(args.index) / "store.sqlite").exists():
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "longcolbert.cli", "index", args.index, str(folder),
             "--model", model],
            check=True,
        )
        build_seconds = time.perf_counter() - start

    loaded = load_model(model)
    results = []
    settings = [(expansion, score, 10) for expansion in (False, True)
                for score in ("maxsim", "passage")]
    settings.append((False, "passage", 30))
    for expansion, score, depth in settings:  # the stand-in ships without query expansion
        loaded.do_query_expansion = expansion
        with Index(args.index, model=loaded, create=False, document_score=score,
                   candidates=depth) as index:
            start = time.perf_counter()
            figures = evaluate(index, questions)
            figures["seconds_per_query"] = (time.perf_counter() - start) / len(questions)
        figures.update({"query_expansion": expansion, "document_score": score,
                        "candidates": depth})
        print(json.dumps(figures), flush=True)
        results.append(figures)
    with Index(args.index, create=False) as index:
        info = index.info()
    report = {
        "command": " ".join(["python"] + sys.argv),
        "corpus": str(folder),
        "questions": len(questions),
        "index": info,
        "index_build_seconds": build_seconds,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
