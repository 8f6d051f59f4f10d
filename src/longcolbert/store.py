"""SQLite store of an index folder: documents, metadata, page maps, token offsets, sentence units, model fingerprint.

Nothing here executes code when opened: rows are JSON text and little-endian int32 blobs.

>>> store = Store(":memory:")
>>> store.count()
0
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from .errors import InvalidInputError, LongColBERTError

SCHEMA_VERSION = 2  # 2: sentence units per document, own PLAID layout

_DOCUMENT_FIELDS = """
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    page_map TEXT NOT NULL,
    offsets BLOB NOT NULL,
    units BLOB NOT NULL,
    n_tokens INTEGER NOT NULL"""
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    plaid_id INTEGER NOT NULL,{_DOCUMENT_FIELDS}
);
CREATE INDEX IF NOT EXISTS documents_plaid_id ON documents (plaid_id);
CREATE TABLE IF NOT EXISTS staged (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,{_DOCUMENT_FIELDS}
);
"""
_COLUMNS = "id, text, metadata, page_map, offsets, units, n_tokens"

FilterValue = str | int | float | bool | None
Filter = Mapping[str, FilterValue | Sequence[FilterValue]]


@dataclass
class StoredDocument:
    """A document as the store keeps it; ``page_map`` holds ``(start, end, page)`` triples."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    page_map: list[tuple[int, int, int]] = field(default_factory=list)
    offsets: np.ndarray | None = None
    units: np.ndarray | None = None  # [n, 2] sentence/line char spans (passages.sentence_units)


def _json_default(value: Any) -> str:
    return str(value)  # dates, paths, enums... are kept as their text


class Store:
    """The SQLite half of an index folder; the PLAID half lives beside it."""

    def __init__(self, path: str | Path):
        self.connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.executescript(_SCHEMA.split(";")[0])  # the meta table
        version = self.get_meta("schema_version")
        if version is not None and int(version) < SCHEMA_VERSION:
            raise LongColBERTError(
                f"{path} was written by an older longcolbert (store schema {version}); "
                "index the documents again into a new folder"
            )
        self.connection.executescript(_SCHEMA)
        if version is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) > SCHEMA_VERSION:
            raise LongColBERTError(
                f"this index uses store schema {version}, newer than this longcolbert "
                f"understands ({SCHEMA_VERSION}); upgrade longcolbert"
            )

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen together or not at all."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    # -- meta --------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.connection.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- documents ---------------------------------------------------------------

    def count(self) -> int:
        return self.connection.execute("SELECT COUNT(*) FROM documents").fetchone()[0]

    def tokens(self) -> int:
        return self.connection.execute(
            "SELECT COALESCE(SUM(n_tokens), 0) FROM documents"
        ).fetchone()[0]

    def plaid_ids(self, ids: Sequence[str]) -> dict[str, int]:
        """PLAID positions of those ``ids`` that are stored."""
        found: dict[str, int] = {}
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            for doc_id, plaid_id in self.connection.execute(
                f"SELECT id, plaid_id FROM documents WHERE id IN ({marks})", chunk
            ):
                found[doc_id] = plaid_id
        return found

    def remove(self, plaid_ids: Sequence[int]) -> None:
        """Delete documents at these PLAID positions and renumber the rest as PLAID does."""
        if not plaid_ids:
            return
        removed = np.sort(np.asarray(plaid_ids, dtype=np.int64))
        for chunk in _chunks(removed.tolist(), 500):
            marks = ",".join("?" * len(chunk))
            self.connection.execute(f"DELETE FROM documents WHERE plaid_id IN ({marks})", chunk)
        rows = self.connection.execute(
            "SELECT rowid, plaid_id FROM documents WHERE plaid_id > ?", (int(removed[0]),)
        ).fetchall()
        if rows:
            old = np.array([p for _, p in rows], dtype=np.int64)
            new = old - np.searchsorted(removed, old)
            self.connection.executemany(
                "UPDATE documents SET plaid_id = ? WHERE rowid = ?",
                [(int(n), r) for (r, _), n in zip(rows, new)],
            )

    def stage(self, documents: Sequence[StoredDocument]) -> None:
        """Park documents of an add in progress on disk; nothing reads them until
        :meth:`insert_staged` moves them into the index (a long add holds no rows in memory)."""
        self.connection.executemany(
            f"INSERT INTO staged ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", _rows(documents)
        )

    def insert_staged(self, first_plaid_id: int) -> None:
        """Move the staged documents into the index, in staging order, from ``first_plaid_id``."""
        self.connection.execute(
            f"INSERT INTO documents (plaid_id, {_COLUMNS}) "
            f"SELECT ? + ROW_NUMBER() OVER (ORDER BY seq) - 1, {_COLUMNS} FROM staged ORDER BY seq",
            (first_plaid_id,),
        )
        self.clear_staged()

    def clear_staged(self) -> None:
        """Drop staged documents (an add that failed or was killed)."""
        self.connection.execute("DELETE FROM staged")

    def by_plaid_ids(self, plaid_ids: Sequence[int]) -> list[StoredDocument]:
        """Documents at these PLAID positions, in the same order."""
        found: dict[int, StoredDocument] = {}
        for chunk in _chunks([int(p) for p in plaid_ids], 500):
            marks = ",".join("?" * len(chunk))
            query = (
                "SELECT plaid_id, id, text, metadata, page_map, offsets, units "
                f"FROM documents WHERE plaid_id IN ({marks})"
            )
            for row in self.connection.execute(query, chunk):
                found[row[0]] = _document(row[1:])
        missing = [p for p in plaid_ids if p not in found]
        if missing:
            raise LongColBERTError(
                f"the PLAID index and the store disagree (no document at position {missing[0]}); "
                "rebuild the index folder by indexing the documents again"
            )
        return [found[p] for p in plaid_ids]

    def get(self, doc_id: str) -> StoredDocument | None:
        row = self.connection.execute(
            "SELECT id, text, metadata, page_map, offsets, units FROM documents WHERE id = ?",
            (doc_id,),
        ).fetchone()
        return _document(row) if row else None

    def ids(self) -> list[str]:
        return [r[0] for r in self.connection.execute("SELECT id FROM documents ORDER BY plaid_id")]

    def matching(self, where: Filter) -> list[int]:
        """PLAID positions of documents whose metadata matches every key of ``where``.

        A value matches by equality; a list matches any of its values.
        """
        clauses, params = [], []
        for key, wanted in where.items():
            if not isinstance(key, str) or not key or '"' in key:
                raise InvalidInputError(
                    f"bad filter key {key!r}; use a metadata field name without double quotes"
                )
            path = f'$."{key}"'
            values = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
            if not values:
                return []
            parts = []
            for value in values:
                if value is None:
                    parts.append("json_extract(metadata, ?) IS NULL")
                    params.append(path)
                elif isinstance(value, (str, int, float, bool)):
                    parts.append("json_extract(metadata, ?) = ?")
                    params.extend([path, int(value) if isinstance(value, bool) else value])
                else:
                    raise InvalidInputError(
                        f"filter value {value!r} for {key!r} is not a string, number, bool or None"
                    )
            clauses.append("(" + " OR ".join(parts) + ")")
        query = "SELECT plaid_id FROM documents"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        return sorted(r[0] for r in self.connection.execute(query, params))


def _rows(documents: Sequence[StoredDocument]) -> list[tuple]:
    """Column values of documents, in ``_COLUMNS`` order."""
    rows = []
    for doc in documents:
        offsets = np.ascontiguousarray(doc.offsets, dtype="<i4")
        units = np.ascontiguousarray(np.zeros((0, 2)) if doc.units is None else doc.units, dtype="<i4")
        rows.append((
            doc.id,
            doc.text,
            json.dumps(doc.metadata, default=_json_default, ensure_ascii=False),
            json.dumps([list(p) for p in doc.page_map]),
            offsets.tobytes(),
            units.tobytes(),
            int(offsets.shape[0]),
        ))
    return rows


def _document(row: tuple) -> StoredDocument:
    doc_id, text, metadata, page_map, offsets, units = row
    return StoredDocument(
        id=doc_id,
        text=text,
        metadata=json.loads(metadata),
        page_map=[tuple(p) for p in json.loads(page_map)],
        offsets=np.frombuffer(offsets, dtype="<i4").reshape(-1, 2).astype(np.int64),
        # an empty blob stands for units never computed (any stored text has at least one)
        units=np.frombuffer(units, dtype="<i4").reshape(-1, 2).astype(np.int64) if units else None,
    )


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
