"""Every renderer treats ids, text, metadata and queries as data: a property test that
renders random hostile strings through each HTML and terminal output path."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, TextNode

from longcolbert import Highlight, Hit, Hits, Passage, display
from longcolbert.render import html_report, terminal_text
from longcolbert.results import MatchProfile

FRAGMENTS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\" onmouseover=\"x",
             "' onload='x", "</div>", "<!--", "]]>", "&amp;", "&#60;", "\x1b]0;owned\x07",
             "\x1b[2J", "\x1b[31m", "\x9b2J", "\x07", "\x00", "\r", "\u202e", "\u2066", "[bold]",
             "[/]", "[link=file:///etc/passwd]x[/link]", "{}", "%s", "\\", "\n"]
hostile = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), min_size=1,
                   max_size=6).map("".join).filter(lambda s: s.strip())
ANY_VALUE = st.one_of(hostile, st.integers(), st.floats(allow_nan=True), st.none(),
                      st.lists(st.one_of(hostile, st.integers()), max_size=3))

TAGS = {"div", "span", "mark", "svg", "rect", "title", "style", "h1", "html", "head", "body",
        "meta"}
ATTRIBUTES = {"class", "style", "title", "data-start", "data-end", "viewbox",
              "preserveaspectratio", "role", "aria-label", "x", "y", "width", "height", "fill",
              "lang", "charset"}
SGR = re.compile(r"\x1b\[[0-9;]*m")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_comment(self, data):
        self.comments.append(data)

    def unknown_decl(self, data):
        self.comments.append(data)


def assert_inert_html(markup: str) -> None:
    parser = Tags()
    parser.feed(markup)
    parser.close()
    assert not parser.comments
    for tag, attrs in parser.tags:
        assert tag in TAGS, tag
        for name, value in attrs:
            assert name in ATTRIBUTES, (tag, name)
            if name == "style" and tag != "style":
                assert re.fullmatch(r"background:#[0-9a-f]{6}|[a-z-]+:[a-z0-9.,-]+(;[a-z-]+:"
                                    r"[a-z0-9.,-]+)*", value or ""), value


def assert_inert_terminal(text: str, color: bool) -> None:
    assert not CONTROL.search(SGR.sub("", text) if color else text)


def a_hit(doc_id: str, text: str, metadata: dict) -> Hit:
    cut = max(1, len(text) // 2)
    passage = Passage(text, 10, 10 + len(text), 21.5, [3],
                      [Highlight(10, 10 + cut, 0.8), Highlight(10 + cut, 10 + len(text), 0.5,
                                                               "lexical")])
    profile = MatchProfile(10 + len(text), [0, 10], [10, 10 + len(text)], [0.2, 0.9])
    return Hit(doc_id, 30.0, metadata, [passage], profile=profile)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc_id=hostile, text=hostile, key=hostile, value=ANY_VALUE, query=hostile)
def test_hits_render_inertly_in_html_and_on_terminals(doc_id, text, key, value, query):
    hits = Hits([a_hit(doc_id, text, {key: value})])
    for markup in (hits._repr_html_(), display(hits).html, display(list(hits))._repr_html_(),
                   hits[0].passages[0]._repr_html_(), html_report(query, hits)):
        assert_inert_html(markup)
    for color in (True, False):
        for shown in (hits, Hits()):
            assert_inert_terminal(terminal_text(query, shown, color=color, width=60), color)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hostile, doc_id=hostile, pages=ANY_VALUE, kind=ANY_VALUE, score=ANY_VALUE,
       start=ANY_VALUE)
def test_framework_results_with_hostile_metadata_render_inertly(text, doc_id, pages, kind,
                                                                score, start):
    metadata = {"doc_id": doc_id, "pages": pages, "passage_score": score, "doc_score": score,
                "start_index": start,
                "highlights": [{"start": 0, "end": len(text), "score": score, "kind": kind},
                               {"start": "0", "end": None}, "junk", {"start": -5, "end": 99999}]}
    document = Document(page_content=text, metadata=metadata)
    node = NodeWithScore(node=TextNode(text=text, metadata=metadata, start_char_idx=None),
                         score=None)
    for item in (document, [document], node, [node]):
        assert_inert_html(display(item)._repr_html_())
    shown = html_text(display(document).html)  # the id is shown as text, whatever it holds
    assert doc_id in shown


def html_text(markup: str) -> str:
    """What a browser would show as text (character references resolved)."""
    parts: list[str] = []

    class Text(HTMLParser):
        def handle_data(self, data):
            parts.append(data)

    parser = Text()
    parser.feed(markup)
    parser.close()
    return "".join(parts)
