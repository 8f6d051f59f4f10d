"""Re-reading: the best candidate passages encoded again alone, their MaxSim added to scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from longcolbert import Index, Reranker
from longcolbert.cli import main
from longcolbert.passages import maxsim
from longcolbert.reread import READ_PASSAGES

# Long enough for several passages of 24 tokens per document.
DOCS = {
    "contract": " ".join([
        "Employment contract between the company and the employee.",
        "The salary is paid on the last working day of each month.",
        "Either party may terminate this agreement in writing.",
        "The notice period for termination is three months.",
        "Holidays amount to thirty days a year, taken in agreement with the manager.",
        "The employee keeps company secrets during and after employment.",
    ]),
    "astronomy": " ".join([
        "Jupiter is the largest planet of the solar system.",
        "It has dozens of moons, the largest being Ganymede.",
        "Saturn is known for its bright rings of ice and rock.",
        "Comets grow tails of dust and gas when they near the sun.",
        "Mars has the tallest volcano, Olympus Mons.",
    ]),
    "garden": " ".join([
        "Water tomatoes in the morning so the leaves dry by evening.",
        "Prune the roses in early spring, before new growth starts.",
        "Compost turns kitchen scraps into food for the soil.",
        "Slugs eat young lettuce; collect them after rain.",
    ]),
}
QUERIES = ["how long must I wait after giving notice to quit", "which planet has rings",
           "when should roses be cut back"]


@pytest.fixture()
def folder(tmp_path, standin_model):
    with Index(tmp_path / "idx", model=standin_model, passage_tokens=24) as index:
        index.add(list(DOCS.values()), ids=list(DOCS))
    return tmp_path / "idx"


def standalone(index: Index, query: str, texts: list[str]) -> list[float]:
    """MaxSim of the query against each text encoded on its own (no hybrid weights)."""
    rows = index.encoder.encode_query(query).embeddings
    return [maxsim((rows @ e.embeddings.T).numpy())
            for e in index.encoder.encode_documents(texts, show_progress=False)]


def test_scores_add_the_maxsim_of_each_passage_read_alone(folder, standin_model):
    options = dict(model=standin_model, create=False, passage_tokens=24, hybrid=False)
    with Index(folder, reread=False, **options) as plain, Index(folder, **options) as reread:
        for query in QUERIES:
            before = {h.id: h for h in plain.search(query, k=3, passages=READ_PASSAGES)}
            after = reread.search(query, k=3, passages=READ_PASSAGES)
            assert [h.score for h in after] == sorted((h.score for h in after), reverse=True)
            for hit in after:
                old = before[hit.id]
                alone = standalone(plain, query, [p.text for p in old.passages])
                assert hit.score == pytest.approx(old.score + max(alone), abs=1e-3)
                expected = sorted(((p.score + s, p.start) for p, s in zip(old.passages, alone)),
                                  key=lambda pair: -pair[0])
                got = [(p.score, p.start) for p in hit.passages]
                assert [start for _, start in got] == [start for _, start in expected]
                assert np.allclose([s for s, _ in got], [s for s, _ in expected], atol=1e-3)


def test_documents_and_first_passages_do_not_depend_on_how_many_passages_are_asked(
        folder, standin_model):
    with Index(folder, model=standin_model, create=False, passage_tokens=24) as index:
        for query in QUERIES:
            one = index.search(query, k=3, passages=1)
            leading = index.search(query, k=3, passages=READ_PASSAGES)
            many = index.search(query, k=3, passages=READ_PASSAGES + 2)
            assert [h.id for h in one] == [h.id for h in leading] == [h.id for h in many]
            for a, b, c in zip(one, leading, many):
                spans = [(p.start, p.end) for p in c.passages]
                assert spans[: len(b.passages)] == [(p.start, p.end) for p in b.passages]
                assert (a.passages[0].start, a.passages[0].end) == spans[0]
                assert a.score == pytest.approx(c.score, abs=1e-4)


def test_the_reranker_rereads_too_and_can_be_told_not_to(standin_model):
    texts = list(DOCS.values())
    query = QUERIES[0]
    plain = Reranker(standin_model, passage_tokens=24, hybrid=False, reread=False)
    reread = Reranker(standin_model, passage_tokens=24, hybrid=False)
    before = {h.id: h for h in plain.rerank(query, texts, passages=READ_PASSAGES)}
    for hit in reread.rerank(query, texts, passages=1):
        old = before[hit.id]
        rows = plain.encoder.encode_query(query).embeddings
        alone = [maxsim((rows @ e.embeddings.T).numpy())
                 for e in plain.encoder.encode_documents([p.text for p in old.passages])]
        assert hit.score == pytest.approx(old.score + max(alone), abs=1e-3)


def test_cli_no_reread_matches_the_index_without_rereading(folder, standin_path, capsys):
    query = QUERIES[1]
    code = main(["search", str(folder), query, "-k", "2", "--json", "--no-reread",
                 "--model", standin_path])
    assert code == 0
    found = json.loads(capsys.readouterr().out)["results"]
    with Index(folder, model=standin_path, create=False, reread=False) as index:
        hits = index.search(query, k=2)
    assert [r["id"] for r in found] == [h.id for h in hits]
    assert [r["score"] for r in found] == pytest.approx([h.score for h in hits], abs=1e-4)
