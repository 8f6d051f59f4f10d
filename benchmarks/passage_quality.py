"""Does a search find *where* the answer is? Pages and passages against BM25 and chunking.

Indexes every page of Python's library reference (python3-doc, 317 reStructuredText
pages) with the offline stand-in model, then asks the questions of
``passage_questions.json``: each names its page and a gold span, a sentence or two
that answers it. The same run measures three methods with the same passage budget:

* **longcolbert**: ``Index.search(question, k=3, passages=1)``: the default
  (hybrid, re-reading: the best passages encoded alone per search), ``reread=False``
  and ``hybrid=False``, plus any ``--setting``; and the default on a second index
  built with ``longcolbert index --read-alone`` (every document also stored read a
  passage at a time, so searches re-read from those rows and encode nothing), whose
  build time and bytes per token stand beside the first's;
* **BM25**: SQLite FTS5 ``bm25()`` over whole pages, then the page's best window by
  ``bm25()`` among the same sentence windows longcolbert chooses from;
* **chunks**: every page cut into fixed chunks of ``passage_tokens`` model tokens
  (a quarter overlapping), each encoded alone by the same model, every chunk scored
  by exact MaxSim; a page ranks by its best chunk, which is its passage.

Metrics, per split (held-out first):

* ``page_at_1`` / ``page_at_3``: the right page ranks first / in the first three;
* ``passage_hit``: the right page is in the first three and its first passage
  covers at least half of a gold span;
* ``mean_passage_chars``: the mean length of the first passages returned.

The model is the offline stand-in: all-MiniLM-L6-v2 as a PyLate ColBERT with the
identity projection (384 dimensions; ``build_standin(dim=384)``), so token
similarities are MiniLM's own (the tests' 128-dim random projection blurs them).

Run:  .venv/bin/python benchmarks/passage_quality.py [--index DIR] [--split tuning]
      (about 20 minutes on 2 cores with the index build; --model PATH-OR-HUB-ID
      and a fresh --index measure another PyLate checkpoint)
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

HERE = Path(__file__).resolve().parent

from common import build_standin, docs_folder  # noqa: E402

from longcolbert import Index  # noqa: E402
from longcolbert.encoding.encoder import Encoder  # noqa: E402
from longcolbert.encoding.model import load_model  # noqa: E402
from longcolbert.ranking.lexical import Words  # noqa: E402
from longcolbert.ranking.passages import DocumentLayout, _unit_window_ends  # noqa: E402

QUESTIONS = HERE / "passage_questions.json"
# Function words a paraphrase may share with its gold span.
STOPWORDS = set("""a an the and or but if of to in on at by for with from as is are was were be
been being it its this that these those i me my you your we our they them their he she do does
did done have has had not no can could should would will shall may might must so than then there
here what which who whom whose when where why how all any each both either some such only just
also too very more most other into onto over under about after before again once up down out off
own same nor few one s t""".split())


@dataclass
class Question:
    id: str
    split: str
    page: str
    question: str
    gold: list[tuple[int, int]]  # every occurrence of the gold span on its page
    paraphrased: bool


# A method answers a question with its top pages, each with its first passage.
Answer = list[tuple[str, int, int]]  # (page, passage start, passage end)


def load_questions(pages: dict[str, str], split: str | None) -> list[Question]:
    questions = []
    for q in json.loads(QUESTIONS.read_text()):
        if split and q["split"] != split:
            continue
        pattern = r"\s+".join(re.escape(word) for word in q["gold"].split())
        spans = [m.span() for m in re.finditer(pattern, pages[q["page"]])]
        if not spans:
            sys.exit(f"{q['id']}: gold span not found on {q['page']}")
        questions.append(Question(q["id"], q["split"], q["page"], q["question"], spans,
                                  q["paraphrased"]))
    return questions


def what_if_setup(description: str, results_name: str) -> tuple[argparse.Namespace,
                                                                list[Question]]:
    """The arguments (``--index``, ``--model``, ``--out``) and all 103 questions of a
    what-if script run on this benchmark's index, which must exist; 2 torch threads."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--index", default=str(HERE / "work" / "python-docs-index-384"))
    parser.add_argument("--model", default=str(HERE / "work" / "standin-384"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / results_name)
    args = parser.parse_args()
    if not (Path(args.index) / "store.sqlite").exists():
        sys.exit(f"no index at {args.index}: run benchmarks/passage_quality.py first")
    torch.set_num_threads(2)
    pages = {p.name: p.read_text(encoding="utf-8") for p in sorted(docs_folder().glob("*.txt"))}
    return args, load_questions(pages, None)


def what_if_run(label: str, index: Index, questions: list[Question], out: Path,
                report: dict) -> dict:
    """``index``'s default answers to ``questions``, summarised, printed after ``label``
    with their p50, and kept in ``report`` (written to ``out`` again after each run)."""
    result = evaluate(longcolbert(index), questions)
    measured = {"summary": summarise(result["per_question"], questions), **result}
    print(label, json.dumps({s: measured["summary"][s] for s in ("held_out", "tuning")}),
          f"p50 {result['p50_seconds']:.3f} s", flush=True)
    report.setdefault("methods", {})[label] = measured
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    return measured


def shared_words(questions: list[dict]) -> dict:
    """How many questions share a content word (same FTS5 term, function words aside)
    with their gold span: the check behind each question's ``paraphrased`` flag."""
    words = Words()
    stop = {term for w in STOPWORDS for _, _, term in words.of(w)}

    def terms(text: str) -> set[str]:
        return {term for _, _, term in words.of(text)} - stop

    sharing = [q["id"] for q in questions if terms(q["question"]) & terms(q["gold"])]
    flagged = [q["id"] for q in questions if q["paraphrased"] and q["id"] in sharing]
    return {"questions": len(questions), "sharing_a_content_word": len(sharing),
            "flagged_paraphrased_but_sharing": flagged}


def holds_answer(start: int, end: int, gold: list[tuple[int, int]]) -> bool:
    """The passage covers at least half of one gold span."""
    return any(min(end, g1) - max(start, g0) >= (g1 - g0) / 2 for g0, g1 in gold)


def evaluate(answer: Callable[[str], Answer], questions: list[Question]) -> dict:
    per_question, seconds = {}, []
    for q in questions:
        began = time.perf_counter()
        found = answer(q.question)[:3]
        seconds.append(time.perf_counter() - began)
        pages = [page for page, _, _ in found]
        rank = pages.index(q.page) + 1 if q.page in pages else None
        hit = rank is not None and holds_answer(found[rank - 1][1], found[rank - 1][2], q.gold)
        per_question[q.id] = {"rank": rank, "passage_hit": hit,
                              "passage_chars": [end - start for _, start, end in found],
                              "passage": list(found[rank - 1][1:]) if rank else None}
    return {"per_question": per_question, "seconds_per_query": float(np.mean(seconds)),
            "p50_seconds": float(np.median(seconds))}


def summarise(per_question: dict, questions: list[Question]) -> dict:
    def figures(group: list[Question]) -> dict:
        if not group:
            return {}
        rows = [per_question[q.id] for q in group]
        lengths = [n for r in rows for n in r["passage_chars"]]
        return {
            "questions": len(group),
            "page_at_1": np.mean([r["rank"] == 1 for r in rows]).round(3).item(),
            "page_at_3": np.mean([r["rank"] is not None for r in rows]).round(3).item(),
            "passage_hit": np.mean([r["passage_hit"] for r in rows]).round(3).item(),
            "mean_passage_chars": round(float(np.mean(lengths)), 1) if lengths else None,
        }

    out = {}
    for split in ("held_out", "tuning"):
        out[split] = figures([q for q in questions if q.split == split])
    out["all"] = figures(questions)
    out["all_paraphrased"] = figures([q for q in questions if q.paraphrased])
    out["all_sharing_words"] = figures([q for q in questions if not q.paraphrased])
    return {k: v for k, v in out.items() if v}


# -- BM25 (SQLite FTS5) ------------------------------------------------------------


def fts_query(text: str) -> str:
    """Every word of ``text`` as an FTS5 phrase, joined by OR (bm25 weighs them)."""
    return " OR ".join(f'"{w}"' for w in re.findall(r"\w+", text.lower()))


class BM25:
    """FTS5 bm25() over whole pages, then over the page's sentence windows."""

    def __init__(self, pages: dict[str, str], windows: dict[str, list[tuple[int, int]]]):
        self.names = sorted(pages)
        self.db = sqlite3.connect(":memory:")
        tokenize = "tokenize='porter unicode61 remove_diacritics 2'"
        self.db.execute(f"CREATE VIRTUAL TABLE pages USING fts5(text, {tokenize})")
        self.db.execute(f"CREATE VIRTUAL TABLE windows USING fts5(text, {tokenize})")
        self.window_span: dict[int, tuple[int, int]] = {}
        self.page_rows: dict[str, tuple[int, int]] = {}
        row = 0
        for number, name in enumerate(self.names):
            self.db.execute("INSERT INTO pages (rowid, text) VALUES (?, ?)", (number, pages[name]))
            first = row
            for start, end in windows[name]:
                self.db.execute("INSERT INTO windows (rowid, text) VALUES (?, ?)",
                                (row, pages[name][start:end]))
                self.window_span[row] = (start, end)
                row += 1
            self.page_rows[name] = (first, row - 1)

    def __call__(self, question: str) -> Answer:
        match = fts_query(question)
        ranked = self.db.execute(
            "SELECT rowid FROM pages WHERE pages MATCH ? ORDER BY bm25(pages) LIMIT 3", (match,)
        ).fetchall()
        answer = []
        for (number,) in ranked:
            name = self.names[number]
            first, last = self.page_rows[name]
            best = self.db.execute(
                "SELECT rowid FROM windows WHERE windows MATCH ? AND rowid BETWEEN ? AND ? "
                "ORDER BY bm25(windows) LIMIT 1", (match, first, last)
            ).fetchone()
            start, end = self.window_span[best[0] if best else first]
            answer.append((name, start, end))
        return answer


def sentence_windows(index: Index, passage_tokens: int) -> dict[str, list[tuple[int, int]]]:
    """The candidate windows longcolbert scores for each page (one per start unit)."""
    windows = {}
    for doc_id in index.ids():
        doc = index.get(doc_id)
        layout = DocumentLayout.build(doc.text, doc.offsets, passage_tokens, doc.units)
        ends = _unit_window_ends(layout.unit_tokens, passage_tokens)
        windows[doc_id] = [(int(layout.units[a, 0]), int(layout.units[b - 1, 1]))
                           for a, b in enumerate(ends)]
    return windows


# -- chunk-then-index --------------------------------------------------------------


class Chunks:
    """Fixed token chunks, each encoded alone, scored by exact MaxSim (no index error)."""

    def __init__(self, pages: dict[str, str], encoder: Encoder, size: int, cache: Path):
        self.encoder = encoder
        if cache.exists():
            stored = np.load(cache, allow_pickle=False)
            self.names = [str(n) for n in stored["names"]]
            self.chunk_page, self.spans = stored["chunk_page"], stored["spans"]
            self.rows, self.row_chunk = torch.from_numpy(stored["rows"]), stored["row_chunk"]
            return
        self.names = sorted(pages)
        chunk_page, spans, texts = [], [], []
        step = size - size // 4
        for number, name in enumerate(self.names):
            text = pages[name]
            offsets = encoder.tokenizer(text, add_special_tokens=False,
                                        return_offsets_mapping=True, verbose=False)["offset_mapping"]
            for first in range(0, max(1, len(offsets) - size // 4), step):
                last = min(first + size, len(offsets)) - 1
                start, end = offsets[first][0], offsets[last][1]
                if text[start:end].strip():
                    chunk_page.append(number)
                    spans.append((start, end))
                    texts.append(text[start:end])
        encoded = encoder.encode_documents(texts, show_progress=True)
        self.chunk_page, self.spans = np.array(chunk_page), np.array(spans)
        self.rows = torch.cat([e.embeddings.half() for e in encoded])
        self.row_chunk = np.repeat(np.arange(len(encoded)), [len(e.embeddings) for e in encoded])
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, names=np.array(self.names), chunk_page=self.chunk_page, spans=self.spans,
                 rows=self.rows.numpy(), row_chunk=self.row_chunk)

    def __call__(self, question: str) -> Answer:
        query = self.encoder.encode_query(question).embeddings.half()
        similarities = (self.rows @ query.T).float().numpy()  # [rows, query tokens]
        starts = np.flatnonzero(np.r_[True, self.row_chunk[1:] != self.row_chunk[:-1]])
        scores = np.maximum.reduceat(similarities, starts, axis=0).sum(axis=1)
        answer, seen = [], set()
        for chunk in np.argsort(-scores, kind="stable"):
            page = self.names[self.chunk_page[chunk]]
            if page not in seen:
                seen.add(page)
                answer.append((page, int(self.spans[chunk, 0]), int(self.spans[chunk, 1])))
                if len(answer) == 3:
                    break
        return answer


# -- longcolbert ---------------------------------------------------------------------


def longcolbert(index: Index) -> Callable[[str], Answer]:
    def answer(question: str) -> Answer:
        hits = index.search(question, k=3, passages=1)
        return [(h.id, h.passages[0].start, h.passages[0].end) for h in hits if h.passages]

    return answer


def check_offsets(index: Index, questions: list[Question]) -> bool:
    """Every passage and highlight of a few searches slices the stored text exactly."""
    for q in questions[:10]:
        for hit in index.search(q.question, k=3, passages=2):
            text = index.get(hit.id).text
            for p in hit.passages:
                if text[p.start:p.end] != p.text or not all(
                    p.start <= h.start < h.end <= p.end for h in p.highlights
                ):
                    return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", default=str(HERE / "work" / "python-docs-index-384"))
    parser.add_argument("--index-read-alone",
                        default=str(HERE / "work" / "python-docs-index-384-read-alone"),
                        help="the same pages indexed with --read-alone (built if missing)")
    parser.add_argument("--model", default=str(HERE / "work" / "standin-384"),
                        help="where the 384-dim stand-in is (built there if missing)")
    parser.add_argument("--split", choices=["held_out", "tuning"], default=None,
                        help="only this split (tune on 'tuning'; the default runs both)")
    parser.add_argument("--passage-tokens", type=int, default=None,
                        help="passage budget for every method (default: Index's)")
    parser.add_argument("--setting", action="append", default=[],
                        help="extra longcolbert settings as JSON, e.g. '{\"hybrid\": 0}'")
    parser.add_argument("--read", type=int, nargs=2, metavar=("DOCUMENTS", "PASSAGES"),
                        help="re-read this many documents' best passages each instead of "
                             "the engine's READ_DOCUMENTS x READ_PASSAGES (a what-if)")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results" / "passage_quality.json"))
    args = parser.parse_args()
    if args.read:
        import longcolbert.ranking.rank as rank

        rank.READ_DOCUMENTS, rank.READ_PASSAGES = args.read

    standin = args.model == parser.get_default("model") or Path(args.model).exists()
    model_path = str(build_standin(Path(args.model), dim=384)) if standin else args.model
    folder = docs_folder()
    pages = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))}
    questions = load_questions(pages, args.split)

    report: dict = {"command": " ".join(["python"] + sys.argv), "corpus": str(folder),
                    "questions": shared_words(json.loads(QUESTIONS.read_text())), "methods": {},
                    "indexes": {}}
    for name, path, flags in (("default", args.index, []),
                              ("--read-alone", args.index_read_alone, ["--read-alone"])):
        build_seconds = None
        if not (Path(path) / "store.sqlite").exists():
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "longcolbert.cli", "index", path, str(folder),
                            "--model", model_path, *flags], check=True)
            build_seconds = time.perf_counter() - began
        with Index(path, model=model_path, create=False, reread=False) as index:
            info = index.info()
        report["indexes"][name] = {"path": path, "build_seconds": build_seconds, **info,
                                   "bytes_per_token": round(info["bytes"] / info["tokens"], 1)}
        print(name, json.dumps(report["indexes"][name]), flush=True)

    model = load_model(model_path)
    settings = [{}, {"reread": False}, {"hybrid": False}] + [json.loads(s) for s in args.setting]
    if args.passage_tokens:
        settings = [{"passage_tokens": args.passage_tokens, **s} for s in settings]
    runs = [(args.index, "longcolbert ", s) for s in settings]
    runs.insert(1, (args.index_read_alone, "longcolbert, index built --read-alone ",
                    settings[0]))
    for path, label, setting in runs:
        with Index(path, model=model, create=False, **setting) as index:
            if not report.get("offsets_exact"):
                report["offsets_exact"] = check_offsets(index, questions)
            result = evaluate(longcolbert(index), questions)
            name = label + json.dumps(setting)
            passage_tokens = index.passage_tokens
        report["methods"][name] = {"summary": summarise(result["per_question"], questions),
                                   **result}
        print(name, json.dumps(report["methods"][name]["summary"]),
              f"p50 {result['p50_seconds']:.3f} s", flush=True)

    if not args.skip_baselines:
        passage_tokens = args.passage_tokens or Index.__init__.__kwdefaults__["passage_tokens"]
        with Index(args.index, model=model, create=False) as index:
            windows = sentence_windows(index, passage_tokens)
        baselines = {
            "BM25 (FTS5) pages + best window": lambda: BM25(pages, windows),
            f"chunks of {passage_tokens} tokens, exact MaxSim": lambda: Chunks(
                pages, Encoder(model), passage_tokens,
                HERE / "work" / f"chunks-{passage_tokens}-{Path(model_path).name}.npz"),
        }
        for name, build in baselines.items():
            result = evaluate(build(), questions)
            report["methods"][name] = {"summary": summarise(result["per_question"], questions),
                                       **result}
            print(name, json.dumps(report["methods"][name]["summary"]), flush=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
