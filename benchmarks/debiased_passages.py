"""What-if: choose passages with the document-wide component removed from token vectors.

A token vector is encoded with its whole page around it, so each carries the page's
topic, and inside the page every topical paragraph looks alike; re-reading fixes
that by encoding passages alone, at a cost per query. This asks whether a cheap
correction does the same: before passages are chosen, each document's token
vectors lose ``alpha`` times their mean (the document-wide component) and are
normalised again; documents are still ranked, and scored, from the stored vectors
as they are. No passage is re-read (``reread=False``), so a search costs a plain
search plus one matrix product per candidate.

On the passage-quality corpus and questions (``passage_quality.py``'s index, which
must exist), for each ``alpha`` (0: the plain search), both splits; decide on the
tuning split.

    .venv/bin/python benchmarks/debiased_passages.py     # about 5 minutes on 2 cores

Results go to ``benchmarks/results/debiased_passages.json``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

import torch
from passage_quality import what_if_run, what_if_setup

import longcolbert.plaid.index as plaid_index
from longcolbert import Index
from longcolbert.encoding.model import load_model
from longcolbert.results import Hits

ALPHAS = (0.0, 0.5, 1.0)


def debiased(rows: torch.Tensor, alpha: float) -> torch.Tensor:
    """Unit rows after removing ``alpha`` times their mean.

    >>> rows = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2], [1.0, -0.2]]), dim=1)
    >>> debiased(rows, 1.0).round(decimals=3).tolist()
    [[0.0, 1.0], [0.0, -1.0]]
    """
    return torch.nn.functional.normalize(rows - alpha * rows.mean(0, keepdim=True), dim=1)


def main() -> None:
    args, questions = what_if_setup(__doc__.splitlines()[0], "debiased_passages.json")
    rank = plaid_index.rank_documents
    setting = {"alpha": 0.0}
    rows: dict[str, torch.Tensor] = {}

    def with_debiased_passages(documents: Any, similarities: Any, query: Any,
                               *positional: Any, **named: Any) -> Hits:
        """The search's own ranking, with each hit's passages chosen again from the
        debiased vectors (the same code, other similarities)."""
        ranked = rank(documents, similarities, query, *positional, **named)
        if not setting["alpha"]:
            return ranked
        asked = query.embeddings.float()
        other = [(asked @ debiased(rows[d.id], setting["alpha"]).T).numpy() for d in documents]
        everything = list(positional)
        everything[3] = None  # top: every document, so each ranked one is there
        chosen = {h.id: h for h in rank(documents, other, query, *everything, **named)}
        return Hits(replace(h, passages=chosen[h.id].passages) for h in ranked)

    plaid_index.rank_documents = with_debiased_passages  # type: ignore[assignment]
    report: dict = {"command": " ".join(["python"] + sys.argv)}
    with Index(args.index, model=load_model(args.model), create=False, reread=False) as index:
        rows.update({i: r.float() for i, (_, r) in index.stored_rows(index.ids()).items()})
        for alpha in ALPHAS:
            setting["alpha"] = alpha
            what_if_run(f"alpha {alpha}", index, questions, args.out, report)


if __name__ == "__main__":
    main()
