"""Peak memory of ``Index.add`` as the number of documents grows: one batch against batches.

Real text (Python's library docs, whole pages) and a real model (the offline
stand-in, 128-dim, see ``tests/local_models.py``), added to a fresh index in one
``Index.add`` call. Each configuration runs in its own process for its peak RSS:

* ``one batch``: ``batch_tokens`` larger than the corpus, so every document's
  float32 embeddings are held until the end (what longcolbert did before);
* ``batches``: ``batch_tokens=32768``: encode, compress and park on disk one
  batch at a time (the default, 262,144, is larger than the smaller corpus here;
  the stand-in encodes about 800 tokens/s on 2 cores, so the corpora stay small).

* with ``--single CHARS``: one document of that many characters (Python's docs
  joined) instead of whole pages: ``one batch`` encodes it whole, ``batches``
  streams it through encoding and compression a piece of ``batch_tokens`` rows
  at a time.

    .venv/bin/python benchmarks/add_memory.py        # about 15 minutes on 2 cores
    .venv/bin/python benchmarks/add_memory.py --single 2000000 \
        --out benchmarks/results/add_memory_single.json   # about 10 minutes

Results go to ``benchmarks/results/add_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

from common import build_standin, source_texts  # noqa: E402

WORK = HERE / "work"
ONE_BATCH = 1 << 40
BATCHES = 1 << 15


def child(pages: int, batch_tokens: int) -> dict:
    """``pages`` whole pages, or (negative) one document of ``-pages`` characters."""
    from longcolbert import Index

    if pages > 0:
        texts = source_texts()[:pages]
    else:
        joined = "\n\n".join(source_texts())
        texts = [(joined * (1 + -pages // len(joined)))[:-pages]]
    folder = WORK / f"add_memory_{pages}_{batch_tokens}"
    shutil.rmtree(folder, ignore_errors=True)
    index = Index(folder, model=str(WORK / "standin"), batch_tokens=batch_tokens)
    index.encoder  # load the model before measuring
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    index.add(texts, show_progress=False)
    seconds = time.perf_counter() - started
    result = {
        "pages": pages if pages > 0 else 1, "characters": sum(len(t) for t in texts),
        "batch_tokens": batch_tokens, "tokens": index.store.tokens(),
        "seconds": round(seconds, 1),
        "rss_after_model_load_mb": round(rss_loaded),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    index.close()
    shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[20, 80])
    parser.add_argument("--single", type=int, default=0,
                        help="one document of this many characters instead of pages")
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "add_memory.json")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    build_standin(WORK / "standin")
    runs = []
    for pages in ([-args.single] if args.single else args.pages):
        for batch_tokens in (ONE_BATCH, BATCHES):
            done = subprocess.run([sys.executable, __file__, "--child", str(pages), str(batch_tokens)],
                                  capture_output=True, text=True)
            if done.returncode:
                sys.exit(done.stderr)
            run = json.loads(done.stdout.strip().splitlines()[-1])
            run["config"] = "one batch" if batch_tokens == ONE_BATCH else "batches"
            print(json.dumps(run), flush=True)
            runs.append(run)
    results = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version()},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
