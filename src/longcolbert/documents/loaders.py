"""Turning files and folders into documents: text + metadata (+ a page map for PDFs).

A document's id is its path relative to the folder argument it was found under
(for a file argument: its file name). Text files are decoded as UTF-8 and kept
byte for byte (no newline translation), so offsets index the file's own text.

>>> docs, problems = load_paths(["README.md"])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import LoadError

TEXT_SUFFIXES = frozenset(
    {".txt", ".text", ".md", ".markdown", ".rst", ".csv", ".tsv", ".json", ".jsonl",
     ".html", ".htm", ".xml", ".yaml", ".yml", ".tex", ".org", ".adoc", ".log", ".py"}
)
PDF_SUFFIXES = frozenset({".pdf"})


@dataclass
class Document:
    """A document to index: its id, full text, metadata and, for PDFs, a page map.

    ``page_map`` holds ``(start, end, page)``: the char range of each 1-based page.

    >>> Document("a.txt", "Some text.", {"source": "a.txt"}).id
    'a.txt'
    """

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    page_map: list[tuple[int, int, int]] = field(default_factory=list)


def printable(path: Path | str) -> str:
    """``path`` as valid text: bytes of a non-UTF-8 file name (which Python keeps as
    lone surrogates) are written as ``\\xNN``.

    >>> printable(Path(b"caf\\xe9.txt".decode("utf-8", "surrogateescape")))
    'caf\\\\xe9.txt'
    """
    text = str(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _file_metadata(path: Path, file_type: str) -> dict[str, Any]:
    return {"source": printable(path), "file_type": file_type}


def load_text(path: Path, doc_id: str) -> Document:
    """A UTF-8 text file, exactly as its bytes decode."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(
            f"{printable(path)}: cannot read it ({exc.strerror}); check the path and permissions"
        ) from exc
    if data.startswith(b"%PDF-"):  # a PDF by its contents, whatever its name
        return load_pdf(path, doc_id)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"{printable(path)}: not UTF-8 text (byte {exc.start}); convert it to UTF-8 (e.g. "
            "iconv) and index it again"
        ) from exc
    return Document(doc_id, text, _file_metadata(path, path.suffix.lstrip(".").lower()))


def load_pdf(path: Path, doc_id: str) -> Document:
    """A PDF's text through pypdf, pages joined by a blank line, with a page map.

    pypdf's own warnings about damaged but readable files are kept off stderr.
    """
    from pypdf import PdfReader

    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(path)
            if reader.is_encrypted and not reader.decrypt(""):
                raise LoadError(
                    f"{printable(path)}: the PDF is encrypted with a password; decrypt it (e.g. "
                    "qpdf --decrypt) and index it again"
                )
            pages = [page.extract_text() or "" for page in reader.pages]
            repairs = [_repaired(page) for page in pages]
            pages = [text for text, _ in repairs]
            repaired = [count for _, count in repairs]
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        reason = " ".join(str(exc).split())[:120]
        raise LoadError(
            f"{printable(path)}: cannot read the PDF ({type(exc).__name__}: {reason}); repair or "
            "re-export it and index it again"
        ) from exc
    finally:
        pypdf_log.setLevel(level)
    parts: list[str] = []
    page_map: list[tuple[int, int, int]] = []
    position = 0
    for number, page_text in enumerate(pages, start=1):
        if parts:
            parts.append("\n\n")
            position += 2
        parts.append(page_text)
        page_map.append((position, position + len(page_text), number))
        position += len(page_text)
    text = "".join(parts)
    if sum(repaired):
        warnings.warn(
            f"{printable(path)}: {sum(repaired)} characters the PDF maps to no valid Unicode "
            "were replaced by U+FFFD (\ufffd); the rest is indexed as it is", stacklevel=3)
    metadata = {**_file_metadata(path, "pdf"), "page_count": len(pages)}
    return Document(doc_id, text, metadata, page_map)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _repaired(text: str) -> tuple[str, int]:
    """``text`` with each lone surrogate (a PDF's ToUnicode map can yield them) replaced
    by U+FFFD, one character for one so every offset stays exact; and how many."""
    return _LONE_SURROGATE.subn("\ufffd", text)


def load_file(path: Path, doc_id: str | None = None) -> Document:
    """One file by its suffix (PDF or text); ``doc_id`` defaults to the file name."""
    doc_id = doc_id or printable(path.name)
    if path.suffix.lower() in PDF_SUFFIXES:
        return load_pdf(path, doc_id)
    return load_text(path, doc_id)


def _indexable(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in TEXT_SUFFIXES or suffix in PDF_SUFFIXES


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def find_files(argument: Path, *, follow_links: bool = False) -> list[tuple[Path, str]]:
    """Files an ``index`` argument names, with their ids, in a stable order.

    In a folder, hidden files and folders are left out, and so are links that
    lead outside it (each with a warning) unless ``follow_links``.
    """
    if argument.is_symlink() and not argument.exists():
        raise LoadError(f"{printable(argument)}: a broken link or a link loop; fix or remove "
                        "the link")
    if argument.is_file():
        return [(argument, printable(argument.name))]
    if not argument.is_dir():
        raise LoadError(f"{printable(argument)}: no such file or folder; check the path")
    root = argument.resolve()
    found, seen = [], set()
    for folder, subfolders, files in os.walk(argument, followlinks=follow_links):
        here = Path(folder)
        real = here.resolve()
        if real in seen:  # a link back to a folder already walked
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            path = here / name
            if name.startswith(".") or not _indexable(path):
                continue
            if path.is_symlink() and not path.exists():
                warnings.warn(f"{printable(path)}: a broken link or a link loop; skipped it",
                              stacklevel=3)
                continue
            if not follow_links and not _inside(path, root):
                warnings.warn(
                    f"{printable(path)}: a link to a file outside {printable(argument)}; skipped "
                    "it (pass --follow-links, or follow_links=True, to index it)", stacklevel=3)
                continue
            if path.is_file():
                found.append((path, printable(path.relative_to(argument).as_posix())))
    return sorted(found, key=lambda item: item[1])


def load_paths(
    arguments: Iterable[str | Path], *, id_prefix: str = "", follow_links: bool = False
) -> tuple[list[Document], list[LoadError]]:
    """Load every file under the arguments; problems are collected, not raised.

    A document's id is ``id_prefix`` plus its path relative to the folder argument
    it was found under (for a file argument: its file name). A file whose id an
    earlier file of the same call already took is a problem (give it another
    ``id_prefix`` in a separate call). A file that yields no text is skipped with a
    warning.
    """
    documents: list[Document] = []
    problems: list[LoadError] = []
    taken: dict[str, Path] = {}
    for argument in arguments:
        try:
            files = find_files(Path(argument), follow_links=follow_links)
        except LoadError as exc:
            problems.append(exc)
            continue
        for path, relative_id in files:
            doc_id = id_prefix + relative_id
            if doc_id in taken:
                if taken[doc_id].resolve() != path.resolve():
                    problems.append(LoadError(
                        f"{printable(path)}: its id {doc_id!r} is taken by "
                        f"{printable(taken[doc_id])} in this run; index it on its own with "
                        "--id-prefix (e.g. --id-prefix other/) to keep both"))
                continue
            taken[doc_id] = path
            try:
                doc = load_file(path, doc_id)
            except LoadError as exc:
                problems.append(exc)
                continue
            if not doc.text.strip():
                warnings.warn(_no_text(path, doc), stacklevel=2)
                continue
            documents.append(doc)
    return documents, problems


def _no_text(path: Path, doc: Document) -> str:
    """Why a file gave no text, and what to do."""
    if doc.metadata.get("file_type") != "pdf":
        return f"{printable(path)}: empty or only whitespace; skipped it"
    if not doc.page_map:
        return f"{printable(path)}: the PDF has no pages; skipped it"
    return (f"{printable(path)}: no extractable text (a scanned PDF?); skipped it: run OCR "
            "(e.g. ocrmypdf) first to index it")
