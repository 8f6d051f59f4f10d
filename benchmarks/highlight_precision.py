"""Highlights as evidence: how many highlighted words fall inside the gold answer span.

Each question of ``passage_questions.json`` names its page and a gold span. For every
question whose page comes back in the top 3 of a default search (hybrid, re-reading,
3 passages a page), the highlights of that page's passages are counted:

* **inside gold**: the share of highlights that overlap a gold span (precision of the
  highlights as evidence of the answer);
* **stopwords**: the share of highlights that are one function word
  (``passage_quality.STOPWORDS``), by kind (semantic, lexical, both);
* **per passage**: highlights per passage shown;
* **gold marked**: of the passages that hold a gold span (half of it or more), the
  share with at least one highlight inside it (what a stricter rule must not lose).

Held-out split first. The same script measures any longcolbert on the path, so the
rule before a change is measured from a checkout of the commit before::

    .venv/bin/python benchmarks/highlight_precision.py --label after
    PYTHONPATH=/tmp/before/src .venv/bin/python benchmarks/highlight_precision.py --label before

Results go to ``benchmarks/results/highlight_precision.json`` (one entry per label).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from passage_quality import STOPWORDS, holds_answer, load_questions  # noqa: E402

from longcolbert import Index  # noqa: E402
from longcolbert.encoding.model import load_model  # noqa: E402


def overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < g1 and g0 < end for g0, g1 in spans)


def measure(index: Index, questions: list) -> dict:
    counts = {"questions": len(questions), "page_in_top3": 0, "passages": 0, "highlights": 0,
              "inside_gold": 0, "stopwords": 0, "gold_passages": 0, "gold_marked": 0}
    kinds: dict[str, int] = {}
    stop_kinds: dict[str, int] = {}
    for q in questions:
        hit = next((h for h in index.search(q.question, k=3, passages=3) if h.id == q.page), None)
        if hit is None:
            continue
        counts["page_in_top3"] += 1
        text = index.get(q.page).text
        for passage in hit.passages:
            counts["passages"] += 1
            for h in passage.highlights:
                counts["highlights"] += 1
                kinds[h.kind] = kinds.get(h.kind, 0) + 1
                counts["inside_gold"] += overlaps(h.start, h.end, q.gold)
                if text[h.start:h.end].lower() in STOPWORDS:
                    counts["stopwords"] += 1
                    stop_kinds[h.kind] = stop_kinds.get(h.kind, 0) + 1
            if holds_answer(passage.start, passage.end, q.gold):
                counts["gold_passages"] += 1
                counts["gold_marked"] += any(overlaps(h.start, h.end, q.gold)
                                             for h in passage.highlights)
    shown = max(counts["highlights"], 1)
    return {
        **counts,
        "kinds": kinds,
        "stopword_kinds": stop_kinds,
        "inside_gold_share": round(counts["inside_gold"] / shown, 4),
        "stopword_share": round(counts["stopwords"] / shown, 4),
        "highlights_per_passage": round(counts["highlights"] / max(counts["passages"], 1), 2),
        "gold_marked_share": round(counts["gold_marked"] / max(counts["gold_passages"], 1), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", default=str(HERE / "work" / "python-docs-index-384"))
    parser.add_argument("--model", default=str(HERE / "work" / "standin-384"))
    parser.add_argument("--label", required=True, help="the name of this run's entry")
    parser.add_argument("--out", default=str(HERE / "results" / "highlight_precision.json"))
    args = parser.parse_args()
    index = Index(args.index, model=load_model(args.model), create=False)
    pages = {doc_id: index.get(doc_id).text for doc_id in index.ids()}
    entry = {"command": " ".join(["python", *sys.argv]),
             "machine": f"{platform.machine()}, Python {platform.python_version()}, 2 cores"}
    for split in ("held_out", "tuning"):
        entry[split] = measure(index, load_questions(pages, split))
        print(json.dumps({split: entry[split]}), flush=True)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    results[args.label] = entry
    out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
