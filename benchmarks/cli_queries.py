"""The command line, warm: 50 queries in one ``search --queries`` call against 50 ``search`` calls.

Each ``longcolbert search`` process imports torch and loads the model before it
searches; ``search --queries FILE`` pays that once for every line of FILE. This
times both on the same index and the same 50 questions (the first 50 of
``passage_questions.json``), one after the other, and checks that both give the
same first document for every query. Also times ``longcolbert --help`` and
``info`` (what a command costs before any search).

Run:  .venv/bin/python benchmarks/cli_queries.py [--index DIR] [--queries 50]
      (the index of passage_quality.py by default: run that first)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "longcolbert.cli"]


def timed_run(command: list[str], stdin: str | None = None) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=True)
    return time.perf_counter() - began, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", default=str(HERE / "work" / "python-docs-index-384"))
    parser.add_argument("--model", default=str(HERE / "work" / "standin-384"))
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--out", default=str(HERE / "results" / "cli_queries.json"))
    args = parser.parse_args()
    if not (Path(args.index) / "store.sqlite").exists():
        sys.exit("error: no index; run benchmarks/passage_quality.py first (it builds it)")
    questions = [q["question"] for q in json.loads((HERE / "passage_questions.json").read_text())]
    questions = questions[: args.queries]
    options = ["-k", "3", "--passages", "1", "--model", args.model]

    help_seconds = min(timed_run([*CLI, "--help"])[0] for _ in range(3))
    info_seconds = min(timed_run([*CLI, "info", args.index])[0] for _ in range(3))

    separate, separate_first = 0.0, []
    for question in questions:
        seconds, out = timed_run([*CLI, "search", args.index, question, "--json", *options])
        separate += seconds
        separate_first.append(json.loads(out)["results"][0]["id"])

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(questions) + "\n")
    batch, out = timed_run([*CLI, "search", args.index, "--queries", handle.name, *options])
    Path(handle.name).unlink()
    batch_first = [json.loads(line)["results"][0]["id"] for line in out.splitlines()]

    report = {
        "command": " ".join(["python"] + sys.argv),
        "index": args.index,
        "queries": len(questions),
        "help_seconds_min_of_3": round(help_seconds, 3),
        "info_seconds_min_of_3": round(info_seconds, 3),
        "separate_calls_seconds": round(separate, 2),
        "separate_calls_seconds_per_query": round(separate / len(questions), 3),
        "one_call_seconds": round(batch, 2),
        "one_call_seconds_per_query": round(batch / len(questions), 3),
        "same_first_document": sum(a == b for a, b in zip(separate_first, batch_first)),
    }
    print(json.dumps(report, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
