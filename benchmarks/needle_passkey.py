"""LongEmbed-style synthetic checks: a passkey or a needle in haystacks of 1k to 32k tokens.

As in LongEmbed's two synthetic tasks, every document of one length is a haystack
with one inserted sentence, the query asks for that sentence, and the candidates
are the other documents of the same length (a metadata filter):

* **passkey**: filler ("The grass is green. The sky is blue. ...") with "The pass
  key for <name> is <number>. Remember it. ..." at a random depth; the query is
  "What is the pass key for <name>?";
* **needle**: real prose (Python library docs, cut from random pages) with "The
  best thing to do in <city> is <activity>." at a random depth; the query is
  "What is the best thing to do in <city>?".

Per length it reports ``doc_at_1`` (the document holding the query's sentence
ranks first) and ``passage_hit`` (that document's first passage covers at least
half of the sentence), with the defaults (hybrid search and re-reading on), with
re-reading off, and with hybrid search off. Lengths count
the stand-in's tokens; beyond its 512 positions every document is stitched from
windows, which is what this checks at every length.

Run:  .venv/bin/python benchmarks/needle_passkey.py     # about 25 minutes on 2 cores
      (--keep-index: search the index an earlier run built, the same seeded documents)
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

from common import build_standin, docs_folder  # noqa: E402

from longcolbert import Document, Index  # noqa: E402
from longcolbert.encoding.model import load_model  # noqa: E402

LENGTHS = [1024, 2048, 4096, 8192, 16384, 32768]
FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
FIRST = ["Alice", "Bruno", "Chen", "Dalia", "Emeka", "Freya", "Goran", "Hana", "Ivan", "Jonas",
         "Kemal", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq"]
LAST = ["Abbott", "Barros", "Castillo", "Dubois", "Eriksen", "Fischer", "Gallo", "Haddad",
        "Ito", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov",
        "Quispe", "Romano", "Schmidt", "Tanaka"]
CITIES = ["Lisbon", "Nairobi", "Osaka", "Quito", "Tbilisi", "Hanoi", "Oslo", "Cusco", "Porto",
          "Dakar", "Kyoto", "Tallinn", "Valparaiso", "Zanzibar", "Bergen", "Hobart", "Leipzig",
          "Mombasa", "Salta", "Trieste"]
ACTIVITIES = ["ride the old yellow tram up the hill at dawn", "eat grilled maize by the river",
              "watch the fish auction before sunrise", "climb the volcano on a clear morning",
              "drink sulphur-bath tea after a long walk", "cycle around the lake at night",
              "swim in the fjord in late summer", "hike to the ruins with a local guide",
              "taste port wine in a cellar by the water", "buy fabric at the big market",
              "sit in a moss garden during the rain", "walk the medieval walls at sunset",
              "take the funicular to the painted houses", "sail a dhow along the spice coast",
              "listen to the fish market bell at noon", "kayak to the lighthouse",
              "hear an organ concert in the church", "bargain for spices in the old town",
              "drive out to the salt flats", "have coffee in the harbour square"]


def stand_in_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def prose(pages: list[str], rng: random.Random, tokenizer, length: int) -> str:
    """About ``length`` tokens of Python docs prose, whole paragraphs from random pages."""
    parts, total = [], 0
    while total < length:
        paragraphs = [p for p in rng.choice(pages).split("\n\n") if len(p) > 200]
        if not paragraphs:
            continue
        start = rng.randrange(len(paragraphs))
        for paragraph in paragraphs[start : start + 5]:
            parts.append(paragraph.strip())
            total += stand_in_tokens(tokenizer, paragraph)
    return "\n\n".join(parts)


def haystack(task: str, length: int, rng: random.Random, pages: list[str], tokenizer) -> list[str]:
    """Sentences (passkey) or paragraphs (needle) of about ``length`` tokens in all."""
    if task == "passkey":
        per_filler = stand_in_tokens(tokenizer, FILLER)
        return [FILLER.strip()] * max(1, length // per_filler)
    return prose(pages, rng, tokenizer, length).split("\n\n")


def build(task: str, length: int, n: int, rng: random.Random, pages: list[str], tokenizer
          ) -> list[tuple[Document, str, tuple[int, int]]]:
    """``n`` documents of one length, each with its own inserted sentence and query."""
    made = []
    for i in range(n):
        if task == "passkey":
            name, key = f"{FIRST[i]} {LAST[(i * 7) % len(LAST)]}", rng.randrange(10_000, 100_000)
            needle = f"The pass key for {name} is {key}. Remember it. {key} is the pass key for {name}."
            query = f"What is the pass key for {name}?"
        else:
            needle = f"The best thing to do in {CITIES[i]} is to {ACTIVITIES[i]}."
            query = f"What is the best thing to do in {CITIES[i]}?"
        parts = haystack(task, length - stand_in_tokens(tokenizer, needle), rng, pages, tokenizer)
        depth = rng.randrange(len(parts) + 1)
        joiner = " " if task == "passkey" else "\n\n"
        before = joiner.join(parts[:depth])
        text = joiner.join(parts[:depth] + [needle] + parts[depth:])
        start = len(before) + (len(joiner) if depth else 0)
        doc = Document(f"{task}-{length}-{i}", text, {"task": task, "length": length})
        made.append((doc, query, (start, start + len(needle))))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(HERE / "work" / "standin-384"))
    parser.add_argument("--per-length", type=int, default=20)
    parser.add_argument("--work", default=str(HERE / "work" / "needle-passkey-index"))
    parser.add_argument("--out", default=str(HERE / "results" / "needle_passkey.json"))
    parser.add_argument("--keep-index", action="store_true",
                        help="search the index a previous run built (same seeded documents)")
    args = parser.parse_args()

    model = load_model(str(build_standin(Path(args.model), dim=384)))
    pages = [p.read_text(encoding="utf-8") for p in sorted(docs_folder().glob("*.txt"))]
    rng = random.Random(20261127)
    cases = [(task, length, item) for task in ("passkey", "needle") for length in LENGTHS
             for item in build(task, length, args.per_length, rng, pages, model.tokenizer)]

    build_seconds = None
    if not (args.keep_index and Path(args.work, "store.sqlite").exists()):
        shutil.rmtree(args.work, ignore_errors=True)
        began = time.perf_counter()
        with Index(args.work, model=model) as index:
            index.add_documents([item[0] for _, _, item in cases], show_progress=True)
            build_seconds = round(time.perf_counter() - began, 1)
    results = {}
    settings = {"": {}, " reread=False": {"reread": False}, " hybrid=False": {"hybrid": False}}
    for label, setting in settings.items():
        with Index(args.work, model=model, create=False, **setting) as index:
            tokens = index.info()["tokens"]
            for task, length, (doc, query, (start, end)) in cases:
                hits = index.search(query, k=1, passages=1, filter={"task": task, "length": length})
                first = hits[0] if hits else None
                passage = first.passages[0] if first and first.passages else None
                covered = min(passage.end, end) - max(passage.start, start) if passage else 0
                row = results.setdefault(f"{task}{label}", {}).setdefault(
                    length, {"documents": 0, "doc_at_1": 0, "passage_hit": 0})
                row["documents"] += 1
                row["doc_at_1"] += bool(first and first.id == doc.id)
                row["passage_hit"] += bool(first and first.id == doc.id and covered >= (end - start) / 2)
    for name, rows in results.items():
        for row in rows.values():
            row["doc_at_1"] = round(row["doc_at_1"] / row["documents"], 3)
            row["passage_hit"] = round(row["passage_hit"] / row["documents"], 3)
        print(name, json.dumps(rows), flush=True)
    report = {"command": " ".join(["python"] + sys.argv), "model": args.model,
              "index_build_seconds": build_seconds, "indexed_tokens": tokens,
              "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
