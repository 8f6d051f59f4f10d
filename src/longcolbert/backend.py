"""What every index backend offers: the seam between the engine and where vectors live.

:class:`~longcolbert.Index` keeps them in its own folder (SQLite + PLAID);
:class:`~longcolbert.qdrant.index.QdrantIndex` in a Qdrant collection. Both encode
with the same encoder and pick passages with the same code; this base class holds
what they share above their storage: texts to documents, files to documents,
passages flattened, the context manager. A backend implements the rest.

>>> with Index("./idx") as index:                     # doctest: +SKIP
...     index.add(["Rivers reach the sea."], ids=["rivers"])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence, cast

from .documents.checks import check_count, checked_document
from .documents.loaders import Document, load_paths
from .errors import InvalidInputError, LongColBERTError
from .results import Hit, Hits, Passage, StoredDocument

if TYPE_CHECKING:
    import torch

    from .encoding.encoder import EncodedQuery
    from .encoding.holder import ModelHolder
    from .encoding.model import ModelFingerprint
    from .ranking.rank import LexicalEvidence


@dataclass(frozen=True)
class SearchSettings:
    """How one search ranks (see :class:`~longcolbert.Index` for each): ``hybrid``
    lexical evidence, ``reread`` passages read alone, ``candidates`` documents
    scored exactly."""

    hybrid: bool
    reread: bool
    candidates: int


def index_of(source: Any) -> IndexBackend | None:
    """The index behind ``source``: an index itself, or an object that holds one as
    ``.index`` (both integrations' vector stores and retrievers); None stays None.

    >>> index_of(None) is None
    True
    """
    if source is None or isinstance(source, IndexBackend):
        return source
    held = getattr(source, "index", None)
    if isinstance(held, IndexBackend):
        return held
    raise InvalidInputError(f"index must be a longcolbert index, or a vector store or retriever "
                            f"over one, not {type(source).__name__}")


def loaded_files(paths: Iterable[str | Path], *, id_prefix: str = "", follow_links: bool = False
                 ) -> tuple[list[Document], list[LongColBERTError]]:
    """The documents of these files and folders that pass the door checks, and a problem
    for each file that cannot be read or would be refused: one bad file never stops the
    others (:func:`~longcolbert.documents.loaders.load_paths`)."""
    documents, problems = load_paths(paths, id_prefix=id_prefix, follow_links=follow_links)
    reported: list[LongColBERTError] = list(problems)
    passing = []
    for document in documents:
        try:
            checked_document(document)
        except InvalidInputError as exc:
            reported.append(exc)
        else:
            passing.append(document)
    return passing, reported


class IndexBackend(ABC):
    """The operations the CLI and the integrations use, whatever holds the index.

    ``hybrid``, ``reread`` and ``candidates`` are the index's search settings; a
    search may name others for itself (:meth:`settings`).
    """

    backend = "embedded"  # what ``info()`` reports
    hybrid: bool
    reread: bool
    candidates: int
    _model: ModelHolder  # the index's model, loaded on first use

    @property
    def model_holder(self) -> ModelHolder:
        """The index's model (loaded the first time it encodes): a ``Reranker`` given
        this index and no model of its own shares it, so it is loaded once."""
        return self._model

    # -- what a backend implements ------------------------------------------------------

    @abstractmethod
    def add_documents(self, documents: Sequence[Document], *,
                      show_progress: bool | None = None) -> list[str]:
        """Add (or replace, by id) documents; returns their ids."""

    @abstractmethod
    def search(self, query: str, *, k: int = 10, passages: int = 3,
               filter: Mapping[str, Any] | None = None, hybrid: bool | None = None,
               reread: bool | None = None, candidates: int | None = None) -> Hits:
        """The ``k`` best documents for ``query``, each with its best ``passages``;
        ``hybrid``, ``reread`` and ``candidates`` replace the index's own for this
        search (see :meth:`settings`)."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> None:
        """Delete whole documents by id."""

    @abstractmethod
    def get(self, doc_id: str) -> StoredDocument:
        """A stored document by id."""

    @abstractmethod
    def get_many(self, ids: Sequence[str]) -> list[StoredDocument]:
        """The stored documents among ``ids``, in that order; missing ids left out."""

    @abstractmethod
    def ids(self) -> list[str]:
        """Every document id."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """``{"backend", "model", "dim", "documents", "tokens", "bytes"}``."""

    @abstractmethod
    def count_matching(self, filter: Mapping[str, Any]) -> int:
        """How many stored documents ``filter`` (as :meth:`search` takes it) selects."""

    @abstractmethod
    def ids_matching(self, filter: Mapping[str, Any]) -> list[str]:
        """The ids of the stored documents ``filter`` selects, sorted."""

    @abstractmethod
    def stored_rows(self, ids: Sequence[str]) -> dict[str, tuple[StoredDocument, torch.Tensor]]:
        """The stored documents among ``ids``, each with its token vectors as the index
        keeps them (``[tokens, dim]``, row for row with the document's offsets): what a
        :class:`~longcolbert.Reranker` given this index scores instead of encoding."""

    @abstractmethod
    def lexical_evidence_for(self, query: EncodedQuery) -> LexicalEvidence | None:
        """What hybrid search adds for ``query``, from this index's term counts (as its
        own search weighs query tokens): what a :class:`~longcolbert.Reranker` given
        this index uses for texts that came from it. None where the index cannot count
        terms (then the reranker counts them over its texts)."""

    @abstractmethod
    def stored_model(self) -> ModelFingerprint | None:
        """The model the index was built with (None while it holds nothing)."""

    @abstractmethod
    def _free_ids(self, n: int) -> list[str]:
        """``n`` ids that no stored document uses (the default ids of :meth:`add`)."""

    def close(self) -> None:
        """Release what the backend holds open."""

    # -- shared ------------------------------------------------------------------------

    def settings(self, *, hybrid: bool | None = None, reread: bool | None = None,
                 candidates: int | None = None) -> SearchSettings:
        """The index's search settings, with those given (not None) instead.

        >>> index.settings(reread=False)  # doctest: +SKIP
        SearchSettings(hybrid=True, reread=False, candidates=30)
        """
        for name, value in (("hybrid", hybrid), ("reread", reread)):
            if value is not None and not isinstance(value, bool):
                raise InvalidInputError(f"{name} is {value!r}; give True or False")
        if candidates is not None:
            check_count("candidates", candidates, least=1)
        return SearchSettings(self.hybrid if hybrid is None else hybrid,
                              self.reread if reread is None else reread,
                              self.candidates if candidates is None else candidates)

    def add(
        self,
        texts: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        metadatas: Sequence[Mapping[str, Any]] | None = None,
        page_maps: Sequence[Sequence[tuple[int, int, int]]] | None = None,
        show_progress: bool | None = None,
    ) -> list[str]:
        """Add (or replace, by id) whole documents; returns their ids. Ids default to
        :meth:`_free_ids`: ``"0"``, ``"1"``... in the embedded index, UUIDs in Qdrant."""
        if isinstance(texts, str):
            raise InvalidInputError("add() takes a list of texts; wrap the text in a list")
        n = len(texts)
        if ids is None:
            ids = self._free_ids(n)
        if (metadatas is not None and len(metadatas) != n) or len(ids) != n or (
            page_maps is not None and len(page_maps) != n
        ):
            raise InvalidInputError("texts, ids, metadatas and page_maps must have the same length")
        documents = [
            Document(
                str(ids[i]),
                texts[i],
                # as given: the door checks refuse what is not a dict or a list, in one line
                cast(dict, metadatas[i]) if metadatas else {},
                cast(list, page_maps[i]) if page_maps else [],
            )
            for i in range(n)
        ]
        return self.add_documents(documents, show_progress=show_progress)

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
        stored under that id is replaced (the embedded index warns when it came from
        another path: give ``id_prefix`` to keep both). Links out of a folder are
        skipped unless ``follow_links``. A file that cannot be read is reported in
        ``problems``; the others are indexed.

        >>> ids, problems = index.add_files(["./v2/"], id_prefix="v2/")  # doctest: +SKIP
        """
        documents, problems = loaded_files(paths, id_prefix=id_prefix, follow_links=follow_links)
        if metadata:
            documents = [replace(d, metadata={**d.metadata, **metadata}) for d in documents]
        self._check_sources(documents)
        ids = self.add_documents(documents, show_progress=show_progress) if documents else []
        return ids, problems

    def _check_sources(self, documents: Sequence[Document]) -> None:
        """Before files are added: a backend that knows where stored documents came from
        warns when one replaces another from a different path."""

    def search_passages(
        self,
        query: str,
        *,
        k: int = 4,
        per_document: int = 1,
        filter: Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> list[tuple[Hit, Passage]]:
        """The ``k`` best passages, at most ``per_document`` from each of the best documents.

        Ordered by document rank, then by passage score within a document. Each
        passage comes with its :class:`Hit` (document id, score, metadata).
        ``settings`` (``hybrid``, ``reread``, ``candidates``) as :meth:`search` takes them.

        >>> for hit, passage in index.search_passages("notice period", k=4):  # doctest: +SKIP
        ...     print(hit.id, passage.start, passage.end)
        """
        check_count("per_document", per_document, least=1)
        hits = self.search(query, k=k, passages=per_document, filter=filter, **settings)
        return [(hit, passage) for hit in hits for passage in hit.passages][:k]

    def __enter__(self) -> "IndexBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
