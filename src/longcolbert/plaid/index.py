"""The embedded index: an index folder (a SQLite store plus a PLAID index, kept
consistent) that you add whole documents to and search for their best passages.

>>> from longcolbert import Index
>>> index = Index("./my-index")                                     # doctest: +SKIP
>>> index.add(["The notice period is three months."], ids=["contract"])  # doctest: +SKIP
>>> hits = index.search("notice period", k=3)                       # doctest: +SKIP
>>> hits[0].passages[0].highlights                                  # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
from filelock import FileLock

from ..backend import IndexBackend, SearchSettings
from ..defaults import (
    BATCH_TOKENS,
    CANDIDATES,
    DOCUMENT_SCORES,
    KEYWORD_CANDIDATES,
    PASSAGE_TOKENS,
    PROGRESS_FROM_TOKENS,
    TOKEN_BUDGET,
    DocumentScore,
)
from ..documents.checks import check_choice, check_count, checked_documents
from ..documents.loaders import Document
from ..encoding.cache import EncodingCache
from ..encoding.holder import ModelHolder
from ..encoding.model import DEFAULT_MODEL, ModelFingerprint, fingerprint
from ..errors import DamagedIndexError, InvalidInputError
from ..filters import where as filter_condition
from ..folders import check_folder
from ..progress import toward, tqdm
from ..ranking.passages import sentence_unit_array
from ..ranking.rank import LexicalEvidence, lexical_evidence, rank_documents
from ..results import Hits, StoredDocument
from .format import document_runs
from .reader import PlaidIndex
from .store import Filter, Store
from .writer import open_writer, write_generation

if TYPE_CHECKING:  # the encoder (torch) is imported when a model is: info and delete need none
    import torch

    from ..encoding.encoder import EncodedDocument, EncodedQuery, Encoder


STORE_FILE = "store.sqlite"
LOCK_FILE = "write.lock"

class Index(IndexBackend):
    """A longcolbert index folder: a SQLite store plus a PLAID index, kept consistent.

    ``model`` is a PyLate ColBERT hub id, a local folder, or a loaded model; by
    default the one the index was built with (``mixedbread-ai/mxbai-edge-colbert-v0-32m``
    for a new index). ``document_length`` overrides the model context per window.
    ``device`` and ``dtype`` place the model (see :func:`~longcolbert.load_model`:
    on a CUDA GPU with flash-attn installed it runs bfloat16 with FlashAttention-2;
    with ``dtype="auto"`` on a CPU with AMX, re-reads multiply in bfloat16, see
    :mod:`longcolbert.encoding.precision`).
    ``passage_tokens`` is the target passage length. A document is ranked by the
    MaxSim of the query against its best window of sentences plus its special
    tokens (``document_score="passage"``; ``"maxsim"`` uses every token; see the
    docs/concepts.md for the measurements) among the PLAID top ``candidates`` documents.
    ``hybrid`` (on by default) adds lexical evidence from SQLite FTS5: query
    tokens weighted by term rarity, the documents of the best BM25 sentences
    joining the candidates, and the query's keywords marked in highlights (see
    :mod:`longcolbert.ranking.lexical`); ``hybrid=False`` is MaxSim alone.
    ``reread`` (on by default) encodes the best candidate passages again, each on
    its own, and adds that MaxSim to their scores and their documents'
    (:mod:`longcolbert.ranking.reread`); ``reread=False`` is faster. ``read_alone`` (off by
    default) makes a new index also store every document read a passage at a time,
    so that re-reading scores those stored rows instead of encoding passages per
    search: nearly the speed of ``reread=False``, at the cost of more bytes and a
    longer build, and with somewhat fewer right passages than encoding them (see
    docs/benchmarks.md). An index that holds those rows keeps them on every add.
    The passages re-read are kept in ``cache`` (an
    :class:`~longcolbert.encoding.cache.EncodingCache`, 256 MiB by default), so a
    query asked again, or one that reaches the same passages, encodes none of them.
    ``candidates`` documents are scored exactly after the PLAID first stage.
    ``token_budget`` bounds the tokens of one model forward; ``batch_tokens`` the
    tokens an add encodes and compresses before parking them on disk: together
    they bound an add's memory, whatever the number of documents.

    >>> index = Index("./idx", model="./my-local-colbert")  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | Path,
        model: str | Any | None = None,
        *,
        document_length: int | None = None,
        device: str | None = None,
        dtype: str = "auto",
        create: bool = True,
        passage_tokens: int = PASSAGE_TOKENS,
        candidates: int = CANDIDATES,
        document_score: DocumentScore = "passage",
        hybrid: bool = True,
        reread: bool = True,
        read_alone: bool = False,
        token_budget: int = TOKEN_BUDGET,
        batch_tokens: int = BATCH_TOKENS,
        trust_remote_code: bool = False,
        cache: EncodingCache | None = None,
    ):
        self.path = Path(path)
        check_folder(self.path)  # nothing in it may lead out of it
        if not (self.path / STORE_FILE).exists():
            if not create:
                raise InvalidInputError(
                    f"no longcolbert index at {self.path}; create one with "
                    f"`longcolbert index {self.path} FILES...`"
                )
            if self.path.exists() and not self.path.is_dir():
                raise InvalidInputError(f"{self.path} is a file; give a folder for the index")
            self.path.mkdir(parents=True, exist_ok=True)
        check_choice("document_score", document_score, DOCUMENT_SCORES)
        self.store = Store(self.path / STORE_FILE)
        self._lock = FileLock(str(self.path / LOCK_FILE))
        stored = self.stored_fingerprint
        from_index = model is None and stored is not None
        if model is None:
            model = stored.name if stored else DEFAULT_MODEL
            if stored and document_length is None:
                document_length = stored.document_length
        self._model = ModelHolder(model, document_length, device, token_budget, dtype,
                                   trust_remote_code=trust_remote_code, from_index=from_index)
        if stored and isinstance(model, str):  # a wrong name fails before any loading
            stored.check_compatible(replace(stored, name=self._model.name))
        self._model_checked = False
        self.passage_tokens = passage_tokens
        self.candidates = candidates
        self.document_score = document_score
        self.hybrid = hybrid
        self.reread = reread
        self.read_alone = read_alone
        self.cache = cache if cache is not None else EncodingCache()  # passages re-read
        self.batch_tokens = batch_tokens
        self.plaid = PlaidIndex(self.path, -1)
        self._thread_lock = threading.RLock()  # one connection and PLAID handle, many threads
        with self.store.reading():
            self._refresh()

    # -- state -----------------------------------------------------------------------

    @property
    def stored_fingerprint(self) -> ModelFingerprint | None:
        raw = self.store.get_meta("model")
        if not raw:
            return None
        try:
            found = ModelFingerprint.from_dict(json.loads(raw))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            found = None
            reason = type(exc).__name__
        else:
            reason = "a field of the wrong type"
        if found is None or not all(isinstance(getattr(found, f), t) for f, t in (
                ("name", str), ("dim", int), ("query_prefix", str), ("document_prefix", str),
                ("query_length", int), ("document_length", int))):
            raise DamagedIndexError(
                f"{self.path / STORE_FILE} holds an unreadable model record ({reason})"
            )
        return found

    @property
    def encoder(self) -> Encoder:
        """The document/query encoder (loads the model on first use)."""
        encoder = self._model.encoder
        if not self._model_checked:
            stored = self.stored_fingerprint
            if stored is not None:
                stored.check_compatible(fingerprint(encoder.model))
                self._model_checked = True
        return encoder

    def _generation(self) -> int:
        raw = self.store.get_meta("generation") or "0"
        if not (raw.isascii() and raw.isdigit()):  # "²" is a digit to isdigit()
            raise DamagedIndexError(
                f"{self.path / STORE_FILE} holds no valid index generation ({raw[:20]!r})"
            )
        return int(raw)

    def _check_rows(self) -> None:
        """Before a write: every stored row fits its PLAID document (a write never builds
        on a damaged folder)."""
        damaged = self.store.damaged_rows(self.plaid.doclens)
        if damaged:
            raise DamagedIndexError(
                f"document {damaged[0]!r} in {self.path / STORE_FILE} does not fit "
                f"{self.plaid.path()} ({len(damaged)} such)"
            )

    def _refresh(self) -> int:
        """Follow changes another process committed, and check the folder is whole: a
        search never reads, and a write never builds on, a damaged folder. Returns the
        number of documents."""
        generation = self._generation()
        self.plaid.load(generation)
        stored = self.store.count()
        if self.plaid.empty and stored:  # an empty index has no generation folder
            raise DamagedIndexError(
                f"{self.plaid.path(generation)} is missing although {STORE_FILE} commits it"
            )
        if self.plaid.documents != stored:
            raise DamagedIndexError(
                f"{self.plaid.path(generation)} holds {self.plaid.documents} documents but "
                f"{STORE_FILE} holds {stored}"
            )
        return stored

    def __len__(self) -> int:
        return self.store.count()

    def close(self) -> None:
        self.plaid.close()
        self.store.close()

    # -- writing -----------------------------------------------------------------------

    def _free_ids(self, n: int) -> list[str]:
        """``n`` numeric ids (``"0"``, ``"1"``...) that no stored document uses."""
        taken = set(self.store.ids())
        ids: list[str] = []
        candidate = self.store.count()
        while len(ids) < n:
            if str(candidate) not in taken:
                ids.append(str(candidate))
            candidate += 1
        return ids

    def add_documents(
        self, documents: Sequence[Document], *, show_progress: bool | None = None
    ) -> list[str]:
        """Add (or replace, by id) documents; all of them land together or none does.

        Documents are encoded, compressed and parked on disk ``batch_tokens`` at a
        time, so memory does not grow with their number.
        """
        documents = checked_documents(documents)  # nothing is written unless all pass
        ids = [d.id for d in documents]
        encoder = self.encoder
        counts = encoder.count_rows([d.text for d in documents])
        if show_progress is None:
            show_progress = sum(counts) >= PROGRESS_FROM_TOKENS

        def encode(positions: list[int], alone: bool, progress: Callable[[int, int], Any]
                   ) -> list[EncodedDocument]:
            texts = [documents[i].text for i in positions]
            units = [sentence_unit_array(text) for text in texts] if alone else None
            return encoder.encode_documents(texts, show_progress=False, units=units,
                                            alone_tokens=self.passage_tokens,
                                            progress=progress) if texts else []

        def pieces(position: int, progress: Callable[[int], Any], alone: bool
                   ) -> Iterator[EncodedDocument]:
            text = documents[position].text
            return encoder.encode_in_pieces(
                text, self.batch_tokens, progress=progress,
                units=sentence_unit_array(text) if alone else None,
                alone_tokens=self.passage_tokens)

        self._add(documents, counts, encode, pieces, fingerprint(encoder.model), show_progress,
                  read_alone=self.read_alone)
        return ids

    def _check_sources(self, documents: Sequence[Document]) -> None:
        """Warn when a file replaces a document stored under its id from another path."""
        with self._thread_lock:
            sources = self.store.sources([d.id for d in documents])
        for doc in documents:
            before = sources.get(doc.id)
            source = doc.metadata.get("source")
            if before and source and Path(before).resolve() != Path(source).resolve():
                warnings.warn(
                    f"{source} replaces {before!r}, stored under the same "
                    f"id {doc.id!r}; to keep both, index one with an id prefix (--id-prefix)",
                    stacklevel=3,
                )

    def delete(self, ids: Sequence[str]) -> None:
        """Delete documents by id; an unknown id is an error and nothing is deleted."""
        if isinstance(ids, str):
            ids = [ids]
        with self._lock, self._thread_lock:  # always the file lock first (as adds do)
            self._refresh()
            self._check_rows()
            found = self.store.plaid_ids(ids)
            unknown = [i for i in ids if i not in found]
            if unknown:
                raise InvalidInputError(
                    f"no document with id {unknown[0]!r} in {self.path}; list ids with "
                    f"`longcolbert info --ids {self.path}` or check the spelling"
                )
            delete = sorted(set(found.values()))
            generation = self._generation() + 1
            write_generation(self.plaid.path(generation), self.plaid.contents, delete=delete,
                             add=[], nbits=self.plaid.nbits)
            self._switch_to(generation, delete, None)

    def _write(
        self,
        documents: Sequence[Document],
        encoded: Sequence[EncodedDocument],
        model_fingerprint: ModelFingerprint,
    ) -> None:
        """Add documents whose encodings are already known (benchmarks, tests)."""
        counts = [e.embeddings.shape[0] for e in encoded]
        self._add(documents, counts, lambda positions, *_: [encoded[i] for i in positions],
                  lambda position, progress, _: iter([encoded[position]]),
                  model_fingerprint, show_progress=False,
                  read_alone=all(e.alone is not None for e in encoded))

    def _add(
        self,
        documents: Sequence[Document],
        counts: Sequence[int],
        encode: Callable[[list[int], bool, Callable[[int, int], Any]], list[EncodedDocument]],
        pieces: Callable[[int, Callable[[int], Any], bool], Iterator[EncodedDocument]],
        model_fingerprint: ModelFingerprint,
        show_progress: bool,
        read_alone: bool = False,
    ) -> None:
        """Encode, compress and stage ``documents`` batch by batch, then commit them at once.

        ``counts`` estimates each document's embedding rows; ``encode`` encodes the
        documents at some positions; ``pieces`` encodes the one at a position in
        consecutive pieces, for a document longer than ``batch_tokens`` (its memory
        is one piece at a time). See :class:`~longcolbert.plaid.writer.GenerationWriter`.
        With ``read_alone``, both also read the documents a passage at a time (their
        last argument), kept for re-reading: in a new index, or one that holds those
        rows already (an index that holds documents without them keeps none).
        """
        with self._lock:
            with self._thread_lock:
                self._refresh()
                self._check_rows()
                alone = self.plaid.reads_alone or (read_alone and self.plaid.empty)
                if read_alone and not alone:
                    warnings.warn(
                        f"{self.path} was built without rows read alone, so it keeps none; "
                        "to have them, index the documents again into a new folder with "
                        "read_alone=True (--read-alone)", stacklevel=3)
                replaced = sorted(self.store.plaid_ids([d.id for d in documents]).values())
                self.store.clear_staged()  # left by an add that was killed
                generation = self._generation() + 1
            progress = tqdm(total=int(sum(counts)), unit="tok", unit_scale=True, desc="Indexing",
                            disable=not show_progress)
            done = 0
            writer = open_writer(self.plaid.path(generation), self.plaid.contents,
                                 delete=replaced, new_tokens=int(sum(counts)),
                                 nbits=self.plaid.nbits, alone=alone)
            try:
                # consecutive runs of about batch_tokens rows (one document at least)
                for run in document_runs(np.asarray(counts, dtype=np.int64), self.batch_tokens):
                    batch = list(range(run.start, run.stop))
                    if len(batch) == 1 and counts[batch[0]] > self.batch_tokens:
                        offsets = []  # one long document, a piece at a time
                        ceiling = int(sum(counts[: run.stop]))

                        def forward_done(tokens: int) -> None:  # progress inside the document
                            progress.update(max(0, min(tokens, ceiling - progress.n)))

                        for piece in pieces(batch[0], forward_done, alone):
                            writer.add_rows(piece.embeddings, piece.alone if alone else None)
                            offsets.append(piece.offsets)
                        writer.end_document()
                        encoded_offsets = [np.concatenate(offsets)]
                    else:
                        rows = int(sum(counts[run.start : run.stop]))
                        encoded = encode(batch, alone, toward(progress, progress.n, rows))
                        writer.add([e.embeddings for e in encoded],
                                   [e.alone for e in encoded if e.alone is not None]
                                   if alone else None)
                        encoded_offsets = [e.offsets for e in encoded]
                    stored = [
                        StoredDocument(d.id, d.text, d.metadata, d.page_map, found,
                                       sentence_unit_array(d.text))
                        for d, found in zip((documents[i] for i in batch), encoded_offsets)
                    ]
                    with self._thread_lock:
                        self.store.stage(stored)
                    done += len(batch)
                    progress.n = int(sum(counts[: run.stop]))  # estimates: land on each run
                    progress.set_postfix_str(f"{done}/{len(documents)} documents", refresh=True)
                writer.finish()
            except BaseException:
                writer.abort()
                with self._thread_lock:
                    self.store.clear_staged()
                raise
            finally:
                progress.close()
            self._switch_to(generation, replaced, model_fingerprint)

    def _switch_to(
        self, generation: int, delete: list[int], model_fingerprint: ModelFingerprint | None
    ) -> None:
        """Commit the written PLAID ``generation`` with the store: drop ``delete``, move the
        staged rows in after the rest, in one transaction; then search it. Holds the file lock."""
        with self._thread_lock:
            first_position = self.store.count() - len(delete)
            with self.store.transaction():
                self.store.remove(delete)
                self.store.insert_staged(first_plaid_id=first_position)
                if model_fingerprint is not None and self.store.get_meta("model") is None:
                    self.store.set_meta("model", json.dumps(model_fingerprint.to_dict()))
                self.store.set_meta("generation", str(generation))
            self.plaid.load(generation)
            self.plaid.remove_litter(keep=generation)

    # -- reading -----------------------------------------------------------------------

    def get(self, doc_id: str) -> StoredDocument:
        """A stored document (text, metadata, page map, offsets) by id."""
        with self._thread_lock:
            doc = self.store.get(doc_id)
        if doc is None:
            raise InvalidInputError(f"no document with id {doc_id!r} in {self.path}")
        return doc

    def get_many(self, ids: Sequence[str]) -> list[StoredDocument]:
        """The stored documents among ``ids``, in the order asked; an id that is not in
        the index is left out (what LangChain's ``get_by_ids`` and LlamaIndex expect).

        >>> [doc.id for doc in index.get_many(["a", "not-there"])]  # doctest: +SKIP
        ['a']
        """
        with self._thread_lock:
            found = [self.store.get(str(doc_id)) for doc_id in ids]
        return [doc for doc in found if doc is not None]

    def ids(self) -> list[str]:
        with self._thread_lock:
            return self.store.ids()

    def stored_rows(self, ids: Sequence[str]) -> dict[str, tuple[StoredDocument, torch.Tensor]]:
        """The stored documents among ``ids`` with their token vectors, decompressed
        (:meth:`IndexBackend.stored_rows`)."""
        with self._thread_lock, self.store.reading():
            self._refresh()
            positions = list(self.store.plaid_ids([str(i) for i in ids]).values())
            documents = self.store.by_plaid_ids(positions)
            rows = self.plaid.embeddings(positions)
        return {doc.id: (doc, vectors) for doc, vectors in zip(documents, rows)}

    def lexical_evidence_for(self, query: EncodedQuery) -> LexicalEvidence | None:
        """:meth:`IndexBackend.lexical_evidence_for`, from the store's FTS5 counts."""
        with self._thread_lock, self.store.reading():
            return lexical_evidence(self.store, query)

    def stored_model(self) -> ModelFingerprint | None:
        return self.stored_fingerprint

    def count_matching(self, filter: Filter) -> int:
        filter_condition(filter)  # a bad filter is a one-line error
        with self._thread_lock, self.store.reading():
            return len(self.store.matching(filter))

    def ids_matching(self, filter: Filter) -> list[str]:
        filter_condition(filter)
        with self._thread_lock, self.store.reading():
            return self.store.ids_matching(filter)

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        passages: int = 3,
        filter: Filter | None = None,
        hybrid: bool | None = None,
        reread: bool | None = None,
        candidates: int | None = None,
    ) -> Hits:
        """The ``k`` best documents for ``query``, each with its best ``passages``.

        ``filter`` maps metadata keys to a value (equality), a list (any of) or
        operators (``{"year": {"$gte": 2020}}``; ``$and`` / ``$or`` too, see
        :mod:`longcolbert.filters`); it restricts the PLAID search itself, not its top-k.
        ``hybrid``, ``reread`` and ``candidates`` replace the index's own settings for
        this search.
        """
        check_count("k", k, least=1)
        check_count("passages", passages, least=0)
        settings = self.settings(hybrid=hybrid, reread=reread, candidates=candidates)
        if filter is not None:
            filter_condition(filter)  # a bad filter fails before the query is encoded
        encoded = self.encoder.encode_query(query)
        with self._thread_lock:
            return self._search(encoded, k, passages, filter, settings)

    def _search(self, encoded: EncodedQuery, k: int, passages: int, filter: Filter | None,
                settings: SearchSettings) -> Hits:
        with self.store.reading():  # one generation: a writer commits before or after
            return self._search_generation(encoded, k, passages, filter, settings)

    def _search_generation(self, encoded: EncodedQuery, k: int, passages: int,
                           filter: Filter | None, settings: SearchSettings) -> Hits:
        stored = self._refresh()
        if self.plaid.empty:
            return Hits()
        subset = None
        if filter:
            subset = self.store.matching(filter)
            if not subset:
                return Hits()
        lexical = lexical_evidence(self.store, encoded) if settings.hybrid else None
        depth = max(k, settings.candidates)
        in_scope = subset if subset is not None else range(stored)
        if len(in_scope) <= depth:  # every candidate fits: score them all, exactly
            found = self.plaid.score(encoded.embeddings, list(in_scope))
        else:
            keyword = []
            if lexical is not None:
                keyword = self.store.keyword_candidates(lexical.keywords, KEYWORD_CANDIDATES)
                if subset is not None:
                    allowed = set(subset)
                    keyword = [p for p in keyword if p in allowed]
            found = self.plaid.search(encoded.embeddings, depth, subset, also=keyword)
        if not found.positions:
            return Hits()
        documents = self.store.by_plaid_ids(found.positions)
        reader, alone = None, None
        if settings.reread and self.plaid.reads_alone:  # passages read alone at index time

            def alone(read: list[int]) -> list[np.ndarray]:
                return self.plaid.similarities_alone(encoded.embeddings,
                                                     [found.positions[i] for i in read])
        elif settings.reread:  # an index built before: read them now
            reader = self.encoder
        return rank_documents(documents, found.similarities, encoded, passages, self.passage_tokens,
                              self.document_score, k, lexical, reader=reader, alone=alone,
                              cache=self.cache)

    def info(self) -> dict[str, Any]:
        """``{"backend", "model", "dim", "documents", "tokens", "bytes",
        "passages_read_alone"}`` of the index folder (the last: whether re-reading
        scores the rows stored at index time, or encodes passages per search)."""
        stored = self.stored_fingerprint
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return {
            "backend": self.backend,
            "model": stored.name if stored else self._model.name,
            "dim": stored.dim if stored else None,
            "documents": self.store.count(),
            "tokens": self.store.tokens(),
            "bytes": size,
            "passages_read_alone": self.plaid.reads_alone,
        }
