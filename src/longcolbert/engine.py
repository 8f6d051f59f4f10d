"""The engine: an index folder you add whole documents to and search for their best passages.

>>> from longcolbert import Index
>>> index = Index("./my-index")                                     # doctest: +SKIP
>>> index.add(["The notice period is three months."], ids=["contract"])  # doctest: +SKIP
>>> hits = index.search("notice period", k=3)                       # doctest: +SKIP
>>> hits[0].passages[0].highlights                                  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
from filelock import FileLock

from .backend import IndexBackend, SearchSettings, index_of, loaded_files
from .checks import check_choice, check_count, checked_documents, checked_metadata
from .defaults import (
    BATCH_TOKENS,
    CANDIDATES,
    DOCUMENT_SCORES,
    PASSAGE_TOKENS,
    PROGRESS_FROM_TOKENS,
    TOKEN_BUDGET,
    DocumentScore,
)
from .encoding_cache import EncodingCache
from .errors import (
    DamagedIndexError,
    IncompatibleModelError,
    InvalidInputError,
    LongColBERTError,
    UnsafeModelError,
)
from .filters import where as filter_condition
from .folders import check_folder
from .lexical import (
    CountedTerms,
    TermStatistics,
    lexical_spans,
    query_token_weights,
    shared_words,
)
from .loaders import Document
from .model import (
    DEFAULT_MODEL,
    ModelFingerprint,
    check_dtype,
    fingerprint,
    load_model,
    model_name,
    normalize_model_name,
)
from .model_files import looks_like_hub_id
from .passages import (
    PassageSource,
    find_passages,
    maxsim,
    passage_document_score,
    sentence_unit_array,
    with_highlights,
)
from .plaid import PlaidIndex
from .plaid_format import document_runs
from .plaid_writer import open_writer, write_generation
from .profile import match_profile
from .progress import tqdm
from .reread import (
    READ_DOCUMENTS,
    READ_PASSAGES,
    standalone_scores,
    stored_standalone_scores,
    with_standalone,
)
from .results import Hit, Hits, relevance
from .store import Filter, Store, StoredDocument, unit_texts

if TYPE_CHECKING:  # the encoder (torch) is imported when a model is: info and delete need none
    import torch

    from .encoder import EncodedDocument, EncodedQuery, Encoder

StoredSpan = tuple[str, int]  # (id of a document in an index, char offset of a text in it)

STORE_FILE = "store.sqlite"
LOCK_FILE = "write.lock"
KEYWORD_CANDIDATES = 10  # documents of the best BM25 units that join the PLAID candidates
UNIT_TERMS_KEPT = 4096  # texts whose sentences' terms a Reranker keeps for the next rerank
KEYWORD_SHARE = 0.1  # query words in at most this share of units find keyword candidates
MARKED_SHARE = 0.25  # query words in at most this share of units are marked in highlights
# In hybrid search, a query word whose rarity weight is under this (the query's tokens
# average 1: so, under the average) marks nothing in highlights, by MaxSim or by
# keyword: "how", "do", "a" are not why a passage matched
# (benchmarks/highlight_precision.py).
HIGHLIGHT_WEIGHT = 1.0


class ModelHolder:
    """Loads the model (and its encoder) on first use, so `info` or `delete` never load it.

    ``from_index``: the name came from an index folder, not from the user. Such a
    name is loaded only as a model hub id: a folder on disk that an index names
    is refused, so opening a shared index never runs code from a path it chose.
    """

    def __init__(self, model: str | Any, document_length: int | None, device: str | None,
                 token_budget: int, dtype: str = "auto", *, trust_remote_code: bool = False,
                 from_index: bool = False):
        check_dtype(dtype)  # a bad name fails at once, not when the model loads
        self._source = model
        self._document_length = document_length
        self._device = device
        self._dtype = dtype
        self._token_budget = token_budget
        self._trust_remote_code = trust_remote_code
        self._from_index = from_index
        self._encoder: Encoder | None = None

    @property
    def name(self) -> str:
        if isinstance(self._source, str):
            return self._source if self._from_index else normalize_model_name(self._source)
        return model_name(self._source)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            model = self._source
            if isinstance(model, str):
                if self._from_index and not looks_like_hub_id(model):
                    raise UnsafeModelError(
                        f"this index was built with the local model {model!r}; an index "
                        "folder does not choose which local files load: name the model "
                        f"yourself (model={model!r}, CLI: --model {model})"
                    )
                model = load_model(model, document_length=self._document_length,
                                   device=self._device, dtype=self._dtype,
                                   trust_remote_code=self._trust_remote_code)
            from .encoder import Encoder

            self._encoder = Encoder(model, token_budget=self._token_budget)
        return self._encoder


@dataclass
class LexicalEvidence:
    """What hybrid search adds for one query (see :mod:`longcolbert.lexical`)."""

    weights: np.ndarray  # per query token, mean 1
    keywords: list[str]  # the query's distinctive words, as written, for BM25 candidates
    terms: set[str]  # FTS5 terms of its words worth marking in highlights (not "the")


def lexical_evidence(statistics: TermStatistics, query: EncodedQuery) -> LexicalEvidence | None:
    """Token weights, keywords and terms of ``query``, from the term counts of an
    index (its :class:`~longcolbert.store.Store`, or a Qdrant collection's units);
    None for a query without token spans, or where the index cannot count terms."""
    if not statistics.lexical or query.spans is None:
        return None
    words = shared_words().of(query.text)
    counts = statistics.term_document_counts(sorted({term for _, _, term in words}))
    units = statistics.unit_count()
    weights = query_token_weights(query.spans, words, counts, units).astype(np.float32)
    keywords = [query.text[s:e] for s, e, term in words
                if 0 < counts.get(term, 0) <= KEYWORD_SHARE * units]
    spans = np.asarray(query.spans).reshape(-1, 2)
    weighty = {term for start, end, term in words
               if (weights[(spans[:, 1] > spans[:, 0]) & (spans[:, 0] >= start)
                           & (spans[:, 0] < end)] >= HIGHLIGHT_WEIGHT).any()}
    marked = {term for _, _, term in words
              if 0 < counts.get(term, 0) <= MARKED_SHARE * units and term in weighty}
    return LexicalEvidence(weights, list(dict.fromkeys(keywords)), marked)


def rank_documents(
    documents: Sequence[StoredDocument],
    similarities: Sequence[np.ndarray],
    query: EncodedQuery,
    n_passages: int,
    passage_tokens: int,
    document_score: DocumentScore,
    top: int | None,
    lexical: LexicalEvidence | None = None,
    positions: bool = False,
    reader: Encoder | None = None,
    alone: Callable[[list[int]], list[np.ndarray]] | None = None,
    cache: EncodingCache | None = None,
) -> Hits:
    """Score every document from its query x row ``similarities``, keep the ``top`` best,
    and highlight only their passages; see :mod:`longcolbert.passages`. With
    ``lexical`` (hybrid search), query tokens are weighted by term rarity and
    highlights mark the query's keywords too. With ``positions``, each hit records
    its document's place in ``documents`` (reranking). With a ``reader`` (the
    encoder), the best candidate passages are re-read on their own
    (:mod:`longcolbert.reread`) before the ``top`` are kept; with ``alone`` (what
    gives the query x row similarities of the documents at some positions of
    ``documents`` as read a passage at a time, stored at index time), they are
    re-read from those rows instead, encoding nothing. A ``cache`` keeps what a
    ``reader`` encodes for the next query."""
    offsets = [_token_offsets(doc) for doc in documents]
    for doc, doc_offsets, sims in zip(documents, offsets, similarities):
        if sims.shape[1] != doc_offsets.shape[0]:
            raise DamagedIndexError(
                f"document {doc.id!r} has {sims.shape[1]} embeddings but "
                f"{doc_offsets.shape[0]} offsets"
            )
    scoring = similarities if lexical is None else [
        sims * lexical.weights[:, None] for sims in similarities
    ]
    sources = [PassageSource(doc.text, doc_offsets, sims, doc.units, doc.page_map)
               for doc, doc_offsets, sims in zip(documents, offsets, scoring)]
    rereading = reader is not None or alone is not None
    candidates = max(1, n_passages, READ_PASSAGES if rereading else 0)
    found = find_passages(sources, query.content, passage_tokens=passage_tokens,
                          n_passages=candidates, highlights=False)
    hits = []
    for doc, doc_offsets, sims, passages in zip(documents, offsets, scoring, found):
        if document_score == "maxsim":
            score = maxsim(sims)
        else:
            score = passage_document_score(doc_offsets, sims, passages.window)
        hits.append(Hit(doc.id, score, doc.metadata, passages.passages))
    order = np.argsort([-hit.score for hit in hits], kind="stable").tolist()
    if rereading:  # re-read the passages of the best few, then re-order those
        read = order[:READ_DOCUMENTS]  # a bounded cost, whatever k is
        weights = None if lexical is None else lexical.weights
        if alone is not None:
            standalone = stored_standalone_scores([hits[i].passages for i in read],
                                                  [offsets[i] for i in read], alone(read), weights)
        else:
            assert reader is not None
            standalone = standalone_scores([[p.text for p in hits[i].passages] for i in read],
                                           query, weights, reader, cache)
        for i, hit in zip(read, with_standalone([hits[i] for i in read], standalone)):
            hits[i] = hit
        read_order = np.argsort([-hits[i].score for i in read], kind="stable").tolist()
        order = [read[j] for j in read_order] + order[len(read):]
    order = order[:top]
    hits = [replace(hit, passages=hit.passages[:n_passages]) for hit in hits]
    keyword_spans: Iterator[list[tuple[int, int]]] = iter([])
    if lexical is not None and lexical.terms:  # all passages' words in one pass
        keyword_spans = iter(lexical_spans(
            [(documents[i].text, p.start, p.end) for i in order for p in hits[i].passages],
            lexical.terms, shared_words()))
    # the most a score can be: one cosine of 1 per (weighted) query token, in the
    # document and, when re-reading, read alone (Hit.relevance)
    weight = float(lexical.weights.sum()) if lexical is not None else float(len(query.content))
    bound = weight * (2 if rereading else 1)
    # what marks words: the query's content tokens, in hybrid search only those that
    # weigh (HIGHLIGHT_WEIGHT)
    marking = query.content if lexical is None else (
        query.content & (lexical.weights >= HIGHLIGHT_WEIGHT))
    ranked = Hits()
    for i in order:
        doc, sims = documents[i], similarities[i]
        highlighted = [
            replace(with_highlights(p, doc.text, offsets[i], sims, marking,
                                    next(keyword_spans, None)),
                    relevance=relevance(p.score, bound))
            for p in hits[i].passages
        ]
        profile = match_profile(offsets[i], scoring[i][query.content], len(doc.text))
        ranked.append(replace(hits[i], passages=highlighted, profile=profile,
                              position=i if positions else None,
                              relevance=relevance(hits[i].score, bound)))
    return ranked


def _token_offsets(doc: StoredDocument) -> np.ndarray:
    """A stored document's token offsets (the store always reads them)."""
    if doc.offsets is None:
        raise DamagedIndexError(f"document {doc.id!r} has no token offsets in the store")
    return doc.offsets


class Index(IndexBackend):
    """A longcolbert index folder: a SQLite store plus a PLAID index, kept consistent.

    ``model`` is a PyLate ColBERT hub id, a local folder, or a loaded model; by
    default the one the index was built with (``mixedbread-ai/mxbai-edge-colbert-v0-32m``
    for a new index). ``document_length`` overrides the model context per window.
    ``device`` and ``dtype`` place the model (see :func:`~longcolbert.load_model`:
    on a CUDA GPU with flash-attn installed it runs bfloat16 with FlashAttention-2).
    ``passage_tokens`` is the target passage length. A document is ranked by the
    MaxSim of the query against its best window of sentences plus its special
    tokens (``document_score="passage"``; ``"maxsim"`` uses every token; see the
    README for the measurements) among the PLAID top ``candidates`` documents.
    ``hybrid`` (on by default) adds lexical evidence from SQLite FTS5: query
    tokens weighted by term rarity, the documents of the best BM25 sentences
    joining the candidates, and the query's keywords marked in highlights (see
    :mod:`longcolbert.lexical`); ``hybrid=False`` is MaxSim alone.
    ``reread`` (on by default) encodes the best candidate passages again, each on
    its own, and adds that MaxSim to their scores and their documents'
    (:mod:`longcolbert.reread`); ``reread=False`` is faster. ``read_alone`` (off by
    default) makes a new index also store every document read a passage at a time,
    so that re-reading scores those stored rows instead of encoding passages per
    search: nearly the speed of ``reread=False``, at the cost of more bytes and a
    longer build, and with somewhat fewer right passages than encoding them (see
    the README's benchmarks). An index that holds those rows keeps them on every add.
    The passages re-read are kept in ``cache`` (an
    :class:`~longcolbert.encoding_cache.EncodingCache`, 256 MiB by default), so a
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

        def encode(positions: list[int], alone: bool) -> list[EncodedDocument]:
            texts = [documents[i].text for i in positions]
            units = [sentence_unit_array(text) for text in texts] if alone else None
            return encoder.encode_documents(texts, show_progress=False, units=units,
                                            alone_tokens=self.passage_tokens) if texts else []

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

    def add_files(
        self,
        paths: Iterable[str | Path],
        *,
        id_prefix: str = "",
        follow_links: bool = False,
        show_progress: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> tuple[list[str], list[LongColBERTError]]:
        """Index files and folders (text, Markdown, reST, PDF...); returns (ids, problems).

        Each document gets ``metadata`` added to its own (what filters select on).
        A document's id is ``id_prefix`` plus its path relative to the folder argument
        it was found under (for a file argument: its file name); a file already
        stored under that id is replaced, with a warning when it came from another
        path (give ``id_prefix`` to keep both). Links out of a folder are skipped
        unless ``follow_links``. A file that cannot be read is reported in
        ``problems``; the others are indexed.

        >>> ids, problems = index.add_files(["./v2/"], id_prefix="v2/")  # doctest: +SKIP
        """
        documents, problems = loaded_files(paths, id_prefix=id_prefix, follow_links=follow_links)
        if metadata:
            documents = [replace(d, metadata={**d.metadata, **metadata}) for d in documents]
        with self._thread_lock:
            sources = self.store.sources([d.id for d in documents])
        for doc in documents:
            before = sources.get(doc.id)
            source = doc.metadata.get("source")
            if before and source and Path(before).resolve() != Path(source).resolve():
                warnings.warn(
                    f"{source} replaces {before!r}, stored under the same "
                    f"id {doc.id!r}; to keep both, index one with an id prefix (--id-prefix)",
                    stacklevel=2,
                )
        ids = self.add_documents(documents, show_progress=show_progress) if documents else []
        return ids, list(problems)

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
        self._add(documents, counts, lambda positions, _: [encoded[i] for i in positions],
                  lambda position, progress, _: iter([encoded[position]]),
                  model_fingerprint, show_progress=False,
                  read_alone=all(e.alone is not None for e in encoded))

    def _add(
        self,
        documents: Sequence[Document],
        counts: Sequence[int],
        encode: Callable[[list[int], bool], list[EncodedDocument]],
        pieces: Callable[[int, Callable[[int], Any], bool], Iterator[EncodedDocument]],
        model_fingerprint: ModelFingerprint,
        show_progress: bool,
        read_alone: bool = False,
    ) -> None:
        """Encode, compress and stage ``documents`` batch by batch, then commit them at once.

        ``counts`` estimates each document's embedding rows; ``encode`` encodes the
        documents at some positions; ``pieces`` encodes the one at a position in
        consecutive pieces, for a document longer than ``batch_tokens`` (its memory
        is one piece at a time). See :class:`~longcolbert.plaid_writer.GenerationWriter`.
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
                        encoded = encode(batch, alone)
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


class Reranker:
    """Orders candidate texts by MaxSim of their best window of sentences, no index needed.

    ``hybrid`` (on by default) weights query tokens by term rarity, counted
    over the sentences of the texts being reranked, and marks the query's
    keywords in highlights, as :class:`Index` does; ``reread`` too. Encoded texts
    (candidates and the passages re-read) are kept in ``cache`` (an
    :class:`~longcolbert.encoding_cache.EncodingCache`: by default 256 MiB in
    memory; give one with a ``folder`` to keep them on disk, or share one between
    rerankers; ``EncodingCache(0)`` keeps nothing), so a text seen before is not
    encoded again: ``reranker.cache.stats()`` counts hits and misses.

    With an ``index`` built with the same model (the one the candidates came from),
    a candidate that is a document of that index, or a span of one, is scored from
    the index's stored vectors and not encoded at all (say where each text sits:
    ``rerank(..., sources=[(doc_id, start), ...])``); its tokens keep the context
    of the whole document, as in a search. ``reranker.stored`` counts the texts
    scored so.

    >>> reranker = Reranker()                                   # doctest: +SKIP
    >>> hits = reranker.rerank("notice period", ["...", "..."])  # doctest: +SKIP
    >>> reranker = Reranker(index=Index("./idx"))               # doctest: +SKIP
    >>> reranker.rerank("notice period", [doc.text], sources=[(doc.id, 0)])  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | Any = DEFAULT_MODEL,
        *,
        document_length: int | None = None,
        device: str | None = None,
        dtype: str = "auto",
        passage_tokens: int = PASSAGE_TOKENS,
        document_score: DocumentScore = "passage",
        hybrid: bool = True,
        reread: bool = True,
        token_budget: int = TOKEN_BUDGET,
        trust_remote_code: bool = False,
        cache: EncodingCache | None = None,
        index: Any = None,
    ):
        check_choice("document_score", document_score, DOCUMENT_SCORES)
        self._model = ModelHolder(model, document_length, device, token_budget, dtype,
                                   trust_remote_code=trust_remote_code)
        self.cache = cache if cache is not None else EncodingCache()
        self.index = index_of(index)  # an index, or a vector store / retriever over one
        self.stored = 0  # texts scored from the index's stored vectors, not encoded
        self._index_checked = False
        self._terms: OrderedDict[bytes, list[frozenset[str]]] = OrderedDict()  # by text digest
        self._terms_lock = threading.Lock()
        self.passage_tokens = passage_tokens
        self.document_score = document_score
        self.hybrid = hybrid
        self.reread = reread

    @property
    def encoder(self) -> Encoder:
        return self._model.encoder

    def rerank(
        self,
        query: str,
        texts: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        metadatas: Sequence[Mapping[str, Any]] | None = None,
        top_n: int | None = None,
        passages: int = 1,
        show_progress: bool | None = None,
        sources: Sequence[StoredSpan | None] | None = None,
    ) -> Hits:
        """Score every text against ``query``; best first, at most ``top_n``.

        Ids default to the texts' positions (``"0"``, ``"1"``...). ``show_progress``:
        an encoding progress bar (by default when the texts hold 50,000 tokens or more).
        ``sources``: for each text, ``(doc_id, start)`` where it sits in the reranker's
        ``index`` (or None); a text found there, character for character, is scored
        from the stored vectors.
        """
        if isinstance(texts, str):
            raise InvalidInputError("rerank() takes a list of texts; wrap the text in a list")
        if top_n is not None:
            check_count("top_n", top_n, least=0)
        check_count("passages", passages, least=0)
        if any(given is not None and len(given) != len(texts)
               for given in (ids, metadatas, sources)):
            raise InvalidInputError(
                f"rerank() got {len(texts)} texts but {len(ids or [])} ids, "
                f"{len(metadatas or [])} metadatas and {len(sources or [])} sources; give one "
                "of each per text (or none)"
            )
        for position, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise InvalidInputError(
                    f"the text at position {position} is empty or not a string; drop empty "
                    "candidates before reranking"
                )
        if not texts or top_n == 0:
            return Hits()
        ids = [str(i) for i in (ids if ids is not None else range(len(texts)))]
        metas = [checked_metadata(ids[i], metadatas[i] if metadatas else {})
                 for i in range(len(texts))]
        encoded_query = self.encoder.encode_query(query)
        encoded = self._encoded(list(texts), sources, show_progress)
        documents = [
            StoredDocument(doc_id, text, meta, [], e.offsets, sentence_unit_array(text))
            for doc_id, text, meta, e in zip(ids, texts, metas, encoded)
        ]
        lexical = None
        if self.hybrid:  # term rarity over the sentences of the texts themselves
            counted = CountedTerms([self._unit_terms(document) for document in documents])
            lexical = lexical_evidence(counted, encoded_query)
        similarities = [(encoded_query.embeddings @ e.embeddings.T).numpy() for e in encoded]
        return rank_documents(documents, similarities, encoded_query, passages,
                              self.passage_tokens, self.document_score, top_n, lexical,
                              positions=True, reader=self.encoder if self.reread else None,
                              cache=self.cache)

    def _encoded(self, texts: list[str], sources: Sequence[StoredSpan | None] | None,
                 show_progress: bool | None) -> list[EncodedDocument]:
        """Each text's token vectors: the index's stored ones where the text is a span
        of a document it holds, else encoded (through the cache)."""
        found: dict[int, EncodedDocument] = {}
        if self.index is not None and sources is not None:
            self._check_index_model()
            wanted = sorted({source[0] for source in sources if source is not None})
            stored = self.index.stored_rows(wanted) if wanted else {}
            for position, (text, source) in enumerate(zip(texts, sources)):
                if source is not None and source[0] in stored:
                    span = span_rows(*stored[source[0]], source[1], text)
                    if span is not None:
                        found[position] = span
        missing = [i for i in range(len(texts)) if i not in found]
        self.stored += len(found)
        if missing:
            fresh = self.cache.encode(self.encoder, [texts[i] for i in missing],
                                      show_progress=show_progress)
            found.update(zip(missing, fresh))
        return [found[i] for i in range(len(texts))]

    def _unit_terms(self, document: StoredDocument) -> list[frozenset[str]]:
        """The FTS5 terms of each sentence unit of a text (what hybrid rarity counts),
        kept for the last ``UNIT_TERMS_KEPT`` texts: a text seen again costs nothing."""
        key = hashlib.sha256(document.text.encode("utf-8", "surrogatepass")).digest()
        with self._terms_lock:
            found = self._terms.get(key)
            if found is not None:
                self._terms.move_to_end(key)
                return found
        units = document.units if document.units is not None else sentence_unit_array(
            document.text)
        found = [frozenset(terms) for terms in
                 shared_words().terms_of_many(unit_texts(document.text, units))]
        with self._terms_lock:
            self._terms[key] = found
            while len(self._terms) > UNIT_TERMS_KEPT:
                self._terms.popitem(last=False)
        return found

    def _check_index_model(self) -> None:
        """The index's vectors are comparable to this reranker's query only if the same
        model made them: else a one-line error with the remedy."""
        if self._index_checked or self.index is None:
            return
        built = self.index.stored_model()
        if built is not None:
            try:
                built.check_compatible(fingerprint(self.encoder.model))
            except IncompatibleModelError as exc:
                raise IncompatibleModelError(
                    f"the reranker's model is not the one its index was built with ({exc}); "
                    f"give the reranker model={built.name!r}, or no index") from None
        self._index_checked = True


def span_rows(document: StoredDocument, rows: torch.Tensor, start: int, text: str
              ) -> EncodedDocument | None:
    """The stored rows of ``text`` if it is ``document.text[start:start + len(text)]``:
    all of them for the whole document, else the rows whose spans lie inside it
    (offsets made relative to ``text``); None if the text is not there.

    >>> doc = StoredDocument("d", "Rivers flow.", {}, [], np.array([[0, 0], [0, 6], [7, 11],
    ...                      [12, 12]]), np.zeros((0, 2), dtype=np.int64))
    >>> span_rows(doc, np.arange(4)[:, None], 7, "flow").offsets.tolist()
    [[0, 4]]
    >>> span_rows(doc, np.arange(4)[:, None], 0, "Rivers flows") is None
    True
    """
    from .encoder import EncodedDocument

    end = start + len(text)
    offsets = document.offsets
    if offsets is None or start < 0 or document.text[start:end] != text:
        return None
    if start == 0 and end == len(document.text):
        return EncodedDocument(rows, offsets)
    inside = (offsets[:, 0] >= start) & (offsets[:, 1] <= end) & (offsets[:, 1] > offsets[:, 0])
    if not inside.any():
        return None
    return EncodedDocument(rows[inside], offsets[inside] - start)
