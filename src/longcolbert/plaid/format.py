"""The on-disk format of a PLAID generation folder, owned here for reader and writer alike.

A generation folder ``plaid-<n>`` holds the residual codec (:mod:`longcolbert.plaid.codec`),
every token's centroid id (``codes.npy``), packed residual (``residuals.npy``) and
length before normalisation (``norms.npy``), each document's token count
(``doclens.npy``, documents in store order) and ``plaid.json`` (format name and
version). From version 3 a generation may also hold the same tokens read a
passage at a time (``alone-codes.npy``, ``alone-residuals.npy``, ``alone-norms.npy``,
row for row beside the others, compressed by the same codec): what re-reading
scores passages by (:mod:`longcolbert.ranking.reread`). Only plain NumPy arrays and JSON: reading one never unpickles anything
(:func:`check_safe`), and :func:`read_generation` refuses arrays whose shapes,
types or values do not fit together. :mod:`longcolbert.plaid.reader` searches a
generation; :mod:`longcolbert.plaid.writer` writes the next one.

>>> folder_name(3)
'plaid-3'
>>> bool(GENERATION_FOLDER.match("plaid-3.tmp"))
True
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np

from ..errors import DamagedIndexError, IndexVersionError, UnsafeIndexError

if TYPE_CHECKING:  # torch is imported only by what computes (info and delete never do)
    import torch

    from .codec import ResidualCodec

FORMAT = "longcolbert-plaid"
FORMAT_VERSION = 3  # 2: norms.npy; 3: the rows read alone (optional)
OLDEST_VERSION = 2  # read as it is: without rows read alone, searches re-read by encoding
ALONE = "alone-"  # the prefix of the rows read alone
GENERATION_FOLDER = re.compile(r"^plaid-(\d+)(\.tmp)?$")  # a generation, or one being written


def folder_name(generation: int) -> str:
    """The folder of generation ``generation`` inside an index folder."""
    return f"plaid-{generation}"


def check_safe(folder: Path) -> None:
    """Raise UnsafeIndexError if any ``.npy`` file in ``folder`` would need pickle to load."""
    for path in sorted(folder.glob("*.npy")):
        try:
            with open(path, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                if version == (1, 0):
                    _, _, dtype = np.lib.format.read_array_header_1_0(handle)
                else:
                    _, _, dtype = np.lib.format.read_array_header_2_0(handle)
        except (ValueError, OSError) as exc:
            raise DamagedIndexError(f"{path} is not a valid NumPy array file ({exc})") from exc
        if dtype.hasobject:
            raise UnsafeIndexError(
                f"{path} holds pickled Python objects, which could run code when loaded, so "
                "longcolbert refuses it: index the documents again into a new folder (and open "
                "only folders from people you trust)"
            )


def load_array(path: Path, mmap_mode: Literal["r", "r+", "c"] | None = None) -> np.ndarray:
    """A ``.npy`` file read without pickle; a missing or damaged file is a clear error."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DamagedIndexError(f"cannot read {path} ({exc})") from exc


@dataclass(frozen=True)
class StoredCodec:
    """A generation's residual codec as its files hold it (NumPy arrays): enough to copy
    it into the next generation without torch; :meth:`load` makes the
    :class:`~longcolbert.plaid.codec.ResidualCodec` that compresses and decompresses.

    >>> stored = StoredCodec(np.eye(2, dtype=np.float32), np.zeros((2, 15), np.float32),
    ...                      np.zeros((2, 16), np.float32), 4, 100)
    >>> stored.dim, stored.width, stored.code_dtype
    (2, 1, dtype('uint16'))
    """

    centroids: np.ndarray  # float32 [K, dim]
    cutoffs: np.ndarray  # float32 [dim, 2**nbits - 1]
    weights: np.ndarray  # float32 [dim, 2**nbits]
    nbits: int
    trained_tokens: int

    @classmethod
    def of(cls, codec: ResidualCodec) -> "StoredCodec":
        return cls(codec.centroids.numpy(), codec.cutoffs.numpy(), codec.weights.numpy(),
                   codec.nbits, codec.trained_tokens)

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])

    @property
    def width(self) -> int:
        """Bytes of one token's packed residual."""
        return self.dim * self.nbits // 8

    @property
    def code_dtype(self) -> np.dtype:
        return np.dtype(np.uint16 if self.centroids.shape[0] <= 1 << 16 else np.int32)

    def load(self) -> ResidualCodec:
        import torch

        from .codec import ResidualCodec

        return ResidualCodec(torch.from_numpy(self.centroids), torch.from_numpy(self.cutoffs),
                             torch.from_numpy(self.weights), self.nbits, self.trained_tokens)

    def save(self, folder: Path) -> None:
        np.save(folder / "centroids.npy", self.centroids)
        np.save(folder / "bucket_cutoffs.npy", self.cutoffs)
        np.save(folder / "bucket_weights.npy", self.weights)
        (folder / "codec.json").write_text(
            json.dumps({"nbits": self.nbits, "trained_tokens": self.trained_tokens})
        )


@dataclass
class Rows:
    """Compressed token rows: centroid ids, packed residuals, norms (see :class:`Contents`)."""

    codes: np.ndarray
    residuals: np.ndarray
    norms: np.ndarray


@dataclass
class Contents:
    """One generation in memory: what a reader searches and a writer copies from.
    ``stored_codec`` is its codec as stored; :attr:`codec` the one that computes
    (made on first use)."""

    stored_codec: StoredCodec
    codes: np.ndarray  # [tokens] centroid ids
    residuals: np.ndarray  # [tokens, dim * nbits / 8] uint8 (memory-mapped)
    norms: np.ndarray  # [tokens] float16, |centroid + residual|
    doclens: np.ndarray  # [documents] int64
    starts: np.ndarray  # [documents + 1] first token of each document
    ivf_starts: np.ndarray  # [centroids + 1] into ivf_docs
    ivf_docs: np.ndarray  # [pairs] documents holding each centroid, by centroid
    alone: Rows | None = None  # the same tokens read a passage at a time, if stored
    _codec: ResidualCodec | None = field(default=None, repr=False, compare=False)

    @property
    def codec(self) -> ResidualCodec:
        if self._codec is None:
            self._codec = self.stored_codec.load()
        return self._codec

    @classmethod
    def build(cls, codec: StoredCodec, codes: np.ndarray, residuals: np.ndarray,
              norms: np.ndarray, doclens: np.ndarray, alone: Rows | None = None) -> "Contents":
        doclens = doclens.astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(doclens)])
        n_docs, n_centroids = len(doclens), int(codec.centroids.shape[0])
        owner = np.repeat(np.arange(n_docs, dtype=np.int64), doclens)
        pairs = np.unique(codes.astype(np.int64) * n_docs + owner)  # sorted by centroid
        return cls(
            codec, codes, residuals, norms, doclens, starts,
            np.searchsorted(pairs // n_docs, np.arange(n_centroids + 1)),
            pairs % n_docs,
            alone,
        )

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """Token rows of these documents, concatenated in order."""
        lengths = self.doclens[positions]
        first = np.repeat(self.starts[positions] - np.concatenate([[0], np.cumsum(lengths)[:-1]]),
                          lengths)
        return first + np.arange(int(lengths.sum()))

    def kept(self, delete: Sequence[int]) -> np.ndarray:
        """Positions of the documents left after deleting ``delete``."""
        keep = np.ones(len(self.doclens), dtype=bool)
        keep[np.asarray(delete, dtype=np.int64)] = False
        return np.flatnonzero(keep)

    def decompress(self, positions: np.ndarray, *, alone: bool = False) -> torch.Tensor:
        """The unit rows of these documents, concatenated in order (``alone``: as read
        a passage at a time; the generation must hold them)."""
        rows = self.rows(positions)
        if alone:
            assert self.alone is not None, "this generation holds no rows read alone"
            return self.codec.decompress(self.alone.codes[rows],
                                         np.asarray(self.alone.residuals[rows]))
        return self.codec.decompress(self.codes[rows], self.residuals[rows])


def _damaged(path: Path, why: str) -> DamagedIndexError:
    return DamagedIndexError(f"{path} {why}")


def read_settings(path: Path) -> dict:
    """A generation's JSON settings file as a dict, or a one-line "damaged" error."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _damaged(path, f"cannot be read as JSON ({type(exc).__name__})") from exc
    if not isinstance(value, dict):
        raise _damaged(path, "is not a JSON object")
    return value


def _whole_number(settings: dict, key: str, path: Path) -> int:
    value = settings.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _damaged(path, f"has no valid {key!r}")
    return value


def read_generation(folder: Path) -> Contents:
    """Load one generation folder, refusing pickles, layouts this version did not write,
    and arrays whose shapes, types or values do not fit together."""
    check_safe(folder)
    settings_path = folder / "plaid.json"
    settings = read_settings(settings_path) if settings_path.exists() else {}
    if settings.get("format") != FORMAT:
        raise IndexVersionError(
            f"{folder} was written by an older longcolbert (fast-plaid layout); "
            "index the documents again into a new folder"
        )
    version = _whole_number(settings, "version", settings_path)
    if version < OLDEST_VERSION:
        raise IndexVersionError(
            f"{folder} was written by an older longcolbert (index format "
            f"{version}); index the documents again into a new folder"
        )
    if version > FORMAT_VERSION:
        raise IndexVersionError(
            f"{folder} uses index format {version}, newer than this longcolbert "
            f"reads ({FORMAT_VERSION}); upgrade longcolbert"
        )
    codec_path = folder / "codec.json"
    codec_settings = read_settings(codec_path)
    nbits = _whole_number(codec_settings, "nbits", codec_path)
    trained = _whole_number(codec_settings, "trained_tokens", codec_path)
    centroids = load_array(folder / "centroids.npy")
    cutoffs = load_array(folder / "bucket_cutoffs.npy")
    weights = load_array(folder / "bucket_weights.npy")
    if nbits not in (1, 2, 4, 8):
        raise _damaged(codec_path, f"has nbits {nbits}")
    dim = centroids.shape[1] if centroids.ndim == 2 else 0
    if (centroids.dtype != np.float32 or not dim or dim % (8 // nbits)
            or not np.isfinite(centroids).all()):
        raise _damaged(folder / "centroids.npy", f"holds no float32 [centroids, dim] matrix "
                       f"for {nbits}-bit residuals")
    for name, array, width in (("bucket_cutoffs.npy", cutoffs, (1 << nbits) - 1),
                               ("bucket_weights.npy", weights, 1 << nbits)):
        if array.dtype != np.float32 or array.shape != (dim, width):
            raise _damaged(folder / name, f"has shape {array.shape}, not {(dim, width)}")
    codec = StoredCodec(centroids, cutoffs, weights, nbits, trained)
    doclens = load_array(folder / "doclens.npy")
    if doclens.ndim != 1 or doclens.dtype.kind not in "iu" or (doclens < 0).any():
        raise _damaged(folder / "doclens.npy", "holds no list of token counts")
    tokens = int(doclens.sum())
    width = dim * nbits // 8
    main = _read_rows(folder, "", tokens, len(centroids), width)
    alone = None
    if version >= 3 and settings.get("alone") is True:
        alone = _read_rows(folder, ALONE, tokens, len(centroids), width)
    return Contents.build(codec, main.codes, main.residuals, main.norms, doclens, alone)


def _read_rows(folder: Path, prefix: str, tokens: int, n_centroids: int, width: int) -> Rows:
    """The ``codes``, ``residuals`` and ``norms`` arrays named with ``prefix``, checked
    to hold ``tokens`` rows that fit the codec."""
    codes = load_array(folder / f"{prefix}codes.npy")
    residuals = load_array(folder / f"{prefix}residuals.npy", mmap_mode="r")
    norms = load_array(folder / f"{prefix}norms.npy")
    if codes.ndim != 1 or codes.dtype.kind not in "iu" or len(codes) != tokens:
        raise _damaged(folder / f"{prefix}codes.npy", f"holds no {tokens} centroid ids")
    if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= n_centroids):
        raise _damaged(folder / f"{prefix}codes.npy",
                       f"names centroids outside 0..{n_centroids - 1}")
    if residuals.dtype != np.uint8 or residuals.shape != (tokens, width):
        raise _damaged(folder / f"{prefix}residuals.npy",
                       f"has shape {residuals.shape}, not {(tokens, width)}")
    if norms.ndim != 1 or norms.dtype.kind != "f" or len(norms) != tokens:
        raise _damaged(folder / f"{prefix}norms.npy", f"holds no {tokens} token norms")
    return Rows(codes, residuals, norms)


def document_runs(lengths: np.ndarray, tokens: int) -> list[slice]:
    """Consecutive runs of documents holding about ``tokens`` tokens each (at least one document).

    >>> document_runs(np.array([5, 5, 5, 20, 1]), 10)
    [slice(0, 2, None), slice(2, 3, None), slice(3, 4, None), slice(4, 5, None)]
    """
    runs, start, total = [], 0, 0
    for i, n in enumerate(lengths.tolist()):
        if total and total + n > tokens:
            runs.append(slice(start, i))
            start, total = i, 0
        total += n
    if start < len(lengths):
        runs.append(slice(start, len(lengths)))
    return runs
