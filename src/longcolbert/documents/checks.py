"""Checks at the door: a document is stored only if every later search can read it back.

One bad document must never break searches over the others, so ids, text,
metadata and page maps are checked before anything is written; each problem is
one line naming the document and the remedy.

>>> checked_page_map("report.pdf", [[0, 5, 1], (5, 9, 2)], text_length=9)
[(0, 5, 1), (5, 9, 2)]
>>> checked_metadata("a", {"year": float("nan")})
Traceback (most recent call last):
...
longcolbert.errors.InvalidInputError: metadata 'year' of document 'a' is NaN or infinite; give a finite number, a string or None
"""

from __future__ import annotations

import json
import math
from numbers import Integral
from typing import Any, Mapping, Sequence

from ..errors import InvalidInputError
from .loaders import Document


def check_count(name: str, value: Any, least: int) -> None:
    """A whole number of at least ``least``, or a one-line InvalidInputError.

    >>> check_count("k", 0, least=1)
    Traceback (most recent call last):
    ...
    longcolbert.errors.InvalidInputError: k must be a whole number of at least 1 (got 0)
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value < least:
        raise InvalidInputError(f"{name} must be a whole number of at least {least} (got {value!r})")


def check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    """One of ``choices``, or a one-line InvalidInputError naming them.

    >>> check_choice("document_score", "max_sim", ("passage", "maxsim"))
    Traceback (most recent call last):
    ...
    longcolbert.errors.InvalidInputError: document_score must be one of 'passage', 'maxsim' (got 'max_sim')
    """
    if value not in choices:
        raise InvalidInputError(
            f"{name} must be one of {', '.join(map(repr, choices))} (got {value!r})")


def json_default(value: Any) -> str:
    """How metadata values JSON cannot hold are kept: as their text (dates, paths...)."""
    return str(value)


def metadata_json(metadata: Mapping[str, Any]) -> str:
    """The stored form of checked metadata (see :func:`checked_metadata`)."""
    return json.dumps(metadata, default=json_default, ensure_ascii=False, allow_nan=False)


MAX_METADATA_DEPTH = 32  # levels of dicts and lists inside one metadata value


def _not_finite(value: Any) -> bool:
    """Whether ``value`` holds NaN or infinity at any depth; ValueError past
    :data:`MAX_METADATA_DEPTH` levels (walked without recursion)."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_METADATA_DEPTH:
            raise ValueError(f"nested more than {MAX_METADATA_DEPTH} levels deep")
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, Mapping):
            pending.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend((v, depth + 1) for v in item)
    return False


def _unicode_problem(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def checked_id(doc_id: Any) -> str:
    """A document id: a non-empty string of valid Unicode."""
    if not isinstance(doc_id, str) or not doc_id:
        raise InvalidInputError(f"document id {doc_id!r} is not a non-empty string; give text ids")
    if _unicode_problem(doc_id):
        raise InvalidInputError(
            f"document id {doc_id!r} holds characters that are not valid Unicode (lone "
            "surrogates); give an id of valid text"
        )
    return doc_id


def checked_text(doc_id: str, text: Any) -> str:
    """A document's text: a string with some non-whitespace, of valid Unicode."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"document {doc_id!r} is empty or only whitespace; give it some text")
    if _unicode_problem(text):
        raise InvalidInputError(
            f"document {doc_id!r} holds characters that are not valid Unicode (lone surrogates, "
            "as from a file decoded with errors='surrogateescape'); decode it with "
            "errors='replace'"
        )
    return text


def checked_metadata(doc_id: str, metadata: Any) -> dict[str, Any]:
    """Metadata a filter can always read: a dict with string keys, no NaN or infinity.

    Values JSON cannot hold (dates, paths) are kept as their text.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(
            f"metadata of document {doc_id!r} is a {type(metadata).__name__}, not a dict; "
            "give a dict of field names to values"
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(
                f"metadata key {key!r} of document {doc_id!r} is not a non-empty string; "
                "name metadata fields with text"
            )
        try:
            not_finite = _not_finite(value)
        except ValueError as exc:
            raise InvalidInputError(
                f"metadata {key!r} of document {doc_id!r} is {exc}; give flatter values"
            ) from exc
        if not_finite:
            raise InvalidInputError(
                f"metadata {key!r} of document {doc_id!r} is NaN or infinite; give a finite "
                "number, a string or None"
            )
    try:
        stored = metadata_json(metadata)
    except (ValueError, TypeError, RecursionError) as exc:
        raise InvalidInputError(
            f"metadata of document {doc_id!r} cannot be stored as JSON ({exc}); give plain "
            "values (text, numbers, lists, dicts)"
        ) from exc
    if _unicode_problem(stored):
        raise InvalidInputError(
            f"metadata of document {doc_id!r} holds characters that are not valid Unicode "
            "(lone surrogates); give valid text"
        )
    return dict(metadata)


def checked_page_map(
    doc_id: str, page_map: Sequence[Sequence[int]] | None, text_length: int
) -> list[tuple[int, int, int]]:
    """``(start, end, page)`` triples of whole numbers inside the text, sorted by start."""
    if page_map is None:
        return []
    if isinstance(page_map, (str, bytes)) or not isinstance(page_map, Sequence):
        raise InvalidInputError(
            f"page map of document {doc_id!r} is not a list; give (start, end, page) triples"
        )
    triples = []
    for entry in page_map:
        if (isinstance(entry, (str, bytes)) or not isinstance(entry, Sequence) or len(entry) != 3
                or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in entry)):
            raise InvalidInputError(
                f"page map entry {entry!r} of document {doc_id!r} is not a (start, end, page) "
                "triple of whole numbers; give character offsets and a page number"
            )
        start, end, page = (int(v) for v in entry)
        if not 0 <= start <= end <= text_length or page < 0:
            raise InvalidInputError(
                f"page map entry {entry!r} of document {doc_id!r} lies outside its "
                f"{text_length} characters (or has a negative page); give 0 <= start <= end "
                "<= len(text) and a page >= 0"
            )
        triples.append((start, end, page))
    return sorted(triples)


def stored_page_map(raw: str) -> list[tuple[int, int, int]] | None:
    """A page map read back from the store, or None when the row is unreadable."""
    try:
        entries = json.loads(raw)
        triples = [(int(s), int(e), int(p)) for s, e, p in entries
                   if all(isinstance(v, int) and not isinstance(v, bool) for v in (s, e, p))]
    except (ValueError, TypeError, RecursionError):  # RecursionError: nested beyond reason
        return None
    return triples if len(triples) == len(entries) else None


def stored_metadata(raw: str) -> dict[str, Any] | None:
    """Metadata read back from the store, or None when the row is unreadable."""
    try:
        value = json.loads(raw)
    except (ValueError, TypeError, RecursionError):  # RecursionError: nested beyond reason
        return None
    return value if isinstance(value, dict) else None


def checked_document(document: Document) -> Document:
    """``document`` as it will be stored, or a one-line InvalidInputError."""
    doc_id = checked_id(document.id)
    text = checked_text(doc_id, document.text)
    return Document(doc_id, text, checked_metadata(doc_id, document.metadata),
                    checked_page_map(doc_id, document.page_map, len(text)))


def checked_documents(documents: Sequence[Document]) -> list[Document]:
    """One add's documents as they will be stored: at least one, unique ids, each
    checked; else a one-line InvalidInputError, before anything is written (every
    backend's add starts here).

    >>> [d.id for d in checked_documents([Document("a", "Some text.")])]
    ['a']
    """
    if not documents:
        raise InvalidInputError("no documents given; pass at least one")
    checked = [checked_document(d) for d in documents]
    ids = [d.id for d in checked]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise InvalidInputError(f"id {duplicate!r} appears twice in one add; give unique ids")
    return checked

