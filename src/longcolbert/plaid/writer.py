"""Writing the next PLAID generation in bounded memory: new documents arrive in batches.

Each batch is compressed as it comes (or, while a new codec waits for its
training sample, kept uncompressed) and parked on disk inside the temporary
generation folder; :meth:`GenerationWriter.finish` assembles the kept documents
of the current generation and the parked batches into the final arrays, a few
thousand tokens at a time, then renames the folder into place. Memory is one
batch plus the codec's training sample, whatever the number of documents.

>>> writer = open_writer(plaid.path(2), plaid.contents, delete=[0], new_tokens=n)  # doctest: +SKIP
>>> writer.add([embeddings_of_doc_a, embeddings_of_doc_b])         # doctest: +SKIP
>>> writer.finish()                                                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..defaults import POINTS_PER_CENTROID, RETRAIN_GROWTH, centroid_count
from .format import ALONE, FORMAT, FORMAT_VERSION, Contents, Rows, StoredCodec, document_runs

if TYPE_CHECKING:  # torch is imported by what computes: a delete copies and never does
    import torch

    from .codec import ResidualCodec

_COPY_CHUNK_TOKENS = 1 << 18  # tokens copied (or recompressed) per step when assembling


class GenerationWriter:
    """Writes generation ``generation``: the current one less ``delete``, plus added batches.

    Nothing in use is touched; after :meth:`finish` the caller commits the new
    generation in the store, then calls ``plaid.load``. :meth:`abort` removes
    the unfinished folder.

    With ``keep_codec`` (the current codec is still fit for the index), each batch
    is compressed as it comes, and the kept documents are copied as they are.
    Otherwise a codec must be trained for this
    generation: batches are parked uncompressed (4 bytes per dimension, on disk)
    while a uniform sample of their tokens is kept (``sample_rate`` of them);
    :meth:`finish` trains on that sample plus the same share of the kept
    documents' tokens, then compresses the parked batches and recompresses the
    kept documents.

    With ``alone``, every document also brings its rows read a passage at a time
    (:attr:`~longcolbert.encoding.encoder.EncodedDocument.alone`), compressed by the same
    codec into the ``alone-`` arrays (:mod:`longcolbert.plaid.format`); the kept
    documents must hold them too.
    """

    def __init__(self, target: Path, current: Contents | None, *, delete: Sequence[int],
                 keep_codec: bool, sample_rate: float = 1.0, nbits: int = 4,
                 alone: bool = False):
        self.target = target
        self.temporary = self.target.with_name(self.target.name + ".tmp")
        for stale in (self.target, self.temporary):
            shutil.rmtree(stale, ignore_errors=True)
        self.temporary.mkdir(parents=True)
        self.current = current
        if keep_codec and current is None:
            raise ValueError("there is no current codec to keep")
        self.keep_codec = keep_codec
        self.codec: ResidualCodec | None = None  # one trained for this generation
        self.nbits = nbits
        self.kept = (np.zeros(0, dtype=np.int64) if self.current is None
                     else self.current.kept(delete))
        if alone and len(self.kept) and (current is None or current.alone is None):
            raise ValueError("the kept documents hold no rows read alone")
        self.alone = alone
        self.doclens: list[np.ndarray] = []  # lengths of the added documents, in order
        self._parts = 0  # batches of rows parked so far
        self._open_rows = 0  # rows added to a document not ended yet (see add_rows)
        self._rate = min(1.0, sample_rate)
        self._sample: list[torch.Tensor] = []
        self._random: torch.Generator | None = None  # made with the first sample

    def add(self, embeddings: Sequence[torch.Tensor],
            alone: Sequence[torch.Tensor] | None = None) -> None:
        """Compress (or park, see the class docstring) one batch of documents' embeddings
        (and their rows read ``alone``, with a writer that keeps them)."""
        if not embeddings:
            return
        import torch

        self.add_rows(torch.cat([e.float().cpu() for e in embeddings]),
                      None if alone is None else torch.cat([a.float().cpu() for a in alone]))
        self._open_rows = 0
        self.doclens.append(np.array([e.shape[0] for e in embeddings], dtype=np.int64))

    def add_rows(self, vectors: torch.Tensor, alone: torch.Tensor | None = None) -> None:
        """Compress (or park) the next rows of one long document; :meth:`end_document`
        closes it. A document of any length costs one piece of memory at a time.

        >>> for piece in pieces_of_one_document:  # doctest: +SKIP
        ...     writer.add_rows(piece)
        >>> writer.end_document()                  # doctest: +SKIP
        """
        vectors = vectors.float().cpu()
        if self.alone != (alone is not None) or (alone is not None and alone.shape != vectors.shape):
            raise ValueError("a writer that keeps rows read alone takes them for every row, "
                             "and only such a writer")
        self._open_rows += len(vectors)
        part = self._parts
        self._parts += 1
        views = [("", vectors)] + ([] if alone is None else [(ALONE, alone.float().cpu())])
        if not self.keep_codec and self.codec is None:
            import torch

            if self._random is None:
                self._random = torch.Generator().manual_seed(0)
            chosen = torch.rand(len(vectors), generator=self._random) < self._rate
            if not self._sample:
                chosen[0] = True  # never an empty sample
            self._sample.append(vectors[chosen].clone())
            for prefix, rows in views:
                np.save(self._part(part, prefix + "raw"), rows.numpy())
        else:
            for prefix, rows in views:
                self._save_compressed(part, rows, prefix)

    def end_document(self) -> None:
        """Close the document whose rows :meth:`add_rows` took."""
        self.doclens.append(np.array([self._open_rows], dtype=np.int64))
        self._open_rows = 0

    def finish(self) -> bool:
        """Write the final arrays and move the folder into place; False if the index is empty."""
        if self._open_rows:
            raise ValueError("a document's rows were added but end_document() was not called")
        current = self.current
        kept_lengths = current.doclens[self.kept] if current is not None else np.zeros(0, np.int64)
        doclens = np.concatenate([kept_lengths, *self.doclens]).astype(np.int64)
        if not len(doclens):
            self.abort()  # an empty index has no folder
            return False
        codec = self._settle_codec(kept_lengths)
        output = _Output(self.temporary, codec, int(doclens.sum()), self._prefixes)
        if current is not None and len(self.kept):
            self._copy_kept(output, current, kept_lengths)
        self._append_parts(output)
        output.close()
        self._seal(codec, doclens)
        return True

    def _settle_codec(self, kept_lengths: np.ndarray) -> StoredCodec:
        """The generation's codec: the current one kept, or one trained now on the
        sample, after which the parked raw batches are compressed with it."""
        if not self.keep_codec and self.codec is None:
            if not self._parts and self.current is not None:
                self.keep_codec = True  # only deletes: nothing to train on
                return self.current.stored_codec
            import torch

            self.codec = self._train(kept_lengths)
            for part in range(self._parts):
                for prefix in self._prefixes:
                    raw = self._part(part, prefix + "raw")
                    self._save_compressed(part, torch.from_numpy(np.load(raw, allow_pickle=False)),
                                          prefix)
                    raw.unlink()
        if self.keep_codec:
            assert self.current is not None, "checked when the writer opened"
            return self.current.stored_codec
        assert self.codec is not None, "trained above"
        return StoredCodec.of(self.codec)

    @property
    def _prefixes(self) -> tuple[str, ...]:
        """The views this generation keeps: the rows, and the rows read alone if kept."""
        return ("", ALONE) if self.alone else ("",)

    def _copy_kept(self, output: _Output, current: Contents, kept_lengths: np.ndarray) -> None:
        """The kept documents of the current generation, first, a few runs at a time;
        recompressed where the codec was retrained."""
        views = [("", Rows(current.codes, current.residuals, current.norms))]
        if self.alone:
            assert current.alone is not None, "checked when the writer opened"
            views.append((ALONE, current.alone))
        for chunk in document_runs(kept_lengths, _COPY_CHUNK_TOKENS):
            rows = current.rows(self.kept[chunk])
            for prefix, view in views:
                codes, residuals = view.codes[rows], np.asarray(view.residuals[rows])
                if self.keep_codec:
                    output.append(prefix, codes, residuals, view.norms[rows])
                else:  # retrained: recompress what the old codec kept
                    codec = self.codec
                    assert codec is not None, "trained before the copy"
                    codes, residuals = codec.compress(current.codec.decompress(codes, residuals))
                    output.append(prefix, codes, residuals, codec.norms(codes, residuals))

    def _append_parts(self, output: _Output) -> None:
        """The added batches, in order, each removed once copied."""
        for part in range(self._parts):
            for prefix in self._prefixes:
                names = [prefix + n for n in ("codes", "residuals", "norms")]
                output.append(prefix, *(np.load(self._part(part, n), allow_pickle=False)
                                        for n in names))
                for name in names:
                    self._part(part, name).unlink()

    def _seal(self, codec: StoredCodec, doclens: np.ndarray) -> None:
        """Codec, document lengths and settings written, flushed, and the folder renamed
        into place: the generation exists whole or not at all."""
        codec.save(self.temporary)
        np.save(self.temporary / "doclens.npy", doclens)
        (self.temporary / "plaid.json").write_text(
            json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "dim": codec.dim,
                        "alone": self.alone})
        )
        fsync_tree(self.temporary)
        self.temporary.rename(self.target)
        fsync_dir(self.target.parent)

    def abort(self) -> None:
        """Remove the unfinished folder."""
        shutil.rmtree(self.temporary, ignore_errors=True)

    def _train(self, kept_lengths: np.ndarray) -> ResidualCodec:
        """A codec for this generation from the new tokens' sample and a share of the kept ones."""
        import torch

        from .codec import ResidualCodec

        current = self.current
        parts = [torch.cat(self._sample)]
        self._sample = []
        new_tokens = int(sum(int(d.sum()) for d in self.doclens))
        kept_tokens = int(kept_lengths.sum())
        if kept_tokens and current is not None:
            share = min(kept_tokens, max(1, round(self._rate * kept_tokens)))
            rows = current.rows(self.kept)
            rows = np.sort(np.random.default_rng(0).choice(rows, share, replace=False))
            parts.insert(0, current.codec.decompress(current.codes[rows],
                                                     np.asarray(current.residuals[rows])))
        total = kept_tokens + new_tokens
        nbits = current.stored_codec.nbits if current is not None else self.nbits
        return ResidualCodec.train(torch.cat(parts), nbits=nbits,
                                   n_centroids=centroid_count(total), trained_tokens=total)

    def _save_compressed(self, part: int, vectors: torch.Tensor, prefix: str = "") -> None:
        codec = self.current.codec if self.keep_codec and self.current is not None else self.codec
        assert codec is not None, "compressing needs the codec"
        codes, residuals = codec.compress(vectors)
        np.save(self._part(part, prefix + "codes"), codes)
        np.save(self._part(part, prefix + "residuals"), residuals)
        np.save(self._part(part, prefix + "norms"), codec.norms(codes, residuals))

    def _part(self, part: int, name: str) -> Path:
        return self.temporary / f"part-{part}-{name}.npy"


class _Output:
    """The final ``codes``, ``residuals`` and ``norms`` arrays of a generation (one set per
    view ``prefix``), memory-mapped and filled in order."""

    def __init__(self, folder: Path, codec: StoredCodec, tokens: int,
                 prefixes: Sequence[str] = ("",)):
        width = codec.width
        self.views: dict[str, tuple[np.memmap, np.memmap, np.memmap]] = {prefix: (
            _open(folder / f"{prefix}codes.npy", (tokens,), np.dtype(codec.code_dtype)),
            _open(folder / f"{prefix}residuals.npy", (tokens, width), np.dtype(np.uint8)),
            _open(folder / f"{prefix}norms.npy", (tokens,), np.dtype(np.float16)),
        ) for prefix in prefixes}
        self.filled = dict.fromkeys(prefixes, 0)

    def append(self, prefix: str, codes: np.ndarray, residuals: np.ndarray,
               norms: np.ndarray) -> None:
        start = self.filled[prefix]
        end = start + len(codes)
        for array, values in zip(self.views[prefix], (codes, residuals, norms)):
            array[start:end] = values
        self.filled[prefix] = end

    def close(self) -> None:
        for view in self.views.values():
            for array in view:
                array.flush()
        self.views.clear()


def fsync_tree(folder: Path) -> None:
    """Flush the files of ``folder`` and the folder itself to disk."""
    for path in folder.iterdir():
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _open(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> np.memmap:
    return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)


def open_writer(target: Path, current: Contents | None, *, delete: Sequence[int],
                new_tokens: int, nbits: int = 4, alone: bool = False) -> GenerationWriter:
    """A :class:`GenerationWriter` of ``target``: ``current`` less ``delete``, plus about
    ``new_tokens`` tokens (add batches, then finish).

    It keeps the current codec while the index stays within ``RETRAIN_GROWTH``
    times the size the codec was trained for (so a small first add does not fix
    it for good); else it trains a new one on a sample of the tokens.
    """
    kept = 0 if current is None else int(current.doclens[current.kept(delete)].sum())
    total = kept + new_tokens
    keep_codec = (current is not None and kept > 0
                  and total <= RETRAIN_GROWTH * current.stored_codec.trained_tokens)
    wanted = centroid_count(max(total, 1)) * POINTS_PER_CENTROID
    return GenerationWriter(target, current, delete=delete, keep_codec=keep_codec,
                            sample_rate=wanted / max(total, 1), nbits=nbits, alone=alone)


def write_generation(target: Path, current: Contents | None, *, delete: Sequence[int],
                     add: Sequence[torch.Tensor], nbits: int = 4,
                     alone: Sequence[torch.Tensor] | None = None) -> None:
    """Write ``target`` at once: ``current`` less ``delete``, plus ``add`` (and their rows
    read ``alone``) at the end; a delete keeps the rows read alone where they are."""
    keeps_alone = alone is not None or (current is not None and current.alone is not None
                                        and not add)
    writer = open_writer(target, current, delete=delete,
                         new_tokens=sum(e.shape[0] for e in add), nbits=nbits, alone=keeps_alone)
    try:
        writer.add(list(add), None if alone is None else list(alone))
        writer.finish()
    except BaseException:
        writer.abort()
        raise
