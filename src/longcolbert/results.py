"""What a search or a rerank returns.

All offsets are character offsets into the document's full stored text, so
``text[passage.start:passage.end] == passage.text``.

>>> Highlight(start=4, end=9, score=0.81).to_dict()
{'start': 4, 'end': 9, 'score': 0.81, 'kind': 'semantic'}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class MatchProfile:
    """MaxSim of the query along one document: span ``i`` covers characters
    ``starts[i]:ends[i]`` of ``text_length`` and scores ``scores[i]``."""

    text_length: int
    starts: list[int]
    ends: list[int]
    scores: list[float]


@dataclass(frozen=True)
class Highlight:
    """A word-aligned char span of the document that matched the query.

    ``kind`` says how: ``"semantic"`` (it wins a query token's MaxSim inside the
    passage), ``"lexical"`` (hybrid search: it is one of the query's rarer words,
    same stem, but no query token picked it) or ``"both"``. ``score`` is the
    similarity (cosine, in [-1, 1]) of its best query token; when several query
    tokens pick the same word, the highest.
    """

    start: int
    end: int
    score: float
    kind: str = "semantic"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Passage:
    """A span of whole sentences or lines, centred on what matched the query.

    ``score`` is the MaxSim of the query against the passage's tokens as encoded
    in its document (query tokens weighted by term rarity in hybrid search), plus,
    when re-reading (the default, for the 5 best documents), the MaxSim against the
    passage encoded on its own (:mod:`longcolbert.ranking.reread`). A hit's passages come best first by that
    score (without re-reading: in the order of the windows of sentences that
    located them); either way the first is the same however many are asked for
    (up to five when re-reading). ``pages`` lists the 1-based PDF pages it spans
    (empty for other documents). ``relevance`` is ``score`` on a scale of 0 to 1, as
    :class:`Hit`'s.
    """

    text: str
    start: int
    end: int
    score: float
    pages: list[int] = field(default_factory=list)
    highlights: list[Highlight] = field(default_factory=list)
    relevance: float | None = None

    def _repr_html_(self) -> str:
        from .render import passage_html

        return passage_html(self)

    def __repr__(self) -> str:
        return (f"Passage([{self.start}:{self.end}], score={self.score:.3f}, "
                f"{len(self.highlights)} highlights, {_line(self.text)!r})")

    def local_highlights(self) -> list[dict[str, Any]]:
        """The highlights as ``{"start", "end", "score"}`` relative to ``text``.

        >>> p = Passage("Notice: three months.", 100, 121, 0.9, highlights=[Highlight(108, 113, 0.8)])
        >>> p.local_highlights()
        [{'start': 8, 'end': 13, 'score': 0.8, 'kind': 'semantic'}]
        """
        return [
            {"start": h.start - self.start, "end": h.end - self.start, "score": h.score,
             "kind": h.kind}
            for h in self.highlights
        ]

    def to_metadata(self) -> dict[str, Any]:
        """What a framework adds to the metadata of this passage as a result:
        ``passage_score``, ``highlights`` relative to the passage text, and ``pages``
        (PDFs only). Both integrations use it.

        >>> Passage("Notice.", 120, 127, 0.9, pages=[4]).to_metadata()
        {'passage_score': 0.9, 'highlights': [], 'pages': [4]}
        """
        added: dict[str, Any] = {"passage_score": self.score,
                                 "highlights": self.local_highlights()}
        if self.relevance is not None:
            added["passage_relevance"] = self.relevance
        if self.pages:
            added["pages"] = list(self.pages)
        return added

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "pages": list(self.pages),
            "highlights": [h.to_dict() for h in self.highlights],
        }


def relevance(score: float, bound: float) -> float:
    """``score`` over the most a score can be for its query (``bound``), within [0, 1].

    >>> relevance(12.0, 32.0), relevance(40.0, 32.0)
    (0.375, 1.0)
    """
    return min(1.0, max(0.0, score / bound)) if bound > 0 else 0.0


@dataclass(frozen=True)
class Hit:
    """One document: its id, score, metadata and best passages.

    ``score`` is the MaxSim of the query against the document's best window of
    sentences plus its special tokens ([CLS], [D], [SEP]), which summarise the
    whole document; when re-reading (the default, for the 5 best documents), plus
    the best MaxSim of its candidate passages each encoded on its own
    (:mod:`longcolbert.ranking.reread`).
    ``relevance`` puts ``score`` on a scale of 0 to 1 that means the same for every
    query, for thresholds: MaxSim is a sum of one cosine (at most 1) per query
    token, so a score is divided by the most it can be, the query's token count
    (their rarity weights' sum in hybrid search), twice that when re-reading
    (in the document, and read alone). 1 would be every query token matched
    exactly; in practice values fall well below (docs/concepts.md gives figures).
    ``profile`` says where along the document the query matched
    (:mod:`longcolbert.ranking.profile`). In a notebook a hit shows itself with its
    highlighted passages and that profile (:mod:`longcolbert.render`).
    """

    def _repr_html_(self) -> str:
        from .render import hits_html

        return hits_html([self])

    def __repr__(self) -> str:
        first = f", {_line(self.passages[0].text)!r}" if self.passages else ""
        return f"Hit({self.id!r}, score={self.score:.3f}, {len(self.passages)} passages{first})"

    id: str
    score: float
    metadata: dict[str, Any]
    passages: list[Passage]
    profile: MatchProfile | None = field(default=None, compare=False, repr=False)
    position: int | None = field(default=None, compare=False, repr=False)
    """Where a reranked text stood in the list given to ``Reranker.rerank``."""
    relevance: float | None = field(default=None, compare=False)

    def highlight_dicts(self) -> list[dict[str, Any]]:
        """The highlights of all passages, ``{"start", "end", "score", "kind"}`` relative
        to the whole document text (what a reranker that keeps documents whole returns)."""
        return [h.to_dict() for p in self.passages for h in p.highlights]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": self.score,
            "metadata": dict(self.metadata),
            "passages": [p.to_dict() for p in self.passages],
        }


def _line(text: str, width: int = 60) -> str:
    """``text`` on one line, cut to about ``width`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


class Hits(list):
    """What a search or a rerank returns: a list of :class:`Hit`, best first, that
    shows itself in a notebook (highlighted passages, where each document matched)."""

    def _repr_html_(self) -> str:
        from .render import hits_html

        return hits_html(list(self))


def with_result_keys(metadata: dict[str, Any], added: dict[str, Any]) -> dict[str, Any]:
    """A document's ``metadata`` plus the keys a retriever ``added`` (scores, offsets,
    highlights...). Where the document already had one of those keys, its own value
    is kept as ``original_<key>``; nothing is overwritten silently.

    >>> with_result_keys({"doc_score": "A+", "topic": "law"}, {"doc_score": 5.1})
    {'topic': 'law', 'original_doc_score': 'A+', 'doc_score': 5.1}
    """
    merged = {k: v for k, v in metadata.items() if k not in added}
    merged.update({f"original_{k}": metadata[k] for k in added if k in metadata})
    merged.update(added)
    return merged


def cited_passage(metadata: dict[str, Any], passage: Passage,
                  added: dict[str, Any] | None = None) -> dict[str, Any]:
    """The metadata of one passage of a document (or chunk) with ``metadata``: its own
    keys, ``added`` ones, the passage's (:meth:`Passage.to_metadata`), and
    ``start_index`` / ``end_index`` into the *source* text. A chunk that records its
    own whole-number ``start_index`` (a splitter's ``add_start_index=True``) shifts
    the passage's offsets by it, and keeps it as ``original_start_index``: the one
    citation rule of both LangChain adapters.

    >>> cited = cited_passage({"start_index": 100}, Passage("Notice.", 5, 12, 0.9))
    >>> cited["start_index"], cited["end_index"], cited["original_start_index"]
    (105, 112, 100)
    """
    base = metadata.get("start_index")
    base = base if isinstance(base, int) and not isinstance(base, bool) else 0
    return with_result_keys(metadata, {**(added or {}), "start_index": base + passage.start,
                                       "end_index": base + passage.end,
                                       **passage.to_metadata()})


def passage_id(doc_id: str, passage: Passage) -> str:
    """A stable id for one passage of one document: ``"<doc id>#<start>-<end>"``.

    >>> passage_id("handbook.pdf", Passage("Notice.", 120, 127, 0.9))
    'handbook.pdf#120-127'
    """
    return f"{doc_id}#{passage.start}-{passage.end}"


@dataclass
class StoredDocument:
    """A document as the store keeps it; ``page_map`` holds ``(start, end, page)`` triples."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    page_map: list[tuple[int, int, int]] = field(default_factory=list)
    offsets: np.ndarray | None = None
    units: np.ndarray | None = None  # [n, 2] sentence/line char spans (passages.sentence_units)
    key: int | None = None  # the store's row number: the document's units in the FTS5 index
