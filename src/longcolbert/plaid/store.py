"""SQLite store of an index folder: documents, metadata, page maps, token offsets, sentence units, model fingerprint.

Nothing here executes code when opened: rows are JSON text and little-endian int32 blobs.
Each document's sentence units are also in an FTS5 full-text index (``units_fts``,
contentless: terms only, no second copy of the text) for hybrid search; its row
for unit ``u`` of the document stored at row ``r`` is ``(r << UNIT_BITS) | u``.

>>> store = Store(":memory:")
>>> store.count()
0
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..defaults import SQL_CHUNK, UNIT_BITS
from ..documents.checks import metadata_json, stored_metadata, stored_page_map
from ..errors import DamagedIndexError, IndexVersionError, LongColBERTError
from ..filters import FIELD
from ..filters import where as filter_condition
from ..ranking.lexical import KEYWORD_UNITS_READ, TOKENIZE, fts5_available, fts_phrase, unit_texts
from ..results import StoredDocument

SCHEMA_VERSION = 3  # 2: sentence units per document, own PLAID layout; 3: units in FTS5
_UNITS_FTS = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS units_fts USING fts5(text, content='', "
    f"tokenize='{TOKENIZE}')"
)

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
Filter = Mapping[str, Any]  # see longcolbert.filters


class Store:
    """The SQLite half of an index folder; the PLAID half lives beside it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._open()
        except sqlite3.DatabaseError as exc:  # not a database, damaged pages, no permission
            if getattr(self, "connection", None) is not None:
                self.connection.close()
            raise LongColBERTError(
                f"cannot open {path} ({exc}); if it is damaged, index the documents again into "
                "a new folder; if it is read-only or the disk is full, fix that and retry"
            ) from exc

    def _open(self) -> None:
        path = self.path
        # a writer waits this long for readers between their reads (one search each)
        self.connection = sqlite3.connect(str(path), isolation_level=None,
                                          check_same_thread=False, timeout=60)
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.executescript(_SCHEMA.split(";")[0])  # the meta table
        version = self.get_meta("schema_version")
        if version is not None and not (version.isascii() and version.isdigit()):
            raise DamagedIndexError(f"{path} holds no valid schema version ({version[:20]!r})")
        if version is not None and int(version) < 2:
            raise IndexVersionError(
                f"{path} was written by an older longcolbert (store schema {version}); "
                "index the documents again into a new folder"
            )
        if version is not None and int(version) > SCHEMA_VERSION:
            raise IndexVersionError(
                f"this index uses store schema {version}, newer than this longcolbert "
                f"understands ({SCHEMA_VERSION}); upgrade longcolbert"
            )
        self.connection.executescript(_SCHEMA)
        self._unit_count: tuple[int, int] | None = None  # (data_version, units)
        self.lexical = fts5_available()
        if self.lexical:
            try:
                self.connection.execute(_UNITS_FTS)
                self.connection.execute(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.unit_terms "
                    "USING fts5vocab(main, units_fts, 'row')"
                )
            except sqlite3.OperationalError:  # a read-only store from before FTS5
                self.lexical = False
        if version is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        if self.lexical and self.get_meta("lexical") != "1":
            self._build_lexical()

    def _build_lexical(self) -> None:
        """Put every stored document's units in the FTS5 index: a store from schema 2,
        or one last written where SQLite had no FTS5. Data only; runs once."""
        try:
            with self.transaction():
                if self.get_meta("lexical") == "1":
                    return  # another process built it first
                self.connection.execute("INSERT INTO units_fts (units_fts) VALUES ('delete-all')")
                self._index_units_after(0)
                self.set_meta("lexical", "1")
                self.set_meta("schema_version", str(SCHEMA_VERSION))
        except sqlite3.OperationalError:  # a read-only folder: search without it
            self.lexical = False

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen together or not at all; a failed write (full disk,
        read-only folder) is one line, and leaves what was committed before."""
        try:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.connection.execute("COMMIT")
            except BaseException:
                if self.connection.in_transaction:  # a failed COMMIT may have ended it
                    self.connection.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise LongColBERTError(
                f"cannot write {self.path} ({exc}); free disk space or make the index folder "
                "writable, then retry: nothing was changed"
            ) from exc

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Reads inside see one committed state: a writer commits before or after them."""
        if self.connection.in_transaction:  # inside a write: it is one state already
            yield
            return
        self.connection.execute("BEGIN DEFERRED")
        try:
            yield
        except BaseException:
            if self.connection.in_transaction:  # the reads' own error is the one to report
                try:
                    self.connection.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise
        if self.connection.in_transaction:
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

    def damaged_rows(self, doclens: np.ndarray) -> list[str]:
        """Ids of documents whose token count or offsets do not fit the PLAID ``doclens``."""
        rows = self.connection.execute(
            "SELECT id, plaid_id, n_tokens, length(offsets) FROM documents").fetchall()
        return [doc_id for doc_id, position, n_tokens, size in rows
                if not 0 <= position < len(doclens) or n_tokens != doclens[position]
                or size != 8 * n_tokens]

    def sources(self, ids: Sequence[str]) -> dict[str, str]:
        """The ``source`` metadata (the file they came from) of those ``ids`` that have one."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(ids), SQL_CHUNK):
            marks = ",".join("?" * len(chunk))
            for doc_id, source in self.connection.execute(
                f"SELECT id, {FIELD} FROM documents WHERE id IN ({marks})", ["$.source", *chunk]
            ):
                if isinstance(source, str):
                    found[doc_id] = source
        return found

    def plaid_ids(self, ids: Sequence[str]) -> dict[str, int]:
        """PLAID positions of those ``ids`` that are stored."""
        found: dict[str, int] = {}
        for chunk in _chunks(list(ids), SQL_CHUNK):
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
        self._unit_count = None
        if not self.lexical:  # a later open where SQLite has FTS5 rebuilds the lexical index
            self.set_meta("lexical", "0")
        removed = np.sort(np.asarray(plaid_ids, dtype=np.int64))
        for chunk in _chunks(removed.tolist(), 64):
            marks = ",".join("?" * len(chunk))
            if self.lexical:  # a contentless FTS5 row is deleted by giving its text again
                for key, text, units in self.connection.execute(
                    f"SELECT rowid, text, units FROM documents WHERE plaid_id IN ({marks})", chunk
                ).fetchall():
                    self.connection.executemany(
                        "INSERT INTO units_fts (units_fts, rowid, text) VALUES ('delete', ?, ?)",
                        _unit_rows(key, text, units),
                    )
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
        """Move the staged documents into the index, in staging order, from ``first_plaid_id``;
        their units join the FTS5 index."""
        self._unit_count = None
        last_key = self.connection.execute("SELECT COALESCE(MAX(rowid), 0) FROM documents")
        last_key = last_key.fetchone()[0]
        self.connection.execute(
            f"INSERT INTO documents (plaid_id, {_COLUMNS}) "
            f"SELECT ? + ROW_NUMBER() OVER (ORDER BY seq) - 1, {_COLUMNS} FROM staged ORDER BY seq",
            (first_plaid_id,),
        )
        self.clear_staged()
        if self.lexical:
            self._index_units_after(last_key)
        else:  # a later open where SQLite has FTS5 rebuilds the lexical index
            self.set_meta("lexical", "0")

    def _index_units_after(self, last_key: int) -> None:
        """Index the units of the documents stored at rows after ``last_key``."""
        keys = [r[0] for r in self.connection.execute(
            "SELECT rowid FROM documents WHERE rowid > ? ORDER BY rowid", (last_key,))]
        for chunk in _chunks(keys, 64):
            marks = ",".join("?" * len(chunk))
            rows = self.connection.execute(
                f"SELECT rowid, text, units FROM documents WHERE rowid IN ({marks})", chunk
            ).fetchall()
            for key, text, units in rows:
                self.connection.executemany(
                    "INSERT INTO units_fts (rowid, text) VALUES (?, ?)", _unit_rows(key, text, units)
                )

    def clear_staged(self) -> None:
        """Drop staged documents (an add that failed or was killed)."""
        self.connection.execute("DELETE FROM staged")

    def by_plaid_ids(self, plaid_ids: Sequence[int]) -> list[StoredDocument]:
        """Documents at these PLAID positions, in the same order."""
        found: dict[int, StoredDocument] = {}
        for chunk in _chunks([int(p) for p in plaid_ids], SQL_CHUNK):
            marks = ",".join("?" * len(chunk))
            query = (
                "SELECT plaid_id, id, text, metadata, page_map, offsets, units, rowid "
                f"FROM documents WHERE plaid_id IN ({marks})"
            )
            for row in self.connection.execute(query, chunk):
                found[row[0]] = _document(row[1:])
        missing = [p for p in plaid_ids if p not in found]
        if missing:
            raise DamagedIndexError(
                f"the PLAID index and the store disagree (no document at position {missing[0]})"
            )
        return [found[p] for p in plaid_ids]

    def get(self, doc_id: str) -> StoredDocument | None:
        row = self.connection.execute(
            "SELECT id, text, metadata, page_map, offsets, units, rowid FROM documents WHERE id = ?",
            (doc_id,),
        ).fetchone()
        return _document(row) if row else None

    def ids(self) -> list[str]:
        return [r[0] for r in self.connection.execute("SELECT id FROM documents ORDER BY plaid_id")]

    # -- lexical (FTS5) -----------------------------------------------------------

    def unit_count(self) -> int:
        """Sentence units of all documents (the N of their terms' idf); counted again
        only after a write, from this connection or another."""
        version = self.connection.execute("PRAGMA data_version").fetchone()[0]
        if self._unit_count is None or self._unit_count[0] != version:
            blob_bytes = self.connection.execute(
                "SELECT COALESCE(SUM(LENGTH(units)), 0) FROM documents").fetchone()[0]
            self._unit_count = (version, int(blob_bytes) // 8)
        return self._unit_count[1]

    @contextmanager
    def _reading_lexical(self) -> Iterator[None]:
        """A read of the FTS5 index: damage there is one line naming the store."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if any(word in str(exc) for word in ("locked", "busy")):
                raise  # in use, not damaged
            raise DamagedIndexError(
                f"the keyword index (units_fts) of {self.path} cannot be read ({exc}); "
                "meanwhile search with hybrid=False (--semantic-only)") from exc

    def term_document_counts(self, terms: Sequence[str]) -> dict[str, int]:
        """How many units hold each FTS5 term (absent terms are left out)."""
        if not self.lexical or not terms:
            return {}
        marks = ",".join("?" * len(terms))
        with self._reading_lexical():
            return dict(self.connection.execute(
                f"SELECT term, doc FROM temp.unit_terms WHERE term IN ({marks})", list(terms)))

    def keyword_candidates(self, words: Sequence[str], limit: int) -> list[int]:
        """PLAID positions of the documents of the best BM25 units for ``words``
        (any of them), best first, at most ``limit``."""
        if not self.lexical or not words or limit <= 0:
            return []
        match = " OR ".join(fts_phrase(w) for w in words)
        with self._reading_lexical():
            rows = self.connection.execute(
                "SELECT rowid FROM units_fts WHERE units_fts MATCH ? ORDER BY rank LIMIT ?",
                (match, KEYWORD_UNITS_READ * limit),
            ).fetchall()
        keys = list(dict.fromkeys(r[0] >> UNIT_BITS for r in rows))[:limit]
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        position = dict(self.connection.execute(
            f"SELECT rowid, plaid_id FROM documents WHERE rowid IN ({marks})", keys))
        return [position[k] for k in keys if k in position]

    def ids_matching(self, where: Filter) -> list[str]:
        """Ids of the documents whose metadata matches ``where``, sorted."""
        condition, params = filter_condition(where)
        query = f"SELECT id FROM documents WHERE {condition}"
        return sorted(r[0] for r in self.connection.execute(query, params))

    def matching(self, where: Filter) -> list[int]:
        """PLAID positions of documents whose metadata matches ``where`` (see
        :mod:`longcolbert.filters`: values, lists, ``$ne $gt $contains``..., ``$and $or``)."""
        condition, params = filter_condition(where)
        query = f"SELECT plaid_id FROM documents WHERE {condition}"
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
            metadata_json(doc.metadata),
            json.dumps([list(p) for p in doc.page_map]),
            offsets.tobytes(),
            units.tobytes(),
            int(offsets.shape[0]),
        ))
    return rows


def _document(row: tuple) -> StoredDocument:
    """A stored row read back. An unreadable metadata or page map row (written by
    hand or by another program) is read as empty, with a warning, so one bad row
    never breaks a search over the others."""
    doc_id, text, metadata, page_map, offsets, units, key = row
    read_metadata, read_pages = stored_metadata(metadata), stored_page_map(page_map)
    for what, value in (("metadata", read_metadata), ("page map", read_pages)):
        if value is None:
            warnings.warn(f"document {doc_id!r} has an unreadable {what} in the store; it is "
                          "read as empty: index the document again to repair it", stacklevel=3)
    if not isinstance(offsets, bytes) or len(offsets) % 8:
        raise DamagedIndexError(f"document {doc_id!r} has unreadable token offsets in the store")
    return StoredDocument(
        id=doc_id,
        text=text,
        metadata=read_metadata or {},
        page_map=read_pages or [],
        offsets=np.frombuffer(offsets, dtype="<i4").reshape(-1, 2).astype(np.int64),
        units=_units(units),
        key=key,
    )


def _units(blob: bytes) -> np.ndarray | None:
    # an empty blob stands for units never computed (any stored text has at least one);
    # a damaged one is computed again by whoever needs it
    if not blob or not isinstance(blob, bytes) or len(blob) % 8:
        return None
    return np.frombuffer(blob, dtype="<i4").reshape(-1, 2).astype(np.int64)


def _unit_rows(key: int, text: str, blob: bytes) -> list[tuple[int, str]]:
    """The FTS5 rows of one document's units (:func:`unit_texts`), keyed by document
    and unit."""
    units = _units(blob)
    if units is None:
        return []
    return [((key << UNIT_BITS) | i, unit) for i, unit in enumerate(unit_texts(text, units))]


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
