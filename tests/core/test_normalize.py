"""What the model reads: folded, de-hyphenated, collapsed text, every character mapped back exactly."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from longcolbert.documents.normalize import model_view

CASES = [
    "plain ascii text",
    "The ﬁrst ﬂow of the ﬀ ligatures, ﬁts and ﬃ.",
    "abbrevia-\ntion and pack- \n  age but not a cross-\nReference nor well-\n2 nor --\nrule",
    "  leading and\ttrailing\n\n\n  paragraphs  \n",
    "İstanbul ΣΟΦΟΣ naïve café e\u0301 ｆｕｌｌｗｉｄｔｈ １２３ 東京都 ①",
    "no\u00a0break\u2003spaces",
    "",
    "   ",
]


@pytest.mark.parametrize("text", CASES)
@pytest.mark.parametrize("lowercase", [False, True])
def test_every_view_character_maps_into_the_stored_text(text, lowercase):
    view = model_view(text, lowercase=lowercase)
    assert len(view.starts) == len(view.ends) == len(view.text)
    assert np.all(view.starts >= 0) and np.all(view.ends <= len(text))
    assert np.all(view.starts < view.ends)
    assert np.all(np.diff(view.starts) >= 0)  # order is kept
    for i, ch in enumerate(view.text):
        if ch.isspace():
            continue
        source = text[view.starts[i] : view.ends[i]]
        folded = unicodedata.normalize("NFKC", source)
        if lowercase:  # final sigma lowercases by context: compare case-folded
            ch, folded = ch.casefold(), folded.casefold()
        assert ch in folded, (ch, source)


def test_ligatures_fold_and_offsets_cover_the_ligature():
    text = "it ﬁts the ﬂow"
    view = model_view(text)
    assert view.text == "it fits the flow"
    start = view.text.index("fits")
    assert text[slice(*view.source_span(start, start + 4))] == "ﬁts"
    start = view.text.index("flow")
    assert text[slice(*view.source_span(start, start + 4))] == "ﬂow"


def test_line_break_hyphens_join_lowercase_continuations_only():
    text = "the abbrevia-\ntion, a cross-\nReference, well-\n2 and pack- \n  age"
    view = model_view(text)
    assert "abbreviation," in view.text
    assert "pack- age" not in view.text and "package" in view.text
    assert "cross- Reference" in view.text  # a capital after the break: kept as written
    assert "well- 2" in view.text
    start = view.text.index("abbreviation")
    assert text[slice(*view.source_span(start, start + len("abbreviation")))] == "abbrevia-\ntion"


def test_whitespace_collapses_to_a_space_or_a_blank_line():
    view = model_view("  one\n  two\t\tthree\n\n\n   four  ")
    assert view.text == "one two three\n\nfour"
    assert model_view("a\u00a0b").text == "a b"


def test_combining_marks_compose_with_their_base():
    view = model_view("cafe\u0301 ok")
    assert view.text == "café ok"
    assert view.source_span(3, 4) == (3, 5)  # "é" came from "e" + the combining accent


def test_lowercase_keeps_length_changes_exact():
    text = "Aİ\u0130Σ x"
    view = model_view(text, lowercase=True)
    assert view.text == "Aİ\u0130Σ x".lower()
    assert view.starts.tolist()[:6] == [0, 1, 1, 2, 2, 3]


def test_source_spans_keep_empty_spans_empty():
    view = model_view("ﬁne day")
    spans = view.source_spans(np.array([[0, 4], [5, 5], [5, 8]]))
    assert spans.tolist() == [[0, 3], [4, 4], [4, 7]]


def test_a_view_without_collapsing_keeps_whitespace_and_skips_plain_ascii():
    assert model_view("ﬁne  text\n  here", collapse=False).text == "fine  text\n  here"
    plain = model_view("plain  ascii\n", collapse=False)
    assert plain.text == "plain  ascii\n" and plain.source_span(0, 5) == (0, 5)
    assert model_view("abbrevia-\ntion", collapse=False).text == "abbreviation"
