"""Reranking scored against the gold pages: the index's stored vectors against fresh encoding.

A retriever-then-reranker pipeline (LangChain's ``ContextualCompressionRetriever``,
LlamaIndex's node postprocessors) hands the reranker the pages a search found.
For each of the 103 questions of ``passage_quality.py`` (held-out split first),
the index's 20 best pages (a default search) are reranked by the engine's
``Reranker`` (what both integrations call), the first 3 kept with their best
passage, and scored as ``passage_quality.py`` scores its methods:

* **search**: the search's own first 3 (``Index.search(k=3, passages=1)``), the
  baseline;
* **fresh**: every page encoded anew by the reranker (uncompressed float32 rows;
  the reranker without an index), one cache shared by all questions as in a
  session;
* **stored**: ``Reranker(index=...)``, scoring the pages from the index's stored
  (4-bit compressed) vectors, encoding nothing but the passages it re-reads; and
  the same with ``reread=False`` and with ``hybrid=False``, each with a cache of
  its own, so every call is a first call (their times are the settings' costs).

Also reported: how often the stored route's first 3 agree with fresh encoding's.

    .venv/bin/python benchmarks/rerank_quality.py     # about 40 minutes on 2 cores

Results go to ``benchmarks/results/rerank_quality.json`` (per question, per route).
"""

from __future__ import annotations

from typing import Callable

from passage_quality import Question, evaluate, summarise, what_if_setup

from longcolbert import Index, Reranker
from longcolbert.encoding.cache import EncodingCache

CANDIDATES = 20  # pages handed to the reranker
FRESH_CACHE_BYTES = 4 << 30  # every page of the corpus, 384-dimension float32 rows


def reranked(reranker: Reranker, index: Index, candidates: dict[str, list[str]],
             stored: bool) -> Callable[[str], list[tuple[str, int, int]]]:
    """An answer function: the question's candidate pages reranked, the first 3 with
    their best passage's span; from the index's vectors if ``stored``."""
    def answer(question: str) -> list[tuple[str, int, int]]:
        ids = candidates[question]
        texts = [doc.text for doc in index.get_many(ids)]
        hits = reranker.rerank(question, texts, ids=ids, top_n=3, passages=1, show_progress=False,
                               sources=[(i, 0) for i in ids] if stored else None)
        return [(h.id, h.passages[0].start, h.passages[0].end) for h in hits if h.passages]

    return answer


def agreement(route: dict, fresh: dict, questions: list[Question]) -> dict:
    """How often ``route``'s first 3 pages agree with ``fresh``'s, per split."""
    out = {}
    for split in ("held_out", "tuning"):
        ids = [q.id for q in questions if q.split == split]
        a = [route["first_three"][i] for i in ids]
        b = [fresh["first_three"][i] for i in ids]
        out[split] = {
            "questions": len(ids),
            "same_first": sum(x[:1] == y[:1] for x, y in zip(a, b)),
            "same_first_three_in_order": sum(x == y for x, y in zip(a, b)),
            "mean_first_three_in_common": round(
                sum(len(set(x) & set(y)) for x, y in zip(a, b)) / max(1, len(ids)), 2),
        }
    return out


def main() -> None:
    import json

    args, questions = what_if_setup(__doc__.splitlines()[0], "rerank_quality.json")
    questions.sort(key=lambda q: q.split != "held_out")  # held out first
    index = Index(args.index, model=args.model)
    model = index.model_holder.encoder.model
    report: dict = {"candidates": CANDIDATES, "routes": {}}

    def run(label: str, answer: Callable[[str], list[tuple[str, int, int]]]) -> None:
        first_three: dict[str, list[str]] = {}

        def recorded(question: str) -> list[tuple[str, int, int]]:
            found = answer(question)
            first_three[question] = [page for page, _, _ in found[:3]]
            return found

        result = evaluate(recorded, questions)
        report["routes"][label] = {
            "summary": summarise(result["per_question"], questions),
            "p50_seconds": round(result["p50_seconds"], 3),
            "mean_seconds": round(result["seconds_per_query"], 3),
            "first_three": {q.id: first_three[q.question] for q in questions},
            "per_question": result["per_question"],
        }
        summary = report["routes"][label]["summary"]
        print(label, json.dumps({s: summary[s] for s in ("held_out", "tuning")}),
              f"p50 {result['p50_seconds']:.3f} s", flush=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")

    run("search", lambda question: [(h.id, h.passages[0].start, h.passages[0].end)
                                    for h in index.search(question, k=3, passages=1)
                                    if h.passages])
    # after the search route: these searches re-read the same passages, which the
    # index's cache then holds
    candidates = {q.question: [h.id for h in index.search(q.question, k=CANDIDATES, passages=0)]
                  for q in questions}
    for label, settings in (("stored", {}), ("stored, reread=False", {"reread": False}),
                            ("stored, hybrid=False", {"hybrid": False})):
        run(label, reranked(Reranker(model=model, index=index, cache=EncodingCache(), **settings),
                            index, candidates, stored=True))
    fresh = Reranker(model=model, cache=EncodingCache(FRESH_CACHE_BYTES))
    run("fresh", reranked(fresh, index, candidates, stored=False))
    report["fresh_cache"] = fresh.cache.stats()
    report["stored_against_fresh"] = {
        label: agreement(report["routes"][label], report["routes"]["fresh"], questions)
        for label in ("stored", "search")}
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["stored_against_fresh"], indent=1))


if __name__ == "__main__":
    main()
