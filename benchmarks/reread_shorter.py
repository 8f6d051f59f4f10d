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

import sys
from typing import Any

from passage_quality import what_if_run, what_if_setup

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
    args, questions = what_if_setup(__doc__.splitlines()[0], "reread_shorter.json")
    model = load_model(args.model)
    reread = rank.standalone_scores
    report: dict[str, Any] = {"command": " ".join(["python"] + sys.argv)}
    runs: list[tuple[str, dict, float]] = [(f"re-read share {s}", {}, s) for s in SHARES]
    runs.append(("reread=False", {"reread": False}, 1.0))
    for name, setting, share in runs:
        def shorter(passages: Any, *rest: Any, share: float = share, **options: Any) -> Any:
            return reread([[middle(t, share) for t in doc] for doc in passages], *rest,
                          **options)

        rank.standalone_scores = shorter  # type: ignore[assignment]
        with Index(args.index, model=model, create=False, **setting) as index:
            what_if_run(name, index, questions, args.out, report)
        rank.standalone_scores = reread


if __name__ == "__main__":
    main()
