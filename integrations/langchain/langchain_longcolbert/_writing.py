"""Adding and deleting LangChain documents: one implementation for the retriever and the
vector store, which share an index folder.

>>> from langchain_core.documents import Document
>>> add_documents(index, [Document(page_content="Rivers reach the sea.")])  # doctest: +SKIP
['5b0c...']
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document

from longcolbert import IndexBackend


def add_documents(
    index: IndexBackend, documents: Sequence[Document], ids: Sequence[str] | None = None, **kwargs: Any
) -> list[str]:
    """Add (or replace, by id) whole documents; returns the ids indexed.

    Ids come from ``ids``, else each ``Document.id``, else a new UUID. A blank
    document (PDF loaders emit empty pages) is skipped with one warning naming its
    position and source; the others are indexed. ``kwargs`` go to ``Index.add``.
    """
    if ids is not None and len(ids) != len(documents):
        raise ValueError("documents and ids must have the same length")
    doc_ids = [
        str(ids[i]) if ids is not None and ids[i] is not None else (d.id or str(uuid.uuid4()))
        for i, d in enumerate(documents)
    ]
    blank = [i for i, d in enumerate(documents)
             if not isinstance(d.page_content, str) or not d.page_content.strip()]
    if blank:
        warnings.warn(f"skipped {len(blank)} blank document(s) at position "
                      f"{', '.join(_where(i, documents[i]) for i in blank[:5])}; "
                      "the others are indexed", stacklevel=3)
    skipped = set(blank)
    keep = [i for i in range(len(documents)) if i not in skipped]
    if not keep:
        return []
    return index.add(
        [documents[i].page_content for i in keep],
        ids=[doc_ids[i] for i in keep],
        metadatas=[documents[i].metadata for i in keep],
        **kwargs,
    )


def _where(position: int, document: Document) -> str:
    """``position``, with the document's ``source`` (and ``page``) where it has one."""
    source = document.metadata.get("source")
    if source is None:
        return str(position)
    page = document.metadata.get("page")
    return f"{position} ({source}" + (f" page {page}" if page is not None else "") + ")"


def delete_documents(index: IndexBackend, ids: Sequence[str]) -> None:
    """Delete whole documents by id. As LangChain's vector stores do, an id that is not
    there is no error: one warning names it."""
    ids = [ids] if isinstance(ids, str) else [str(i) for i in ids]
    known = {doc.id for doc in index.get_many(ids)}
    missing = [i for i in ids if i not in known]
    if missing:
        warnings.warn(f"no document with id {missing[0]!r} ({len(missing)} such); "
                      "nothing to delete for them", stacklevel=3)
    if known:
        index.delete([i for i in dict.fromkeys(ids) if i in known])
