"""Why re-reads run one passage per forward on a CPU: the same passages batched, timed.

A default search re-reads the 5 best passages of its 5 best documents, each encoded
alone (``Encoder.read_passages``). On a CPU each passage runs in its own forward,
so its rows depend on its text alone. This measures what that costs: for each
question, the 25 passages a default search re-reads (those of
``search(k=5, passages=5)``, the same set), encoded

* one per forward (what ``read_passages`` does on a CPU), and
* all 25 in one padded batch (what it does on a GPU),

by the model that re-reads (its bfloat16 copy on a CPU with AMX) and by the float32
model, with the largest change of any row between the two ways.

On the passage-quality corpus (``passage_quality.py``'s index, which must exist):

    .venv/bin/python benchmarks/reread_batching.py [--questions 20]   # about 3 minutes on 2 cores

Results go to ``benchmarks/results/reread_batching.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent

from longcolbert import Index  # noqa: E402
from longcolbert.encoding.encoder import Encoder  # noqa: E402


def reread_texts(index: Index, question: str) -> list[str]:
    """The passages a default search for ``question`` re-reads."""
    return [p.text for hit in index.search(question, k=5, passages=5) for p in hit.passages]


def sequences_of(encoder: Encoder, texts: list[str]) -> list[list[int]]:
    """The token ids of each forward sequence of ``texts`` (a passage longer than the
    model's window is more than one)."""
    return [item.ids for text in texts for item in encoder._windows(0, encoder._prepare(text))]


def rows_of(encoder: Encoder, model: torch.nn.Module, sequences: list[list[int]]
            ) -> list[torch.Tensor]:
    """Each sequence's normalised rows, all of them run in one forward (padded)."""
    out = encoder._forward_alone(sequences, model)
    if isinstance(out, list):  # a packed model
        return out
    return [out[i, : len(s)] for i, s in enumerate(sequences)]


def measure(encoder: Encoder, model: torch.nn.Module, queries: list[list[list[int]]]) -> dict:
    """Milliseconds per sequence one per forward and batched per query, and the largest row change."""
    seconds = {"one_per_forward": 0.0, "batched_per_query": 0.0}
    change = 0.0
    with torch.inference_mode():
        rows_of(encoder, model, queries[0][:2])  # warm
        for sequences in queries:
            began = time.perf_counter()
            alone = [rows_of(encoder, model, [s])[0] for s in sequences]
            seconds["one_per_forward"] += time.perf_counter() - began
            began = time.perf_counter()
            batched = rows_of(encoder, model, sequences)
            seconds["batched_per_query"] += time.perf_counter() - began
            change = max(change, max(float((a - b).abs().max()) for a, b in zip(alone, batched)))
    forwards = sum(len(s) for s in queries)
    return {**{f"ms_per_sequence_{k}": round(1000 * v / forwards, 2) for k, v in seconds.items()},
            "largest_row_change": change}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=str(HERE / "work" / "python-docs-index-384"))
    parser.add_argument("--model", default=str(HERE / "work" / "standin-384"))
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "reread_batching.json")
    args = parser.parse_args()
    if not (Path(args.index) / "store.sqlite").exists():
        sys.exit(f"no index at {args.index}: run benchmarks/passage_quality.py first")
    torch.set_num_threads(2)
    index = Index(args.index, model=args.model)
    questions = json.loads((HERE / "passage_questions.json").read_text())[: args.questions]
    texts = [reread_texts(index, q["question"]) for q in questions]
    encoder = index.model_holder.encoder
    queries = [sequences_of(encoder, t) for t in texts]
    models = {"float32": encoder.model}
    if encoder.reading_dtype is not None:
        models[f"{encoder.reading_dtype} linear layers (the re-reading copy)"] = \
            encoder._reading_model()
    report = {
        "questions": len(queries),
        "passages": sum(len(t) for t in texts),
        "sequences": sum(len(s) for s in queries),
        "mean_sequence_tokens": round(sum(len(x) for s in queries for x in s)
                                      / sum(len(s) for s in queries), 1),
        "torch_threads": torch.get_num_threads(),
        "models": {name: measure(encoder, model, queries) for name, model in models.items()},
    }
    print(json.dumps(report, indent=1))
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
