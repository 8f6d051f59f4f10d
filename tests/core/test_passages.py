"""Passages and highlights: exact slices, no overlap, word-aligned highlights, MaxSim scores."""

from __future__ import annotations

import numpy as np
import pytest

from longcolbert import Reranker
from longcolbert.encoding.encoder import Encoder
from longcolbert.ranking.passages import (
    PassageSource,
    best_passages,
    best_passages_many,
    maxsim,
    sentence_units,
    with_highlights,
)

from numerics import assert_same_within

TEXT = (
    "Termination. Either party may end the agreement at any time.\n"
    "The notice period for termination is three months, given in writing to the other party.\n"
    "Salaries are paid monthly. Holidays: twenty-five days per year!\n"
    "東京都の天気は晴れ。明日は雨です。 Emoji 😀 and naïve café stay intact.\n"
) * 6


def test_sentence_units_trim_and_split():
    text = "  First one. Second?\n\nThird line\nwrapped here\n- an item\n2. another\n\nend  "
    assert [text[s:e] for s, e in sentence_units(text)] == [
        "First one.", "Second?", "Third line\nwrapped here", "- an item", "2. another", "end",
    ]


@pytest.mark.numerics
@pytest.mark.parametrize("which", ["standin_model", "tiny_model"])
def test_passage_and_highlight_invariants(which, request):
    model = request.getfixturevalue(which)
    encoder = Encoder(model)
    doc = encoder.encode_documents([TEXT])[0]
    query = encoder.encode_query("what is the notice period for termination")
    sims = (query.embeddings @ doc.embeddings.T).numpy()
    passages = best_passages(TEXT, doc.offsets, sims, query.content, passage_tokens=40, n_passages=4)
    assert len(passages) == 4
    # passages come in their windows' order: the first is the same however many are asked for
    first = best_passages(TEXT, doc.offsets, sims, query.content, passage_tokens=40, n_passages=1)
    assert_same_within(first, passages[:1])
    spans = sorted((p.start, p.end) for p in passages)
    for (s1, e1), (s2, _) in zip(spans, spans[1:]):
        assert e1 <= s2, "passages overlap"
    for p in passages:
        assert TEXT[p.start : p.end] == p.text
        # the score is the MaxSim of the query against the rows inside the passage alone
        inside = (doc.offsets[:, 0] >= p.start) & (doc.offsets[:, 1] <= p.end) & (
            doc.offsets[:, 1] > doc.offsets[:, 0]
        )
        assert p.score == pytest.approx(maxsim(sims[:, inside]), abs=1e-4)
        assert p.highlights
        for h in p.highlights:
            assert p.start <= h.start < h.end <= p.end
            word = TEXT[h.start : h.end]
            assert word == word.strip()
            before = TEXT[h.start - 1] if h.start > 0 else " "
            after = TEXT[h.end] if h.end < len(TEXT) else " "
            assert not (before.isalnum() and word[0].isalnum() and not _wide(word[0]))
            assert not (after.isalnum() and word[-1].isalnum() and not _wide(word[-1]))
            assert -1.0 <= h.score <= 1.0001
        starts = [h.start for h in p.highlights]
        assert starts == sorted(starts)
        ends = [h.end for h in p.highlights]
        assert all(e <= s for e, s in zip(ends, starts[1:]))
    # what the index does: sentence units stored at add time, highlights added afterwards
    stored_units = np.array(sentence_units(TEXT))
    later = best_passages(TEXT, doc.offsets, sims, query.content, passage_tokens=40,
                          n_passages=4, units=stored_units, highlights=False)
    assert [q.highlights for q in later] == [[]] * 4
    assert_same_within([with_highlights(q, TEXT, doc.offsets, sims, query.content) for q in later],
                       passages)


@pytest.mark.numerics
def test_passages_of_several_documents_at_once_equal_one_at_a_time(standin_model):
    texts = [TEXT, "A single short line about notice.", TEXT[::-1].strip() + " notice period",
             TEXT[:300]]
    encoder = Encoder(standin_model)
    docs = encoder.encode_documents(texts)
    query = encoder.encode_query("what is the notice period for termination")
    sims = [(query.embeddings @ d.embeddings.T).numpy() for d in docs]
    pages = [[(0, 200, 1), (200, len(TEXT), 2)], None, None, None]
    together = best_passages_many(
        [PassageSource(t, d.offsets, s, page_map=m) for t, d, s, m in zip(texts, docs, sims, pages)],
        query.content, passage_tokens=30, n_passages=3,
    )
    alone = [best_passages(t, d.offsets, s, query.content, passage_tokens=30, n_passages=3,
                           page_map=m) for t, d, s, m in zip(texts, docs, sims, pages)]
    assert_same_within(together, alone)  # batched sums may differ in the last bits
    assert [len(p) for p in together][:3] == [3, 1, 3] and together[0][0].pages


def _wide(ch: str) -> bool:
    import unicodedata

    return unicodedata.east_asian_width(ch) in ("W", "F")


def test_highlight_scores_are_the_winning_similarities(standin_model):
    encoder = Encoder(standin_model)
    text = "The notice period is three months. Bread is baked in ovens."
    doc = encoder.encode_documents([text])[0]
    query = encoder.encode_query("notice period")
    sims = (query.embeddings @ doc.embeddings.T).numpy()
    passage = best_passages(text, doc.offsets, sims, query.content, n_passages=1)[0]
    words = {text[h.start : h.end]: h.score for h in passage.highlights}
    assert set(words) == {"notice", "period"}
    content_rows = sims[query.content]
    assert max(words.values()) == pytest.approx(float(content_rows.max()), abs=1e-6)


def test_page_numbers_of_passages():
    text = "Page one text here.\n\nPage two has the answer.\n\nPage three."
    page_map = [(0, 19, 1), (21, 45, 2), (47, 58, 3)]
    offsets = np.array([[0, 4], [30, 36], [47, 51]])
    sims = np.array([[0.1, 0.9, 0.2]], dtype=np.float32)
    passages = best_passages(text, offsets, sims, np.array([True]), passage_tokens=1,
                             n_passages=1, page_map=page_map)
    assert passages[0].pages == [2] and "answer" in passages[0].text


def test_rerank_orders_by_maxsim_without_an_index(standin_path):
    reranker = Reranker(standin_path)
    texts = [
        "Bread is baked at high temperature.",
        "The notice period for termination is three months. " + "Filler sentence. " * 300,
        "Jupiter is a planet.",
    ]
    hits = reranker.rerank("notice period for termination", texts, top_n=2, passages=2)
    assert hits[0].id == "1"
    assert len(hits) == 2
    best = hits[0]
    assert texts[1][best.passages[0].start : best.passages[0].end] == best.passages[0].text
    assert "notice period" in best.passages[0].text
    everything = reranker.rerank("notice period for termination", texts)
    assert [h.score for h in everything] == sorted((h.score for h in everything), reverse=True)
    assert reranker.rerank("anything", []) == []
