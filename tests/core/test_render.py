"""What people see: HTML in notebooks and reports, marked text on terminals."""

from __future__ import annotations

import json

import pytest

from longcolbert import Hits, Index, Reranker, display
from longcolbert.cli import main
from longcolbert.render import HEAT, INK, contrast_ratio, terminal_text

from corpus import DOCS, META
from html_elements import Elements

HOSTILE = "Notice <script>alert('x')</script> & the period of notice is three months."


def elements(markup: str) -> list[tuple[str, dict, str]]:
    parser = Elements()
    parser.feed(markup)
    return parser.done


@pytest.fixture(scope="module")
def index(tmp_path_factory, standin_model):
    index = Index(tmp_path_factory.mktemp("render") / "idx", model=standin_model)
    texts = [text * 6 for text in DOCS.values()] + [HOSTILE]
    index.add(texts, ids=[*DOCS, "hostile"], metadatas=[*(META[i] for i in DOCS), {}])
    return index


def test_highlights_render_as_marks_at_the_right_text_with_their_scores(index):
    hits = index.search("notice period for termination", k=3, passages=2)
    assert isinstance(hits, Hits)
    found = elements(hits._repr_html_())
    marks = [(attrs, text) for tag, attrs, text in found if tag == "mark"]
    expected = [(h, index.get(hit.id).text[h.start:h.end])
                for hit in hits for p in hit.passages for h in p.highlights]
    assert len(marks) == len(expected) > 0
    for (attrs, text), (highlight, word) in zip(marks, expected):
        assert text == word
        assert attrs["title"] == f"score {highlight.score:.3f} ({highlight.kind})"
        assert attrs["style"].split(":")[1] in HEAT
    for colour in HEAT:  # readable in light and dark themes: marks set their own ink
        assert contrast_ratio(INK, colour) >= 4.5


def test_text_is_escaped(index):
    hits = index.search("the period of notice", k=5)
    markup = hits._repr_html_()
    assert any(h.id == "hostile" for h in hits)
    assert "<script>" not in markup and "&lt;script&gt;" in markup


def test_the_profile_shows_where_a_long_document_matched(index):
    long_text = " ".join(DOCS.values()) * 8
    index.add([long_text], ids=["long"])
    hit = next(h for h in index.search("largest planet jupiter", k=10, passages=2)
               if h.id == "long")
    profile = hit.profile
    assert len(profile.scores) > 3 and profile.text_length == len(long_text)
    assert profile.starts == sorted(profile.starts) and profile.ends[-1] <= len(long_text)
    best = profile.scores.index(max(profile.scores))
    assert "Jupiter" in long_text[profile.starts[best]:profile.ends[best]]
    svg = [e for e in elements(hit._repr_html_()) if e[0] == "svg"]
    rects = [e for e in elements(hit._repr_html_()) if e[0] == "rect"]
    assert len(svg) == 1
    assert sum(1 for _, attrs, _ in rects if attrs.get("class") == "lc-passage-mark") == len(
        hit.passages)
    index.delete(["long"])


def test_reranker_results_and_single_passages_render(standin_model):
    hits = Reranker(standin_model).rerank("notice period", list(DOCS.values()), top_n=2)
    assert "<mark" in hits._repr_html_() and "lc-profile" in hits._repr_html_()
    assert "<mark" in hits[0].passages[0]._repr_html_()
    assert "<mark" in display(hits[0])._repr_html_()


def test_terminal_text_marks_words_in_colour_or_not_at_all(index):
    hits = index.search("notice period", k=1, passages=1)
    coloured = terminal_text("notice period", hits, color=True)
    plain = terminal_text("notice period", hits, color=False)
    assert "\x1b[" in coloured and "\x1b[" not in plain and "[notice]" not in plain
    assert "notice" in plain and plain.startswith("1. ")


def test_cli_search_prints_plain_text_when_piped_and_writes_an_html_report(
        index, capsys, tmp_path, standin_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    code = main(["search", str(index.path), "notice period", "-k", "2", "--model", standin_path])
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and "\x1b" not in out and out.startswith("1. ")
    report = tmp_path / "report.html"
    code = main(["search", str(index.path), "notice period", "-k", "2", "--model", standin_path,
                 "--html", str(report)])
    out, _ = capsys.readouterr()
    assert code == 0 and str(report) in out
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<mark" in page and "<svg" in page
    assert "http" not in page.split("<body>")[1]  # self-contained: nothing to fetch
    code = main(["search", str(index.path), "notice period", "--json", "--model", standin_path])
    assert "profile" not in json.loads(capsys.readouterr()[0])["results"][0]  # contract kept


def test_a_hit_prints_in_one_short_line(index):
    hit = index.search("notice period", k=1, passages=3)[0]
    text = repr(hit)
    assert text.startswith(f"Hit({hit.id!r}, score=") and "\n" not in text and len(text) < 160
    assert repr(hit.passages[0]).startswith("Passage([") and len(repr(hit.passages[0])) < 160


def test_terminal_text_keeps_a_passages_lines_and_indentation(standin_model):
    code = ("To keep a list sorted while inserting, use the bisect module:\n\n"
            "    import bisect\n    scores = [10, 20, 30]\n    bisect.insort(scores, 25)\n\n\n\n"
            "insort finds the place by binary search and inserts the item there.")
    hits = Reranker(standin_model).rerank("insert into a sorted list", [code], passages=1)
    plain = terminal_text("insert into a sorted list", hits, color=False)
    lines = plain.splitlines()
    assert "       import bisect" in lines and "       bisect.insort(scores, 25)" in lines
    assert "\n\n\n" not in plain  # runs of blank lines are one
    coloured = terminal_text("insert into a sorted list", hits, color=True)
    assert "\n" in coloured.split("import bisect")[0].split("module:")[-1]  # lines kept in colour
