"""The same whole-document search with a Qdrant collection holding everything.

Documents are encoded whole by longcolbert's encoder, exactly as for the embedded
index; what goes into Qdrant is their contextualized token vectors, cut into
*segments*: runs of at most ``segment_tokens`` rows (2,048) that start at sentence
boundaries and together tile the text. One segment is two points. Its *segment*
point (``kind: "segment"``) is what a search scores, so its payload stays small:

* ``tokens``: its rows as a multivector of bytes (uint8, MaxSim, no HNSW graph;
  65 bytes per 64-dim token, against about 34 in the embedded index), coded so
  that Qdrant's MaxSim keeps its order (:mod:`longcolbert.qdrant.token_bytes`);
* ``codes``: the shared centroids nearest its rows, as a sparse vector: the first
  stage of a search (:mod:`longcolbert.qdrant.centroid_codes`; the centroids themselves are
  points of the collection, :mod:`longcolbert.qdrant.codebook`);
* ``sketch``: for each of those centroids, the mean of the rows nearest it, as bytes
  like ``tokens`` (about one row in five): the middle stage, MaxSim on a fifth of
  the rows (format 6);
* payload: ``doc_id``, ``segment``, the document's ``metadata`` (filters run on it)
  and, on segment 0, the number of segments.

Its *body* point (``kind: "body"``, no vectors) holds what is read back for the
few best documents: the segment's text and char offsets, each row's char span and
the same token bytes, both as base64 text (``offsets``, ``rows``: read back whole,
where a multivector comes back as Python floats, 20x slower), the ``metadata``
again (for filters on what is read) and, on segment 0, the number of segments, the
page map and the document's sentence units (``units``). Qdrant Edge reads a
point's whole payload to return any field of it, so a search that scored points
holding their text would read every prefetched segment's text (format 4: about 60
ms of each search on ``benchmarks/qdrant_path.py``'s corpus).

Each sentence unit is a point too, for hybrid search (:mod:`longcolbert.ranking.lexical`):
its FTS5 terms as an indexed payload list (``terms``), whose counts give each query
word's rarity exactly as the embedded index's FTS5 table does, and a sparse BM25
vector (``words``, idf applied by Qdrant) that finds keyword candidates.

A search prefetches the segments whose codes best match the query's (Qdrant's
inverted index on sparse vectors; a collection of fewer than 65,536 token rows has
no codebook yet and prefetches nothing: all its segments are scored by MaxSim on
their tokens), ranks them by MaxSim on their sketches inside Qdrant and groups them
by document; the documents of the best BM25 units join them. Those documents come
back with their token bytes, the best by exact MaxSim are kept as candidates (as
many as the embedded index keeps), and passages, highlights and the document score
are computed by the same code as the embedded index
(:func:`longcolbert.ranking.rank.rank_documents`), query tokens weighted by the
rarity of their words
(:func:`longcolbert.ranking.rank.lexical_evidence`). Nothing lives outside Qdrant, so any
number of stateless clients can search one collection.

A document's points are written invisible (``visible: 0``). Once all of them
are in, one point records the replace (``kind: "replace"``, the document's id and
the new write): that single write is the moment the new version replaces the old
one, for every reader, since readers take the recorded write as the document's
visible points (:meth:`QdrantIndex._visible`). Then the older points are deleted,
the new ones marked visible, and the record removed. A writer killed at any step
leaves the old version or the new one, whole: an uncommitted write leaves only
invisible points (removed by the next write of that id), and a committed one is
finished by the next write to the collection.

>>> index = QdrantIndex(":memory:", "docs", model="./my-colbert")  # doctest: +SKIP
>>> index.add(["Rivers reach the sea."], ids=["rivers"])            # doctest: +SKIP
>>> index.search("where do rivers go", k=1)[0].passages[0].text     # doctest: +SKIP
'Rivers reach the sea.'

A local folder holds a Qdrant Edge shard instead (:mod:`longcolbert.qdrant.edge_client`,
behind the same client calls); qdrant-client's local mode, which pickles its
points, is never used for one. Requires ``pip install "longcolbert[qdrant]"``.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backend import IndexBackend
from ..defaults import (
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
from ..errors import DamagedIndexError, IncompatibleModelError, InvalidInputError, LongColBERTError
from ..progress import toward, tqdm
from ..ranking.lexical import KEYWORD_UNITS_READ, bm25_vector, shared_words, term_id, unit_texts
from ..ranking.passages import maxsim, sentence_unit_array
from ..ranking.rank import LexicalEvidence, lexical_evidence, rank_documents
from ..results import Hits, StoredDocument
from .codebook import Codebook, first_stage_vectors, sparse_code
from .filters import kind_is, payload_field, point_field, qdrant_filter, scroll_points

if TYPE_CHECKING:  # torch is imported by what computes: info and delete need none
    import torch

    from ..encoding.encoder import EncodedDocument, EncodedQuery

# Rows per point. A document is ranked first by its best point's MaxSim, so a point
# should hold much of a document: with every point scored by MaxSim, the query-path
# corpus's exact top 10 (2,000-row documents) was found 74% of the time with 256-row
# points and always with 2,048. 2,048 64-dim rows are 131k floats, well inside
# Qdrant's limit of about a million per point.
SEGMENT_TOKENS = 2048
_POINT_FLOATS = 1_000_000  # Qdrant's per-point multivector limit, about: wider models get fewer rows
# The first stage (benchmarks/qdrant_path.py): segments found by their centroid codes,
# then (format 6) ranked by MaxSim on their sketches, SKETCH_READS documents read back
# per candidate asked. 200 and 1.5: 0.958-0.978 of the exact top 10 in five builds
# (2 centroids per query token and 200: 0.946-0.96); before format 6,
# PREFETCH_UNSKETCHED go straight to the full MaxSim.
PREFETCH = 200
SKETCH_READS = 1.5
PREFETCH_UNSKETCHED = 150
ADD_BATCH = 64  # documents encoded, then written, at a time
FORMAT = 6  # what a collection records: 3 = uint8 token rows, unit words, centroid codes;
# 4 = those rows also as base64 in each segment's payload (``rows``), read back 20x faster;
# 5 = what is read back (text, offsets, rows, units) in a body point beside each segment;
# 6 = each segment's sketch (``sketch``), a middle stage between codes and tokens
READS_FORMATS = (3, 4, 5, 6)
_NAMESPACE = uuid.UUID("5d1c7a52-3f0e-4c56-9a55-6c6f6e67636f")


class QdrantIndex(IndexBackend):
    """Whole-document ColBERT search over a Qdrant collection, with passages and highlights.

    ``location`` is a server URL (``http://host:6333``), ``":memory:"`` (qdrant-client's
    in-process engine, nothing kept), a ready ``QdrantClient``, or an
    :class:`~longcolbert.qdrant.edge_client.EdgeClient` (a folder); ``api_key`` defaults to
    ``QDRANT_API_KEY``. A folder path is refused: qdrant-client's local mode stores
    points with pickle, so opening one could run code from it. The
    collection is created on the first add and records the model's fingerprint: a
    different model is refused. Without ``model``, the collection's own model is
    used, by hub id only (a local folder it names is refused, as for an index folder).
    ``hybrid``, ``reread``, ``candidates`` and ``cache`` are :class:`~longcolbert.Index`'s. ``shards`` and
    ``replicas`` spread a
    collection this index creates over a cluster (Qdrant's ``shard_number`` and
    ``replication_factor``; the server's defaults when left out).
    """

    backend = "qdrant"
    lexical = True  # its unit points count terms (lexical.TermStatistics)

    def __init__(
        self,
        location: str | Any,
        collection: str,
        model: str | Any | None = None,
        *,
        document_length: int | None = None,
        device: str | None = None,
        dtype: str = "auto",
        passage_tokens: int = PASSAGE_TOKENS,
        document_score: DocumentScore = "passage",
        segment_tokens: int = SEGMENT_TOKENS,
        shards: int | None = None,
        replicas: int | None = None,
        hybrid: bool = True,
        reread: bool = True,
        candidates: int = CANDIDATES,
        read_alone: bool = False,
        token_budget: int = TOKEN_BUDGET,
        api_key: str | None = None,
        trust_remote_code: bool = False,
        cache: EncodingCache | None = None,
    ):
        check_choice("document_score", document_score, DOCUMENT_SCORES)
        if read_alone:
            raise InvalidInputError("read_alone (--read-alone) is the embedded index's; a Qdrant "
                                    "index re-reads passages by encoding them")
        for name, value in (("shards", shards), ("replicas", replicas)):
            if value is not None:
                check_count(name, value, least=1)
        self.client = _client(location, api_key)
        self.collection = collection
        self.location = location if isinstance(location, str) else None
        self._format = FORMAT  # a collection's own, once found
        self._row_dim: Any = None  # its model's dimensions, once found
        stored = self._stored_model()
        from_collection = model is None and stored is not None
        if model is None:
            model = stored["name"] if stored else DEFAULT_MODEL
        self._model = ModelHolder(model, document_length, device, token_budget, dtype,
                                  trust_remote_code=trust_remote_code,
                                  from_index=from_collection)
        self.passage_tokens = passage_tokens
        self.document_score = document_score
        self.segment_tokens = segment_tokens
        self.hybrid = hybrid
        self.cache = cache if cache is not None else EncodingCache()  # passages re-read
        self.reread = reread
        self.candidates = candidates
        self.layout = {"shard_number": shards, "replication_factor": replicas}
        self.codebook = Codebook(self.client, collection)
        self._ready = False  # the collection exists and fits this model
        self._exists_known = stored is not None  # checked once found: collections stay

    # -- the collection ----------------------------------------------------------------

    def _collection(self) -> None:
        """Create the collection for this model, or check it was made by this model."""
        if self._ready:
            return
        model = self._model.encoder.model
        print_ = fingerprint(model).to_dict()
        stored = self._stored_model()
        if stored is None:
            create_collection(self.client, self.collection, print_, **self.layout)
            self._format, self._row_dim = FORMAT, print_["dim"]
        elif {k: stored.get(k) for k in ("dim", "name")} != {k: print_[k] for k in ("dim", "name")}:
            raise IncompatibleModelError(
                f"Qdrant collection {self.collection!r} was made with model "
                f"{stored.get('name')!r} ({stored.get('dim')} dimensions); open it with that "
                "model, or use another collection for this one")
        self._ready = True

    def _writable(self) -> None:
        """Check the collection can take this longcolbert's points (made for this model,
        of this format): an older one is read, searched and deleted from, never added to."""
        self._collection()
        if self._format != FORMAT:
            raise IncompatibleModelError(
                f"Qdrant collection {self.collection!r} is of format {self._format}; this "
                f"longcolbert adds documents in format {FORMAT} only: index them again into a "
                "new collection (searching and deleting in this one still work)")

    def _exists(self) -> bool:
        """Whether the collection is there (reads, deletes and info load no model)."""
        if not (self._ready or self._exists_known):
            self._exists_known = self._stored_model() is not None
        return self._ready or self._exists_known

    def _stored_model(self) -> dict[str, Any] | None:
        """The fingerprint the collection records, or None for a collection not made yet."""
        try:
            if not self.client.collection_exists(self.collection):
                return None
            info = self.client.get_collection(self.collection)
        except Exception as exc:  # connection refused, timeouts, TLS: many types
            where = self.location or "the Qdrant client given"
            raise LongColBERTError(
                f"cannot reach Qdrant at {where} ({type(exc).__name__}); start the server or "
                "check the URL (and QDRANT_API_KEY)") from exc
        metadata = info.config.metadata or {}
        stored = metadata.get("longcolbert_model")
        if not isinstance(stored, dict):
            raise IncompatibleModelError(
                f"Qdrant collection {self.collection!r} was not made by longcolbert; "
                "use another collection name")
        if metadata.get("longcolbert_format") not in READS_FORMATS:
            raise IncompatibleModelError(
                f"Qdrant collection {self.collection!r} is of format "
                f"{metadata.get('longcolbert_format', 'before 3')}, made by another longcolbert "
                f"(this one reads formats {READS_FORMATS[0]} to {READS_FORMATS[-1]}); index the "
                "documents again into a new collection with this longcolbert")
        self._format = metadata["longcolbert_format"]
        self._row_dim = stored.get("dim")
        return stored

    def info(self) -> dict[str, Any]:
        """``{"backend", "model", "dim", "documents", "tokens", "bytes"}``; ``bytes`` is
        the folder's for a Qdrant index folder, ``None`` on a server or in memory."""
        stored = self._stored_model()
        tokens = 0 if stored is None else sum(
            len(_payload_offsets(p.payload))
            for p in self._scroll(self._visible(kind_is(self._body_kind())),
                                  with_payload=["offsets"]))
        return {
            "backend": self.backend,
            "model": stored["name"] if stored else self._model.name,
            "dim": stored["dim"] if stored else None,
            "documents": len(self) if stored else 0,
            "tokens": tokens,
            "bytes": self.client.size_bytes() if hasattr(self.client, "size_bytes") else None,
        }

    def close(self) -> None:
        self.client.close()

    # -- writing -----------------------------------------------------------------------

    def add_documents(self, documents: Sequence[Document], *,
                      show_progress: bool | None = None) -> list[str]:
        """Add (or replace, by id) documents; returns their ids. Each becomes visible to
        searches only once all its points are written."""
        documents = checked_documents(documents)  # nothing is written unless all pass
        self._writable()
        encoder = self._model.encoder
        counts = encoder.count_rows([d.text for d in documents])  # the rows to be indexed
        if show_progress is None:
            show_progress = sum(counts) >= PROGRESS_FROM_TOKENS
        with tqdm(total=int(sum(counts)), unit="tok", unit_scale=True, desc="Indexing",
                  disable=not show_progress) as bar:
            done = 0
            for start in range(0, len(documents), ADD_BATCH):
                batch = documents[start:start + ADD_BATCH]
                rows = int(sum(counts[start:start + ADD_BATCH]))
                encoded = encoder.encode_documents([d.text for d in batch], show_progress=False,
                                                   progress=toward(bar, done, rows))
                self.write_encoded(batch, encoded)
                done += rows
                bar.update(done - bar.n)
        return [d.id for d in documents]

    def write_encoded(self, documents: Sequence[Document],
                      encoded: Sequence[EncodedDocument]) -> None:
        """Write documents already encoded (their token vectors and offsets), training
        the collection's codebook first where it now needs one
        (:meth:`~longcolbert.qdrant.codebook.Codebook.count_rows`)."""
        self._writable()
        self._finish_pending()
        centroids = self.codebook.count_rows(sum(e.embeddings.shape[0] for e in encoded),
                                             [e.embeddings for e in encoded])
        for document, embedded in zip(documents, encoded):
            self._write(document, embedded.embeddings, embedded.offsets, centroids)
        self._settle()

    def _settle(self) -> None:
        """After writes: an Edge folder runs Qdrant's optimizer (a server runs its own),
        else every replaced payload keeps its space."""
        optimize = getattr(self.client, "optimize", None)  # EdgeClient's, not QdrantClient's
        if optimize is not None:
            optimize()

    def _free_ids(self, n: int) -> list[str]:
        return [str(uuid.uuid4()) for _ in range(n)]

    def _write(self, document: Document, rows: torch.Tensor, offsets: np.ndarray,
               centroids: torch.Tensor | None) -> None:
        from qdrant_client import models

        from .payload_text import bytes_as_text, int32_as_text
        from .token_bytes import row_bytes

        write = uuid.uuid4().hex
        most = max(1, min(self.segment_tokens, _POINT_FLOATS // max(1, rows.shape[1])))
        units = sentence_unit_array(document.text)
        ranges = segment_rows(offsets, units, most)
        starts = [0] + [int(offsets[r0][0]) for r0, _ in ranges[1:]] + [len(document.text)]
        points = []
        for number, (r0, r1) in enumerate(ranges):
            vectors = rows[r0:r1]
            stored = row_bytes(vectors)
            payload: dict[str, Any] = {
                "doc_id": document.id, "kind": "segment", "segment": number, "visible": 0,
                "write": write, "metadata": document.metadata,
                **({"segments": len(ranges)} if number == 0 else {})}
            body = {
                **payload, "kind": "body",
                "start": starts[number], "end": starts[number + 1],
                "text": document.text[starts[number]:starts[number + 1]],
                "offsets": int32_as_text(offsets[r0:r1]),
                "rows": bytes_as_text(stored),
            }
            if number == 0:
                body["page_map"] = [list(p) for p in document.page_map]
                body["units"] = int32_as_text(units)
            points.append(models.PointStruct(
                id=str(uuid.uuid5(_NAMESPACE, f"{document.id}\x00{write}\x00{number}")),
                vector={"tokens": stored.tolist(),
                        **({} if centroids is None else first_stage_vectors(vectors, centroids))},
                payload=payload))
            points.append(models.PointStruct(
                id=str(uuid.uuid5(_NAMESPACE, f"{document.id}\x00{write}\x00body {number}")),
                vector={}, payload=body))
        points += unit_points(document, units, write)
        self.client.upsert(self.collection, points=points, wait=True)
        self.client.upsert(self.collection, wait=True, points=[models.PointStruct(  # the commit
            id=_replace_point(document.id), vector={},
            payload={"doc_id": document.id, "kind": "replace", "write": write})])
        self._finish_replace(document.id, write)

    def _finish_replace(self, doc_id: str, write: str) -> None:
        """The steps after a replace's commit: the older points of ``doc_id`` deleted,
        those of ``write`` marked visible, the record of the replace removed. Each step
        may be repeated (a writer killed midway is finished by the next one)."""
        from qdrant_client import models

        this_write = models.FieldCondition(key="write", match=models.MatchValue(value=write))
        self.client.delete(self.collection, wait=True, points_selector=models.FilterSelector(
            filter=models.Filter(must=[_doc(doc_id)], must_not=[this_write, kind_is("replace")])))
        self.client.set_payload(self.collection, payload={"visible": 1}, wait=True,
                                points=models.Filter(must=[_doc(doc_id), this_write]))
        self.client.delete(self.collection, wait=True, points_selector=models.FilterSelector(
            filter=models.Filter(must=[_doc(doc_id), kind_is("replace")])))

    def _pending_replaces(self) -> list[tuple[str, str]]:
        """``(doc_id, write)`` of each committed replace not yet finished (a writer at
        work, or one killed after its commit)."""
        from qdrant_client import models

        records = self._scroll(models.Filter(must=[kind_is("replace")]),
                               with_payload=["doc_id", "write"])
        return [(str(point_field(p, "doc_id")), str(point_field(p, "write"))) for p in records]

    def _finish_pending(self) -> None:
        """Finish the replaces that killed writers committed (before a write)."""
        for doc_id, write in self._pending_replaces():
            self._finish_replace(doc_id, write)

    def _visible(self, *conditions: Any) -> Any:
        """A Qdrant filter of the points that readers see (each document's committed
        version) that also meet ``conditions``: the points marked visible, except that
        a document with a pending replace shows the points of its new write."""
        from qdrant_client import models

        marked = models.FieldCondition(key="visible", match=models.MatchValue(value=1))
        pending = self._pending_replaces() if self._exists() else []
        if not pending:
            return models.Filter(must=[marked, *conditions])
        replaced = models.FieldCondition(key="doc_id", match=models.MatchAny(
            any=[doc_id for doc_id, _ in pending]))
        versions: list[Any] = [models.Filter(must=[marked], must_not=[replaced])]
        versions += [models.Filter(must=[_doc(doc_id), models.FieldCondition(
            key="write", match=models.MatchValue(value=write))]) for doc_id, write in pending]
        return models.Filter(must=[models.Filter(should=versions), *conditions])

    def delete(self, ids: Sequence[str]) -> None:
        """Delete whole documents by id; an id that is not there is an error with the remedy."""
        from qdrant_client import models

        ids = [ids] if isinstance(ids, str) else [str(i) for i in ids]
        if self._exists():
            self._finish_pending()
        missing = sorted(set(ids) - set(self._visible_ids(ids)))
        if missing:
            raise InvalidInputError(f"no document with id {missing[0]!r} in Qdrant collection "
                                    f"{self.collection!r}; check the id (nothing was deleted)")
        self.client.delete(self.collection, wait=True, points_selector=models.FilterSelector(
            filter=models.Filter(must=[models.FieldCondition(
                key="doc_id", match=models.MatchAny(any=ids))])))
        self._settle()

    # -- reading -----------------------------------------------------------------------

    def __len__(self) -> int:
        if not self._exists():
            return 0
        return int(self.client.count(self.collection, exact=True,
                                     count_filter=self._visible(_first_segment())).count)

    def ids(self) -> list[str]:
        return self._visible_ids(None)

    def _visible_ids(self, among: Sequence[str] | None) -> list[str]:
        from qdrant_client import models

        if not self._exists():
            return []
        conditions = [_first_segment()]
        if among is not None:
            conditions.append(models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(among))))
        return [point_field(p, "doc_id")
                for p in self._scroll(self._visible(*conditions), with_payload=["doc_id"])]

    def _scroll(self, condition: Any, **selection: Any) -> Iterator[Any]:
        """Every point that ``condition`` selects, a thousand per request; ``selection``:
        ``with_payload`` / ``with_vectors`` as ``QdrantClient.scroll`` takes them."""
        return scroll_points(self.client, self.collection, condition, 1000, **selection)

    def get_many(self, ids: Sequence[str]) -> list[StoredDocument]:
        """The stored documents among ``ids``, in that order; missing ids are left out."""
        if not self._exists():
            return []
        return [doc for doc, _ in self._documents([str(i) for i in ids], with_rows=False)]

    def stored_rows(self, ids: Sequence[str]) -> dict[str, tuple[StoredDocument, torch.Tensor]]:
        """The stored documents among ``ids`` with their token vectors (from one byte per
        coordinate: :mod:`longcolbert.qdrant.token_bytes`)."""
        from .token_bytes import decode_rows

        if not self._exists():
            return {}
        return {doc.id: (doc, decode_rows(stored))
                for doc, stored in self._documents([str(i) for i in ids], with_rows=True)}

    def lexical_evidence_for(self, query: EncodedQuery) -> LexicalEvidence | None:
        """:meth:`IndexBackend.lexical_evidence_for`, from the collection's units."""
        return lexical_evidence(self, query) if self._exists() else None

    def count_matching(self, filter: Mapping[str, Any]) -> int:
        scope = qdrant_filter(filter)  # a bad filter is a one-line error
        if not self._exists():
            return 0
        return int(self.client.count(self.collection, exact=True,
                                     count_filter=self._visible(_first_segment(), scope)).count)

    def ids_matching(self, filter: Mapping[str, Any]) -> list[str]:
        scope = qdrant_filter(filter)
        if not self._exists():
            return []
        return sorted(str(point_field(p, "doc_id")) for p in self._scroll(
            self._visible(_first_segment(), scope), with_payload=["doc_id"]))

    def stored_model(self) -> ModelFingerprint | None:
        stored = self._stored_model()
        try:
            return None if stored is None else ModelFingerprint.from_dict(stored)
        except (TypeError, KeyError, ValueError):
            raise DamagedIndexError(f"Qdrant collection {self.collection!r} records an "
                                    "unreadable model") from None

    def get(self, doc_id: str) -> StoredDocument:
        """A stored document (text, metadata, page map, token offsets) by id."""
        found = self._documents([doc_id], with_rows=False) if self._exists() else []
        if not found:
            raise InvalidInputError(f"no document with id {doc_id!r} in Qdrant collection "
                                    f"{self.collection!r}")
        return found[0][0]

    def search(self, query: str, *, k: int = 10, passages: int = 3,
               filter: Mapping[str, Any] | None = None, hybrid: bool | None = None,
               reread: bool | None = None, candidates: int | None = None) -> Hits:
        """The ``k`` best documents for ``query``, each with its best ``passages``, as
        :meth:`longcolbert.Index.search` returns them (its settings too)."""
        from .token_bytes import byte_similarities

        check_count("k", k, least=1)
        check_count("passages", passages, least=0)
        settings = self.settings(hybrid=hybrid, reread=reread, candidates=candidates)
        scope = qdrant_filter(filter) if filter else None  # a bad filter fails first
        self._collection()
        encoded = self._model.encoder.encode_query(query)
        query_rows = encoded.embeddings.float()
        lexical = lexical_evidence(self, encoded) if settings.hybrid else None
        depth = max(k, settings.candidates)
        ids = self.candidate_ids(query_rows, depth, scope)
        keyword: list[str] = []
        if lexical is not None:
            keyword = [i for i in self.keyword_candidates(lexical.keywords, KEYWORD_CANDIDATES)
                       if i not in ids]
        found = self._documents(ids + keyword, with_rows=True, scope=scope)
        if not found:
            return Hits()
        similarities = byte_similarities(query_rows, [stored for _, stored in found])
        by_keyword = set(keyword)
        kept = best_by_maxsim(similarities, depth, also=[doc.id in by_keyword for doc, _ in found])
        documents = [found[i][0] for i in kept]
        similarities = [similarities[i] for i in kept]
        return rank_documents(documents, similarities, encoded, passages, self.passage_tokens,
                              self.document_score, k, lexical,
                              reader=self._model.encoder if settings.reread else None,
                              cache=self.cache)

    def unit_count(self) -> int:
        """Sentence units of the visible documents (the N of term rarity)."""
        return int(self.client.count(self.collection, exact=True,
                                     count_filter=self._visible(kind_is("unit"))).count)

    def term_document_counts(self, terms: Sequence[str]) -> dict[str, int]:
        """How many units of the visible documents hold each FTS5 term (absent terms
        left out): one count request per term, answered from Qdrant's keyword index."""
        from qdrant_client import models

        counts = {}
        units = self._visible(kind_is("unit"))  # once: it reads the pending replaces
        for term in terms:
            holding = models.FieldCondition(key="terms", match=models.MatchValue(value=term))
            found = int(self.client.count(self.collection, exact=True,
                                          count_filter=models.Filter(must=[units, holding])).count)
            if found:
                counts[term] = found
        return counts

    def keyword_candidates(self, keywords: Sequence[str], limit: int) -> list[str]:
        """Ids of the documents of the best BM25 units for ``keywords`` (any of them),
        best first, at most ``limit``: Qdrant's sparse search over the units' ``words``."""
        from qdrant_client import models

        terms = {t for words in shared_words().terms_of_many(list(keywords)) for t in words}
        if not terms or limit <= 0:
            return []
        indices = sorted({term_id(t) for t in terms})
        points = self.client.query_points(
            self.collection, query=models.SparseVector(indices=indices, values=[1.0] * len(indices)),
            using="words", query_filter=self._visible(kind_is("unit")), limit=KEYWORD_UNITS_READ * limit,
            with_payload=["doc_id"]).points
        return list(dict.fromkeys(str(point_field(p, "doc_id")) for p in points))[:limit]

    def candidate_ids(self, query_rows: torch.Tensor, depth: int, scope: Any = None
                      ) -> list[str]:
        """The ids of the documents to score exactly for the ``depth`` best, best
        first: segments prefetched by centroid codes, then grouped by document and
        ranked by MaxSim in Qdrant on their sketches (format 6: ``SKETCH_READS`` times
        ``depth`` of them) or on their tokens (before format 6: ``depth``); every
        segment by its tokens while the collection has no codebook.
        ``scope`` is a Qdrant filter (:func:`~longcolbert.qdrant.filters.qdrant_filter`)."""
        from qdrant_client import models

        from .centroid_codes import query_codes

        condition = self._visible(*([scope] if scope is not None else []))
        centroids = self.codebook.centroids()
        sketched = centroids is not None and self._format >= 6
        prefetch = None if centroids is None else models.Prefetch(
            query=sparse_code(query_codes(query_rows, centroids)), using="codes",
            limit=PREFETCH if sketched else PREFETCH_UNSKETCHED, filter=condition)
        reads, using = (math.ceil(SKETCH_READS * depth), "sketch") if sketched else (depth, "tokens")
        found = self._best_documents(query_rows, prefetch, condition, reads, using=using)
        if prefetch is not None and len(found) < depth and self._first_stage_ran_dry(prefetch):
            # fewer segments share a centroid with the query than the first stage takes
            # (a narrow filter, a small collection): the others the filter allows are
            # scored too
            rest = models.Filter(must=[condition], must_not=[models.FieldCondition(
                key="doc_id", match=models.MatchAny(any=found))] if found else None)
            found += self._best_documents(query_rows, None, rest, depth - len(found))
        return found

    def _first_stage_ran_dry(self, prefetch: Any) -> bool:
        """Whether fewer segments than ``prefetch.limit`` share a centroid with the
        query (else the few documents found hold many of the best segments each)."""
        return len(self.client.query_points(
            self.collection, query=prefetch.query, using=prefetch.using,
            query_filter=prefetch.filter, limit=prefetch.limit).points) < prefetch.limit

    def _best_documents(self, query_rows: torch.Tensor, prefetch: Any, condition: Any,
                        depth: int, using: str = "tokens") -> list[str]:
        """Ids of the ``depth`` documents whose best segment (among ``prefetch``'s, or
        all that ``condition`` selects) has the highest MaxSim in Qdrant on its
        ``using`` multivector (``tokens`` or ``sketch``)."""
        from .token_bytes import encode_queries

        groups = self.client.query_points_groups(
            self.collection, query=encode_queries(query_rows), using=using, group_by="doc_id",
            prefetch=prefetch, query_filter=condition, limit=depth, group_size=1,
            with_payload=False,
        ).groups
        return [str(g.id) for g in groups]

    def _body_kind(self) -> str:
        """The kind of the points holding what is read back: their own (``"body"``)
        from format 5 on, the segments themselves before."""
        return "body" if self._format >= 5 else "segment"

    def _documents(self, doc_ids: Sequence[str], *, with_rows: bool, scope: Any = None
                   ) -> list[tuple[StoredDocument, np.ndarray]]:
        """The visible documents among ``doc_ids`` (in that order) that ``scope`` (a
        Qdrant filter) allows, rebuilt from their segments: text, offsets, metadata,
        page map, sentence units and, ``with_rows``, the stored token bytes
        (``[rows, dim + 1]`` uint8: :mod:`longcolbert.qdrant.token_bytes`; else empty)."""
        from qdrant_client import models

        if not doc_ids:
            return []
        by_doc: dict[str, list[tuple[dict[str, Any], np.ndarray, Any]]] = {}
        chosen = self._visible(kind_is(self._body_kind()), models.FieldCondition(
            key="doc_id", match=models.MatchAny(any=list(doc_ids))),
            *([scope] if scope is not None else []))
        if with_rows and self._row_dim is None:  # a collection made by other means: ask it
            self._stored_model()
        from_vectors = with_rows and self._format < 4  # older collections: rows as vectors
        fields = [*_DOCUMENT_FIELDS, *(["rows"] if with_rows and not from_vectors else [])]
        for point in self._scroll(chosen, with_payload=fields,
                                  with_vectors=["tokens"] if from_vectors else False):
            # read once: an Edge point builds its payload and vectors anew at each access
            payload = point.payload
            offsets = _payload_offsets(payload)
            rows = (np.asarray(point_field(point, "tokens", vector=True), dtype=np.uint8)
                    if from_vectors else
                    _payload_rows(payload, len(offsets), self._row_dim) if with_rows else None)
            by_doc.setdefault(payload_field(payload, "doc_id"), []).append(
                (payload, offsets, rows))
        out = []
        for doc_id in doc_ids:
            parts = sorted(by_doc.get(doc_id, []), key=lambda p: payload_field(p[0], "segment"))
            if not parts or parts[0][0].get("segments") != len(parts):
                continue  # deleted meanwhile, or not whole
            first = parts[0][0]
            text = "".join(payload_field(p, "text") for p, _, _ in parts)
            offsets = np.concatenate([o for _, o, _ in parts])
            rows = (np.concatenate([r for _, _, r in parts]) if with_rows
                    else np.zeros((0, 0), dtype=np.uint8))
            page_map = [(int(a), int(b), int(c)) for a, b, c in first.get("page_map", [])]
            out.append((StoredDocument(doc_id, text, dict(first["metadata"]), page_map, offsets,
                                       _payload_units(first, text)), rows))
        return out


def best_by_maxsim(similarities: Sequence[np.ndarray], depth: int, also: Sequence[bool]
                   ) -> list[int]:
    """Which of the documents read back are candidates, in their order: the ``depth``
    best by exact MaxSim (``similarities``: ``[query tokens, rows]`` each), and those
    marked in ``also`` (keyword candidates) wherever they rank, as the embedded
    index keeps its PLAID candidates.

    >>> sims = [np.array([[0.1, 0.2]]), np.array([[0.9]]), np.array([[0.5]])]
    >>> best_by_maxsim(sims, 1, also=[True, False, False])
    [0, 1]
    """
    scores = np.array([maxsim(s) for s in similarities])
    best = set(np.argsort(-scores, kind="stable")[:depth].tolist())
    return [i for i in range(len(similarities)) if i in best or also[i]]


def create_collection(client: Any, name: str, fingerprint: Mapping[str, Any], *,
                      shard_number: int | None = None,
                      replication_factor: int | None = None) -> None:
    """A collection for one model's token vectors (``fingerprint`` as an index records
    it; its ``dim`` sizes the vectors): two uint8 MaxSim multivectors without an HNSW
    graph (the segments' tokens and sketches), their sparse centroid codes and the
    codebook's float32 centroids,
    the units' sparse BM25 vector (idf by Qdrant), and payload indexes for the fields
    searched;
    ``shard_number`` and ``replication_factor`` as Qdrant takes them (None: its default)."""
    from qdrant_client import models

    from .token_bytes import stored_dim

    dim = int(fingerprint["dim"])
    byte_rows = models.VectorParams(  # rows as token_bytes codes them; rescoring only: no graph
        size=stored_dim(dim), distance=models.Distance.DOT, datatype=models.Datatype.UINT8,
        multivector_config=models.MultiVectorConfig(
            comparator=models.MultiVectorComparator.MAX_SIM),
        hnsw_config=models.HnswConfigDiff(m=0))
    client.create_collection(
        name,
        vectors_config={
            "tokens": byte_rows,
            "sketch": byte_rows,  # a middle stage: centroid_codes.nearest_means
            "centroids": models.VectorParams(  # the codebook's parts: read, never searched
                size=dim, distance=models.Distance.DOT,
                multivector_config=models.MultiVectorConfig(
                    comparator=models.MultiVectorComparator.MAX_SIM),
                hnsw_config=models.HnswConfigDiff(m=0),
            ),
        },
        sparse_vectors_config={"words": models.SparseVectorParams(modifier=models.Modifier.IDF),
                               "codes": models.SparseVectorParams()},
        metadata={"longcolbert_model": dict(fingerprint), "longcolbert_format": FORMAT},
        shard_number=shard_number,
        replication_factor=replication_factor,
    )
    with warnings.catch_warnings():  # in-memory engine: "payload indexes have no effect"
        warnings.simplefilter("ignore", UserWarning)
        for field, schema in (("doc_id", models.PayloadSchemaType.KEYWORD),
                              ("kind", models.PayloadSchemaType.KEYWORD),
                              ("terms", models.PayloadSchemaType.KEYWORD),
                              ("version", models.PayloadSchemaType.KEYWORD),
                              ("visible", models.PayloadSchemaType.INTEGER),  # 0/1: Edge cannot match booleans
                              ("segment", models.PayloadSchemaType.INTEGER)):
            client.create_payload_index(name, field, field_schema=schema)


def unit_points(document: Document, units: np.ndarray, write: str) -> list[Any]:
    """One invisible point per sentence unit of ``document`` (``units``: its char
    spans), for hybrid search: its distinct FTS5 terms (payload ``terms``) and their
    sparse BM25 vector (``words``; none for a unit without words), from the texts the
    embedded index's FTS5 table reads (:func:`~longcolbert.ranking.lexical.unit_texts`)."""
    from qdrant_client import models

    points = []
    texts = unit_texts(document.text, units)
    for number, terms in enumerate(shared_words().terms_of_many(texts)):
        vector: dict[str, Any] = {}
        if terms:
            weights = bm25_vector(terms)
            vector["words"] = models.SparseVector(indices=list(weights),
                                                  values=list(weights.values()))
        points.append(models.PointStruct(
            id=str(uuid.uuid5(_NAMESPACE, f"{document.id}\x00{write}\x00unit {number}")),
            vector=vector,
            payload={"doc_id": document.id, "kind": "unit", "visible": 0, "write": write,
                     "terms": sorted(set(terms))}))
    return points


def segment_rows(offsets: np.ndarray, units: np.ndarray, most: int) -> list[tuple[int, int]]:
    """Row ranges of at most ``most`` rows, each after the first starting at a sentence
    unit's first token where one fits (else cut at ``most``); together all rows in order.

    >>> offsets = np.array([[0, 0], [0, 0], [0, 3], [4, 7], [9, 12], [13, 15], [15, 15]])
    >>> segment_rows(offsets, np.array([[0, 8], [9, 15]]), 3)
    [(0, 3), (3, 4), (4, 7)]
    """
    n = len(offsets)
    starts = set(units[:, 0].tolist()) if len(units) else set()
    content = offsets[:, 1] > offsets[:, 0]
    first = next((r for r in range(n) if content[r]), n)  # the first segment holds it
    boundary = [r for r in range(first + 1, n) if content[r] and int(offsets[r][0]) in starts]
    ranges, start = [], 0
    while start < n:
        limit = start + most
        if limit >= n:
            ranges.append((start, n))
            break
        fitting = [b for b in boundary if start < b <= limit]
        end = fitting[-1] if fitting else limit
        if not content[end]:  # never start a segment on a special row
            end = next((r for r in range(end, n) if content[r]), n)
        ranges.append((start, end))
        start = end
    return ranges


def _client(location: str | Any, api_key: str | None) -> Any:
    import os

    try:
        import pybase64  # noqa: F401  (payload_text's decoder)
        from qdrant_client import QdrantClient
    except ImportError as exc:
        raise LongColBERTError(f'the Qdrant backend needs {exc.name}; pip install '
                               '"longcolbert[qdrant]"') from exc
    if not isinstance(location, str):
        return location
    key = api_key or os.environ.get("QDRANT_API_KEY")
    if location == ":memory:":
        return QdrantClient(location=":memory:")
    if location.startswith(("http://", "https://")):
        # an unreachable server is reported by the first request, in one line: no
        # version-check warning before it
        return QdrantClient(url=location, api_key=key, check_compatibility=False)
    raise InvalidInputError(
        f"{location!r} is not a Qdrant server URL; a Qdrant index in a local folder is not "
        "offered (qdrant-client's local mode stores points with pickle, which could run code "
        "from the folder): give http(s)://HOST:PORT, ':memory:' or a QdrantClient")


def _doc(doc_id: str) -> Any:
    from qdrant_client import models

    return models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))


def _first_segment() -> Any:
    """The condition on a document's first segment point (one per document)."""
    from qdrant_client import models

    return models.Filter(must=[kind_is("segment"), models.FieldCondition(
        key="segment", match=models.MatchValue(value=0))])


_DOCUMENT_FIELDS = ["doc_id", "segment", "segments", "text", "offsets", "metadata", "page_map",
                    "units"]


def _payload_offsets(payload: Mapping[str, Any]) -> np.ndarray:
    """A segment's token char spans (``[rows, 2]`` int64) from its payload: base64 of
    int32 pairs from format 5 on, a flat list of numbers before."""
    from .payload_text import spans_from_text

    stored = payload_field(payload, "offsets")
    try:
        if isinstance(stored, str):
            return spans_from_text(stored)
        return np.asarray(stored, dtype=np.int64).reshape(-1, 2)
    except (ValueError, TypeError, UnicodeError) as exc:
        raise DamagedIndexError(f"a segment of the Qdrant collection holds unreadable token "
                                f"offsets ({exc})") from None


def _payload_units(payload: Mapping[str, Any], text: str) -> np.ndarray:
    """A document's sentence units as its first body stores them (format 5), else,
    or where they are unreadable, computed from its text."""
    from .payload_text import spans_from_text

    stored = payload.get("units")
    if isinstance(stored, str):
        try:
            units = spans_from_text(stored)
        except (ValueError, UnicodeError):
            units = None
        if units is not None and _units_fit(units, len(text)):
            return units
    return sentence_unit_array(text)


def _units_fit(units: np.ndarray, length: int) -> bool:
    """Whether ``units`` are char spans of a text of ``length`` chars, in order.

    >>> _units_fit(np.array([[0, 4], [5, 9]]), 9), _units_fit(np.array([[5, 9], [0, 4]]), 9)
    (True, False)
    """
    return bool(len(units) and units.min() >= 0 and units.max() <= length
                and (units[:, 0] <= units[:, 1]).all() and (units[1:, 0] >= units[:-1, 1]).all())


def _payload_rows(payload: Mapping[str, Any], rows: int, dim: Any) -> np.ndarray:
    """A segment's stored token bytes from its payload (``rows``: one per char span)."""
    from .payload_text import bytes_from_text
    from .token_bytes import stored_dim

    try:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"the collection records no valid dim ({dim!r})")
        return bytes_from_text(payload_field(payload, "rows"), rows, stored_dim(dim))
    except (ValueError, UnicodeError) as exc:
        raise DamagedIndexError(f"a segment of the Qdrant collection holds unreadable token "
                                f"rows ({exc})") from None


def _replace_point(doc_id: str) -> str:
    """The id of the point that records a pending replace of ``doc_id``."""
    return str(uuid.uuid5(_NAMESPACE, f"{doc_id}\x00replace"))
