"""What-if: re-read only the middle of each candidate passage (shorter re-reads).

Re-reading encodes the 5 best passages of the 5 best pages on every query, each
about ``passage_tokens`` (150) tokens; the encoder's cost grows with the tokens
read. A passage is its evidence (a sentence or two) grown by whole sentences on
both sides, so its middle holds what matched. This asks whether reading only the
whole sentences around the middle of each passage, ``share`` of its characters,
keeps what re-reading gains: documents and passages are chosen, scored and
returned as before; only the text read alone is shorter. Share 1 is the default.

On the passage-quality corpus and questions (``passage_quality.py``'s index, which
must exist), each share and ``reread=False`` in one run, both splits:

    .venv/bin/python benchmarks/reread_shorter.py     # about 10 minutes on 2 cores

Results go to ``benchmarks/results/reread_shorter.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from common import docs_folder
from passage_quality import HERE, evaluate, load_questions, longcolbert, summarise

import longcolbert.ranking.rank as rank
from longcolbert import Index
from longcolbert.encoding.model import load_model
from longcolbert.ranking.passages import sentence_units

SHARES = (1.0, 0.5, 0.33)


def middle(text: str, share: float) -> str:
    """The whole sentences of ``text`` around its middle that hold ``share`` of its characters.

    >>> middle("One two. Three four five. Six.", 0.5)
    'Three four five.'
    """
    units = sentence_units(text)
    if share >= 1 or len(units) <= 1:
        return text
    centre = len(text) / 2
    lo = hi = min(range(len(units)), key=lambda i: abs(sum(units[i]) / 2 - centre))
    while units[hi][1] - units[lo][0] < share * len(text):
        left = units[lo - 1] if lo > 0 else None
        right = units[hi + 1] if hi + 1 < len(units) else None
        if left is None and right is None:
            break
        if right is None or (left is not None and centre - left[0] < right[1] - centre):
            lo -= 1
        else:
            hi += 1
    return text[units[lo][0] : units[hi][1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=str(HERE / "work" / "python-docs-index-384"))
    parser.add_argument("--model", default=str(HERE / "work" / "standin-384"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "reread_shorter.json")
    args = parser.parse_args()
    if not (Path(args.index) / "store.sqlite").exists():
        sys.exit(f"no index at {args.index}: run benchmarks/passage_quality.py first")
    torch.set_num_threads(2)
    folder = docs_folder()
    pages = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))}
    questions = load_questions(pages, None)
    model = load_model(args.model)
    reread = rank.standalone_scores
    report: dict[str, Any] = {"command": " ".join(["python"] + sys.argv), "methods": {}}
    runs: list[tuple[str, dict, float]] = [(f"re-read share {s}", {}, s) for s in SHARES]
    runs.append(("reread=False", {"reread": False}, 1.0))
    for name, setting, share in runs:
        def shorter(passages: Any, *rest: Any, share: float = share, **options: Any) -> Any:
            return reread([[middle(t, share) for t in doc] for doc in passages], *rest,
                          **options)

        rank.standalone_scores = shorter  # type: ignore[assignment]
        with Index(args.index, model=model, create=False, **setting) as index:
            result = evaluate(longcolbert(index), questions)
        rank.standalone_scores = reread
        report["methods"][name] = {"summary": summarise(result["per_question"], questions),
                                   **result}
        summary = report["methods"][name]["summary"]
        print(name, json.dumps({k: summary[k] for k in ("held_out", "tuning")}),
              f"p50 {result['p50_seconds']:.3f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
