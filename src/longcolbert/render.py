"""Hits as people see them: HTML for notebooks and reports, marked text for terminals.

Every highlight is shaded by its score (a heat map of :data:`HEAT` colours, the
score and kind in a tooltip); lexical matches are underlined. Highlights set
both their text and background colours, chosen so the contrast ratio stays at
least 4.5:1 (WCAG AA) whatever the notebook's theme; the rest of the text keeps
the theme's colours. A hit with a :class:`~longcolbert.results.MatchProfile`
gets a strip (inline SVG, no extra package) of where along the document the
query matched, with its returned passages marked. Everything a document, its
metadata or a query brings is data: HTML-escaped in HTML (and only numbers from
metadata reach markup), and in terminal text every control character (escape
sequences, bidirectional overrides) is shown as a visible ``\\x..`` code
(:func:`terminal_safe`), never sent to the terminal.

>>> from longcolbert.results import Highlight, Passage
>>> html = passage_html(Passage("a <b> notice", 0, 12, 0.9, highlights=[Highlight(6, 12, 0.8)]))
>>> "&lt;b&gt;" in html and 'title="score 0.800 (semantic)"' in html
True
"""

from __future__ import annotations

import html
import math
import re
from numbers import Integral, Real
from typing import Any, Iterator, Sequence

from .results import Highlight, Hit, Passage

# Light to strong; all keep >= 4.5:1 against INK (see contrast_ratio).
HEAT = ("#fff4c2", "#ffe08a", "#ffc46b", "#ffa85c", "#ff8f5e")
INK = "#1a1a1a"
_MARK = "#c2410c"  # passages on the profile strip
_BAR = "#6b7280"

_STYLE = (
    ".lc-hits{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;line-height:1.5;"
    "max-width:60rem}"
    ".lc-hit{border:1px solid rgba(128,128,128,.35);border-radius:6px;padding:.6rem .8rem;"
    "margin:.5rem 0;overflow-wrap:anywhere}"
    ".lc-head{display:flex;gap:.8rem;align-items:baseline;flex-wrap:wrap}"
    ".lc-id{font-weight:600}.lc-meta{opacity:.75;font-size:.85em}"
    ".lc-passage{margin:.4rem 0 0;padding-left:.6rem;border-left:3px solid rgba(128,128,128,.4);"
    "white-space:pre-wrap}"
    ".lc-passage mark{color:" + INK + ";border-radius:3px;padding:0 .1em}"
    ".lc-passage mark.lc-lexical{text-decoration:underline;text-underline-offset:2px}"
    ".lc-profile{display:block;width:100%;height:28px;margin-top:.3rem}"
    ".lc-legend{font-size:.8em;opacity:.8;margin:.2rem 0 .4rem}"
    ".lc-swatch{color:" + INK + ";border-radius:3px;padding:0 .2em}"
    ".lc-swatch.lc-lexical{text-decoration:underline;text-underline-offset:2px}"
    ".lc-strip-mark{color:" + _MARK + "}"
)
# What the marks mean, above the hits: fixed text and swatches, no data, no <mark>.
_LEGEND = (
    '<div class="lc-legend">'
    f'<span class="lc-swatch" style="background:{HEAT[0]}">weaker</span> to '
    f'<span class="lc-swatch" style="background:{HEAT[-1]}">stronger</span>: how well the word matches its '
    'best query token (MaxSim; hover for the score) · '
    f'<span class="lc-swatch lc-lexical" style="background:{HEAT[1]}">underlined</span>: one of the '
    "query's keywords · grey strip: where along the document the query matched, "
    '<span class="lc-strip-mark">&#9644;</span> the passages shown</div>'
)


# C0 controls but tab and newline, DEL, C1 controls, bidirectional overrides and isolates
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                      "\u2066-\u2069]")
KINDS = ("semantic", "lexical", "both")


def terminal_safe(text: str) -> str:
    r"""``text`` safe to print on a terminal: control characters shown as codes.

    >>> terminal_safe("title\x1b]0;owned\x07 ok\nnext")
    'title\\x1b]0;owned\\x07 ok\nnext'
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21).

    >>> round(contrast_ratio("#000000", "#ffffff"), 1)
    21.0
    """
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def heat(score: float, low: float, high: float) -> str:
    """The :data:`HEAT` colour of ``score`` between ``low`` and ``high``."""
    share = 0.0 if high <= low else (score - low) / (high - low)
    return HEAT[min(len(HEAT) - 1, max(0, int(share * len(HEAT))))]


def _segments(passage: Passage) -> Iterator[tuple[str, Highlight | None]]:
    """The passage's text in order, each piece with the highlight it is (or None)."""
    cursor = passage.start
    for h in passage.highlights:
        if h.start < cursor:  # never overlap (they do not), but never crash either
            continue
        yield passage.text[cursor - passage.start:h.start - passage.start], None
        yield passage.text[h.start - passage.start:h.end - passage.start], h
        cursor = h.end
    yield passage.text[cursor - passage.start:], None


def _marked(passage: Passage, low: float, high: float) -> str:
    parts = []
    for piece, h in _segments(passage):
        if h is None:
            parts.append(html.escape(piece))
            continue
        kind = " lc-lexical" if h.kind in ("lexical", "both") else ""
        parts.append(f'<mark class="lc-mark{kind}" style="background:{heat(h.score, low, high)}" '
                     f'title="score {h.score:.3f} ({html.escape(h.kind)})">{html.escape(piece)}'
                     '</mark>')
    return "".join(parts)


def _range(passages: Sequence[Passage]) -> tuple[float, float]:
    scores = [h.score for p in passages for h in p.highlights]
    return (min(scores), max(scores)) if scores else (0.0, 1.0)


def passage_html(passage: Passage, *, low: float | None = None, high: float | None = None) -> str:
    """One passage with its highlights shaded by score (see the module docstring)."""
    found = _range([passage])
    low = found[0] if low is None else low
    high = found[1] if high is None else high
    pages = f" · pages {html.escape(', '.join(map(str, passage.pages)))}" if passage.pages else ""
    return (f'<div class="lc-passage" data-start="{int(passage.start)}" '
            f'data-end="{int(passage.end)}"><div class="lc-meta">[{int(passage.start)}:'
            f'{int(passage.end)}]{pages} · score {passage.score:.3f}</div>'
            f'{_marked(passage, low, high)}</div>')


def profile_svg(hit: Hit) -> str:
    """A strip of the query's MaxSim along the document (bar heights from its weakest
    to its strongest stretch), the returned passages marked above it."""
    profile = hit.profile
    if profile is None or not profile.scores or profile.text_length <= 0:
        return ""
    width, height = 1000, 28
    top, low = max(profile.scores), min(profile.scores)
    length = profile.text_length
    bars = []
    for start, end, score in zip(profile.starts, profile.ends, profile.scores):
        x = 1000 * start / length
        w = max(1000 * (end - start) / length, 1.0)
        share = 1.0 if top <= low else (score - low) / (top - low)  # weakest to strongest
        h = 2 + share * (height - 8)
        bars.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                    f'fill="{_BAR}"><title>characters {start}-{end}: MaxSim {score:.2f}'
                    '</title></rect>')
    marks = [f'<rect class="lc-passage-mark" x="{1000 * p.start / length:.1f}" y="0" '
             f'width="{max(1000 * (p.end - p.start) / length, 2.0):.1f}" height="4" '
             f'fill="{_MARK}"><title>passage {p.start}-{p.end}</title></rect>'
             for p in hit.passages]
    return (f'<svg class="lc-profile" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
            f'role="img" aria-label="where the query matched in {html.escape(hit.id)}">'
            + "".join(bars) + "".join(marks) + "</svg>")


def hit_html(hit: Hit) -> str:
    """One hit: its id, score, pages, where it matched, and its passages."""
    low, high = _range(hit.passages)
    pages = sorted({page for p in hit.passages for page in p.pages})
    page_text = (f'<span class="lc-meta">pages {html.escape(", ".join(map(str, pages)))}</span>'
                 if pages else "")
    relevance = ("" if hit.relevance is None
                 else f'<span class="lc-meta">relevance {float(hit.relevance):.2f}</span>')
    return (f'<div class="lc-hit"><div class="lc-head"><span class="lc-id">{html.escape(hit.id)}'
            f'</span><span class="lc-meta">score {hit.score:.3f}</span>{relevance}{page_text}'
            '</div>'
            + profile_svg(hit)
            + "".join(passage_html(p, low=low, high=high) for p in hit.passages) + "</div>")


def hits_html(hits: Sequence[Hit]) -> str:
    """Hits, best first, as one self-contained HTML fragment (its own styles), under a
    legend of what the marks mean."""
    body = "".join(hit_html(hit) for hit in hits)
    if not body:
        return f'<div class="lc-hits"><style>{_STYLE}</style><div class="lc-meta">no results</div></div>'
    return f'<div class="lc-hits"><style>{_STYLE}</style>{_LEGEND}{body}</div>'


def html_report(query: str, hits: Sequence[Hit]) -> str:
    """A standalone HTML page of one search (what ``longcolbert search --html`` writes)."""
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>longcolbert: {html.escape(query)}</title></head><body>"
            f"<h1 style=\"font-family:system-ui,sans-serif;font-size:1.2rem\">"
            f"{html.escape(query)}</h1>{hits_html(hits)}</body></html>\n")


def terminal_text(query: str, hits: Sequence[Hit], *, color: bool, width: int = 100) -> str:
    """Hits for a terminal: highlighted words in the heat colours (bold) when ``color``,
    else plain text with no marks at all (for pipes and ``NO_COLOR``)."""
    import io

    from rich.console import Console
    from rich.text import Text

    out = io.StringIO()
    console = Console(file=out, force_terminal=color, no_color=not color, width=width,
                      color_system="truecolor" if color else None, highlight=False,
                      soft_wrap=False)
    if not hits:
        console.print(f"no results for {terminal_safe(repr(query))}", markup=False)
    for rank, hit in enumerate(hits, start=1):
        console.print(Text.assemble((f"{rank}. {terminal_safe(hit.id)}", "bold" if color else ""),
                                    f"  (score {hit.score:.3f})"))
        low, high = _range(hit.passages)
        for passage in hit.passages:
            pages = f", pages {','.join(map(str, passage.pages))}" if passage.pages else ""
            console.print(f"   [{passage.start}:{passage.end}{pages}] score {passage.score:.3f}",
                          markup=False)
            body = Text()
            for piece, h in _segments(passage):
                style = f"bold {INK} on {heat(h.score, low, high)}" if color and h else ""
                body.append(terminal_safe(piece), style)
            console.print(_as_laid_out(body), markup=False)
    return out.getvalue()


def _as_laid_out(text: Any, indent: str = "   ") -> Any:
    r"""``text`` (a rich ``Text``) as its document lays it out: line breaks and
    indentation kept, so code and lists stay readable; trailing spaces dropped, tabs
    made spaces, runs of blank lines made one, every line indented (styles kept).

    >>> from rich.text import Text
    >>> _as_laid_out(Text("def f():\n\treturn 1  \n\n\n\nf()")).plain.splitlines()
    ['   def f():', '       return 1', '', '   f()']
    """
    from rich.text import Text

    lines: list[Any] = []  # rich Text lines
    for line in text.split("\n", allow_blank=True):
        line.expand_tabs(4)
        line.rstrip()
        if line.plain or (lines and lines[-1].plain):  # one blank line at most in a row
            lines.append(line)
    while lines and not lines[-1].plain:
        lines.pop()
    out = Text()
    for number, line in enumerate(lines):
        if number:
            out.append("\n")
        if line.plain:
            out.append(indent)
            out.append_text(line)
    return out


class Rendered:
    """HTML that a notebook displays (what :func:`display` returns)."""

    def __init__(self, html_text: str):
        self.html = html_text

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


def _from_framework(item: Any) -> Hit:
    """A hit rebuilt from a LangChain ``Document`` or a LlamaIndex node (with score)."""
    node = getattr(item, "node", None)
    if node is not None or hasattr(item, "start_char_idx"):  # LlamaIndex
        node = node if node is not None else item
        text, metadata = node.get_content(), dict(node.metadata)
        start = node.start_char_idx or 0
        doc_id = node.ref_doc_id or node.node_id
        score = getattr(item, "score", None)
    elif hasattr(item, "page_content"):  # LangChain
        text, metadata = item.page_content, dict(item.metadata)
        start = _whole(metadata.get("start_index"))
        doc_id = str(metadata.get("doc_id", getattr(item, "id", "") or ""))
        score = metadata.get("passage_score", metadata.get("relevance_score"))
    else:
        raise TypeError(f"cannot display a {type(item).__name__}; give longcolbert hits, "
                        "LangChain Documents or LlamaIndex nodes")
    start = _whole(start)
    highlights = [Highlight(start + h[0], start + h[1], h[2], h[3])
                  for h in _local_highlights(metadata.get("highlights"), len(text))]
    pages = metadata.get("pages")
    pages = [int(p) for p in pages if _whole(p) == p] if isinstance(pages, list) else []
    passage = Passage(text, start, start + len(text),
                      _number(metadata.get("passage_score", score)), pages, highlights)
    return Hit(str(doc_id), _number(metadata.get("doc_score", score)), metadata, [passage])


def _whole(value: Any) -> int:
    """``value`` if it is a whole number (not a bool), else 0: metadata may hold anything."""
    return int(value) if isinstance(value, Integral) and not isinstance(value, bool) else 0


def _number(value: Any) -> float:
    """``value`` as a finite float if it is a real number, else 0."""
    if isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0


def _local_highlights(raw: Any, length: int) -> list[tuple[int, int, float, str]]:
    """The well-formed highlights of a framework's metadata (``{"start", "end", "score",
    "kind"}`` inside a text of ``length``); anything else in it is left out."""
    found: list[tuple[int, int, float, str]] = []
    for h in raw if isinstance(raw, list) else []:
        if not isinstance(h, dict):
            continue
        start, end = h.get("start"), h.get("end")
        if _whole(start) != start or _whole(end) != end or not 0 <= start < end <= length:
            continue
        kind = h.get("kind", "semantic")
        found.append((start, end, _number(h.get("score")), kind if kind in KINDS else "semantic"))
    return sorted(found)


def display(results: Any) -> Rendered:
    """Render longcolbert hits, or the LangChain ``Document``s / LlamaIndex nodes its
    integrations return, with their highlights; a notebook shows the result.

    >>> display(index.search("notice period", k=3))              # doctest: +SKIP
    >>> display(retriever.invoke("How long is the notice period?"))  # doctest: +SKIP
    """
    items = results if isinstance(results, (list, tuple)) else [results]
    hits = [item if isinstance(item, Hit) else _from_framework(item) for item in items]
    return Rendered(hits_html(hits))
