"""Encoded documents kept for the next rerank, so the same text is never encoded twice.

A reranker sees the same candidates again and again (the same documents come
back for related questions, a chain retries, a notebook cell runs twice). The
cache keeps each text's encoding (its embedding rows and their offsets) under a
key made of the model's fingerprint, a digest of its weights and a SHA-256 of
the text, so another model, or the same name with other weights, never reads it.
It is bounded in bytes and forgets the least recently used entries first; with
``folder`` it also keeps entries on disk as plain NumPy arrays (``.npz``, read
without pickle), bounded the same way, so a new process starts warm. Its
:attr:`EncodingCache.hits` and :attr:`EncodingCache.misses` say what it saved.

>>> cache = EncodingCache(max_bytes=1 << 20)
>>> cache.stats()["entries"], cache.hits, cache.misses
(0, 0, 0)
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..folders import check_folder

if TYPE_CHECKING:
    from .encoder import EncodedDocument, Encoder

DEFAULT_CACHE_BYTES = 256 << 20  # what a Reranker keeps in memory by default


class EncodingCache:
    """An LRU of encoded texts, at most ``max_bytes`` in memory (and on disk, in ``folder``).

    >>> reranker = Reranker(cache=EncodingCache(folder="./rerank-cache"))  # doctest: +SKIP
    >>> reranker.cache.stats()                                             # doctest: +SKIP
    {'entries': 20, 'bytes': 5242880, 'max_bytes': 268435456, 'hits': 20, 'misses': 20}
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES, folder: str | Path | None = None):
        if not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a whole number of bytes >= 0 (got {max_bytes!r})")
        self.max_bytes = max_bytes
        self.folder = None if folder is None else Path(folder)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            check_folder(self.folder)  # a cache folder leads nowhere else either
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def stats(self) -> dict[str, int]:
        """Entries and bytes in memory, the bound, and the hits and misses so far."""
        with self._lock:
            return {"entries": len(self._entries), "bytes": self._bytes,
                    "max_bytes": self.max_bytes, "hits": self.hits, "misses": self.misses}

    def encode(self, encoder: Encoder, texts: Sequence[str], *,
               show_progress: bool | None = None, reading: bool = False) -> list[EncodedDocument]:
        """``encoder.encode_documents(texts)``, encoding only the texts not kept yet;
        with ``reading``, ``encoder.read_passages(texts)`` (re-reading), kept apart
        when it runs in another precision."""
        from .encoder import EncodedDocument

        model = model_key(encoder)
        if reading and encoder.reading_dtype is not None:
            model += "/" + encoder.reading_dtype
        keys = [_key(model, text) for text in texts]
        found: list[EncodedDocument | None] = []
        for key in keys:
            entry = self._get(key)
            found.append(None if entry is None else EncodedDocument(
                _tensor(entry[0]), entry[1].copy()))
        missing = [i for i, entry in enumerate(found) if entry is None]
        with self._lock:
            self.hits += len(texts) - len(missing)
            self.misses += len(missing)
        if missing:
            wanted = [texts[i] for i in missing]
            fresh = (encoder.read_passages(wanted) if reading
                     else encoder.encode_documents(wanted, show_progress=show_progress))
            for i, encoded in zip(missing, fresh):
                self._put(keys[i], encoded.embeddings.numpy(), encoded.offsets)
                found[i] = encoded
            if self.folder is not None:
                self._trim_folder()  # once per call: it lists the folder
        return [entry for entry in found if entry is not None]

    def _get(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
        if self.folder is None:
            return None
        path = self.folder / f"{key}.npz"
        try:
            with np.load(path, allow_pickle=False) as stored:
                entry = (stored["embeddings"], stored["offsets"])
        except (OSError, ValueError, KeyError):
            return None  # not kept, or a damaged file: encode again
        if entry[0].ndim != 2 or entry[1].shape != (len(entry[0]), 2):
            return None
        os.utime(path)  # recently used, on disk too
        self._remember(key, entry)
        return entry

    def _put(self, key: str, embeddings: np.ndarray, offsets: np.ndarray) -> None:
        entry = (np.ascontiguousarray(embeddings, dtype=np.float32),
                 np.ascontiguousarray(offsets, dtype=np.int64))
        self._remember(key, entry)
        if self.folder is not None and _size(entry) <= self.max_bytes:
            temporary = self.folder / f"{key}.tmp.npz"
            np.savez(temporary, embeddings=entry[0], offsets=entry[1])
            os.replace(temporary, self.folder / f"{key}.npz")

    def _remember(self, key: str, entry: tuple[np.ndarray, np.ndarray]) -> None:
        size = _size(entry)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._bytes -= _size(self._entries.pop(key))
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= _size(dropped)

    def _trim_folder(self) -> None:
        """Delete the least recently used files until the folder holds ``max_bytes``."""
        assert self.folder is not None
        found = [(p, p.stat()) for p in self.folder.glob("*.npz")
                 if not p.name.endswith(".tmp.npz")]
        files = sorted((stat.st_mtime, stat.st_size, p) for p, stat in found)
        total = sum(size for _, size, _ in files)
        for _, size, path in files:
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size


def model_key(encoder: Encoder) -> str:
    """The model's fingerprint and a digest of its weights (first and last tensors), once."""
    cached = getattr(encoder, "_cache_key", None)
    if cached is None:
        from .model import fingerprint

        digest = hashlib.sha256(json.dumps(fingerprint(encoder.model).to_dict(),
                                           sort_keys=True).encode())
        parameters = list(encoder.model.parameters())
        for tensor in (parameters[0], parameters[-1]):
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
        cached = digest.hexdigest()
        encoder._cache_key = cached  # type: ignore[attr-defined]
    return cached


def _key(model: str, text: str) -> str:
    return hashlib.sha256(model.encode() + b"\0" + text.encode("utf-8", "surrogatepass")
                          ).hexdigest()


def _size(entry: tuple[np.ndarray, np.ndarray]) -> int:
    return int(entry[0].nbytes + entry[1].nbytes)


def _tensor(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(array.copy())
