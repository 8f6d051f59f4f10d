"""Turning files and folders into documents: text + metadata (+ a page map for PDFs).

A document's id is its path relative to the folder argument it was found under
(for a file argument: its file name). Text files are decoded as UTF-8 and kept
byte for byte (no newline translation), so offsets index the file's own text.

>>> docs, problems = load_paths(["README.md"])  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import LoadError

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


def load_text(path: Path, doc_id: str) -> Document:
    """A UTF-8 text file, exactly as its bytes decode."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"{path}: not UTF-8 text (byte {exc.start}); convert it to UTF-8 (e.g. iconv) "
            "and index it again"
        ) from exc
    except OSError as exc:
        raise LoadError(f"{path}: cannot read it ({exc.strerror}); check the path and permissions") from exc
    return Document(doc_id, text, {"source": str(path), "file_type": path.suffix.lstrip(".").lower()})


def load_pdf(path: Path, doc_id: str) -> Document:
    """A PDF's text through pypdf, pages joined by a blank line, with a page map."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(
                f"{path}: the PDF is encrypted with a password; decrypt it (e.g. qpdf "
                "--decrypt) and index it again"
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        reason = " ".join(str(exc).split())[:120]
        raise LoadError(
            f"{path}: cannot read the PDF ({type(exc).__name__}: {reason}); repair or "
            "re-export it and index it again"
        ) from exc
    parts, page_map, position = [], [], 0
    for number, page_text in enumerate(pages, start=1):
        if parts:
            parts.append("\n\n")
            position += 2
        parts.append(page_text)
        page_map.append((position, position + len(page_text), number))
        position += len(page_text)
    text = "".join(parts)
    metadata = {"source": str(path), "file_type": "pdf", "page_count": len(pages)}
    return Document(doc_id, text, metadata, page_map)


def load_file(path: Path, doc_id: str | None = None) -> Document:
    """One file by its suffix (PDF or text); ``doc_id`` defaults to the file name."""
    doc_id = doc_id or path.name
    if path.suffix.lower() in PDF_SUFFIXES:
        return load_pdf(path, doc_id)
    return load_text(path, doc_id)


def find_files(argument: Path) -> list[tuple[Path, str]]:
    """Files an ``index`` argument names, with their ids, in a stable order."""
    if argument.is_file():
        return [(argument, argument.name)]
    if argument.is_dir():
        found = []
        for path in sorted(argument.rglob("*")):
            suffix = path.suffix.lower()
            if path.is_file() and (suffix in TEXT_SUFFIXES or suffix in PDF_SUFFIXES):
                if not any(part.startswith(".") for part in path.relative_to(argument).parts):
                    found.append((path, path.relative_to(argument).as_posix()))
        return found
    raise LoadError(f"{argument}: no such file or folder; check the path")


def load_paths(arguments: Iterable[str | Path]) -> tuple[list[Document], list[LoadError]]:
    """Load every file under the arguments; problems are collected, not raised.

    A file that yields no text (a scanned PDF) is skipped with a warning.
    """
    documents: list[Document] = []
    problems: list[LoadError] = []
    for argument in arguments:
        try:
            files = find_files(Path(argument))
        except LoadError as exc:
            problems.append(exc)
            continue
        for path, doc_id in files:
            try:
                doc = load_file(path, doc_id)
            except LoadError as exc:
                problems.append(exc)
                continue
            if not doc.text.strip():
                warnings.warn(
                    f"{path}: no extractable text (a scanned PDF?); skipped it: run OCR "
                    "(e.g. ocrmypdf) first to index it",
                    stacklevel=2,
                )
                continue
            documents.append(doc)
    return documents, problems
