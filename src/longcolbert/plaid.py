"""The PLAID half of an index folder: compressed token embeddings, an inverted file, and search.

A generation folder ``plaid-<n>`` holds the residual codec (:mod:`longcolbert.codec`),
every token's centroid id (``codes.npy``), packed residual (``residuals.npy``) and
length before normalisation (``norms.npy``), and each document's token count
(``doclens.npy``), documents in store order.
Only plain NumPy arrays and JSON: opening a folder never unpickles anything.

Search, as in PLAID: score the query against the centroids; for each query token
probe its ``n_probe`` best centroids in the inverted file (centroid -> documents
holding it, built in memory on load) to estimate every document's MaxSim at the
centroid level; rank the ``n_full`` best documents by that estimate by MaxSim on
their decompressed embeddings. A token's similarity ``q . (c + r) / |c + r|`` is
computed as the query's centroid score plus ``q . r``, divided by the stored norm,
so ``c + r`` is never rebuilt.

Changes are copy-on-write: each one writes the next generation folder in full and
the store's commit of ``n`` is the moment it happens. A crash before that commit
leaves the old generation in use and the new folder as litter, which the next
writer removes. Generation 0 is an empty index (no folder).

>>> PlaidIndex.folder_name(3)
'plaid-3'
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .codec import (
    POINTS_PER_CENTROID,
    ResidualCodec,
    Workspace,
    centroid_count,
    load_array,
)
from .errors import DamagedIndexError, IndexVersionError, UnsafeIndexError
from .plaid_writer import FORMAT, FORMAT_VERSION, GenerationWriter, document_runs

_SCORE_CHUNK_TOKENS = 16384  # tokens scored per step: bounded temporaries, no page-fault storm
RETRAIN_GROWTH = 4  # retrain the codec when the index outgrows its training set this much
_GENERATION = re.compile(r"^plaid-(\d+)(\.tmp)?$")


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


@dataclass
class Candidates:
    """Documents found for one query, best first: positions, MaxSim, similarities."""

    positions: list[int]
    scores: list[float]
    similarities: list[np.ndarray]  # float32 [query tokens, document tokens] each (views)


@dataclass
class _Contents:
    """One generation in memory."""

    codec: ResidualCodec
    codes: np.ndarray  # [tokens] centroid ids
    residuals: np.ndarray  # [tokens, dim * nbits / 8] uint8 (memory-mapped)
    norms: np.ndarray  # [tokens] float16, |centroid + residual|
    doclens: np.ndarray  # [documents] int64
    starts: np.ndarray  # [documents + 1] first token of each document
    ivf_starts: np.ndarray  # [centroids + 1] into ivf_docs
    ivf_docs: np.ndarray  # [pairs] documents holding each centroid, by centroid

    @classmethod
    def build(cls, codec: ResidualCodec, codes: np.ndarray, residuals: np.ndarray,
              norms: np.ndarray, doclens: np.ndarray) -> "_Contents":
        doclens = doclens.astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(doclens)])
        n_docs, n_centroids = len(doclens), int(codec.centroids.shape[0])
        owner = np.repeat(np.arange(n_docs, dtype=np.int64), doclens)
        pairs = np.unique(codes.astype(np.int64) * n_docs + owner)  # sorted by centroid
        return cls(
            codec, codes, residuals, norms, doclens, starts,
            np.searchsorted(pairs // n_docs, np.arange(n_centroids + 1)),
            pairs % n_docs,
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

    def decompress(self, positions: np.ndarray) -> torch.Tensor:
        rows = self.rows(positions)
        return self.codec.decompress(self.codes[rows], self.residuals[rows])


class PlaidIndex:
    """Search and copy-on-write updates over the PLAID generation folders of one index folder.

    ``n_probe`` centroids are probed per query token; the best ``n_full`` documents
    by that estimate (at least the asked depth) are decompressed and scored;
    ``nbits`` is the residual precision of a new codec (4: 34 bytes per 64-dim
    token; 8: 66 bytes).
    """

    def __init__(self, root: Path, generation: int, *, n_probe: int = 16, n_full: int = 64,
                 nbits: int = 4):
        self.root = Path(root)
        self.n_probe = n_probe
        self.n_full = n_full
        self.nbits = nbits
        self.generation = -1
        self._contents: _Contents | None = None
        self._workspace = Workspace()
        self.load(generation)

    @staticmethod
    def folder_name(generation: int) -> str:
        return f"plaid-{generation}"

    def path(self, generation: int | None = None) -> Path:
        return self.root / self.folder_name(self.generation if generation is None else generation)

    def load(self, generation: int) -> None:
        """Switch to ``generation`` (the one the store committed)."""
        if generation == self.generation:
            return
        if generation < 0:  # nothing loaded yet
            self.close()
            return
        folder = self.path(generation)
        self._contents = _read(folder) if folder.is_dir() else None  # empty index: no folder
        self.generation = generation

    def close(self) -> None:
        self._contents = None
        self.generation = -1

    @property
    def empty(self) -> bool:
        return self._contents is None

    @property
    def doclens(self) -> np.ndarray:
        """Tokens of each document, in store order."""
        return np.zeros(0, dtype=np.int64) if self._contents is None else self._contents.doclens

    @property
    def documents(self) -> int:
        return 0 if self._contents is None else len(self._contents.doclens)

    def search(
        self, query: torch.Tensor, top_k: int, subset: Sequence[int] | None = None,
        also: Sequence[int] = (),
    ) -> Candidates:
        """The ``top_k`` documents by MaxSim with ``query`` ([q, dim]), within ``subset`` if
        given, and those of ``also`` (keyword candidates) whatever their rank."""
        contents = self._contents
        if contents is None or top_k <= 0:
            return Candidates([], [], [])
        query = query.float()
        n_docs = len(contents.doclens)
        estimate = self._estimate(query, contents)
        if subset is not None:
            allowed = torch.zeros(n_docs, dtype=torch.bool)
            allowed[torch.as_tensor(list(subset), dtype=torch.long)] = True
            estimate = estimate.masked_fill(~allowed, -torch.inf)
            n_docs = int(allowed.sum())
        depth = min(max(top_k, self.n_full), n_docs)
        shortlist = estimate.topk(depth).indices.numpy() if depth < len(estimate) else (
            np.flatnonzero(estimate.isfinite().numpy())
        )
        if not len(also):
            return self.score(query, shortlist, top_k)
        wanted = set(int(p) for p in also)
        listed = set(shortlist.tolist())
        extra = [p for p in dict.fromkeys(int(p) for p in also) if p not in listed]
        found = self.score(query, np.concatenate([shortlist, np.asarray(extra, dtype=np.int64)]))
        best = set(found.positions[:top_k])
        keep = [i for i, p in enumerate(found.positions) if p in best or p in wanted]
        return Candidates([found.positions[i] for i in keep], [found.scores[i] for i in keep],
                          [found.similarities[i] for i in keep])

    def score(self, query: torch.Tensor, positions: Sequence[int], top_k: int | None = None
              ) -> Candidates:
        """MaxSim of these documents on their decompressed embeddings, best first.

        The similarity matrices are views into a buffer the next search reuses
        (fresh memory costs more in page faults than the scoring itself): copy
        one to keep it beyond that.
        """
        contents = self._contents
        positions = np.asarray(positions, dtype=np.int64)
        if contents is None or len(positions) == 0:
            return Candidates([], [], [])
        codec = contents.codec
        query = query.float()
        centroid_scores = codec.centroids @ query.T  # [K, q]
        lengths = contents.doclens[positions]
        # [tokens, q]: this orientation is the fast one for a tall matrix times a small one
        token_scores = self._workspace.scores(int(lengths.sum()), query.shape[0])
        done = 0
        for chunk in document_runs(lengths, _SCORE_CHUNK_TOKENS):  # bounded temporaries, reused
            rows = contents.rows(positions[chunk])
            out = token_scores[done : done + len(rows)]
            torch.index_select(
                centroid_scores, 0, torch.from_numpy(contents.codes[rows].astype(np.int32)), out=out
            )
            residuals = self._workspace.residuals(contents.residuals, rows)
            out.addmm_(codec.residual_values(residuals, self._workspace), query.T)
            out.div_(torch.from_numpy(contents.norms[rows].astype(np.float32))[:, None])
            done += len(rows)
        per_document = torch.split(token_scores, lengths.tolist())
        scores = torch.stack([s.amax(dim=0) for s in per_document]).sum(dim=1).numpy()
        order = np.argsort(-scores, kind="stable")[:top_k]
        return Candidates(
            [int(positions[i]) for i in order],
            [float(scores[i]) for i in order],
            [per_document[i].numpy().T for i in order],
        )

    def _estimate(self, query: torch.Tensor, contents: _Contents) -> torch.Tensor:
        """Centroid-level MaxSim estimate of every document ([documents]).

        Per query token, a document holding one of its ``n_probe`` best centroids
        gets the best such score; one holding none gets the next centroid's score,
        an upper bound of what it holds.
        """
        centroid_scores = query @ contents.codec.centroids.T  # [q, K]
        n_q, n_centroids = centroid_scores.shape
        probe = min(self.n_probe, n_centroids)
        best, ids = centroid_scores.topk(min(probe + 1, n_centroids), dim=1)
        floor = best[:, probe] if probe < n_centroids else best[:, -1]
        best, ids = best[:, :probe].numpy(), ids[:, :probe].numpy()
        list_starts = contents.ivf_starts[ids].reshape(-1)
        lengths = contents.ivf_starts[ids + 1].reshape(-1) - list_starts
        total = int(lengths.sum())
        n_docs = len(contents.doclens)
        per_token = floor[:, None].repeat(1, n_docs).reshape(-1)
        if total:
            entry_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            rows = np.repeat(list_starts - entry_starts, lengths) + np.arange(total)
            token = np.repeat(np.repeat(np.arange(n_q), probe), lengths)
            target = torch.from_numpy(token * n_docs + contents.ivf_docs[rows])
            values = torch.from_numpy(np.repeat(best.reshape(-1), lengths))
            per_token.scatter_reduce_(0, target, values, reduce="amax")
        return per_token.reshape(n_q, n_docs).sum(dim=0)

    def embeddings(self, positions: Sequence[int]) -> list[torch.Tensor]:
        """Token embeddings of these documents, decompressed, in the given order."""
        contents = self._contents
        if contents is None or not len(positions):
            return []
        positions = np.asarray(positions, dtype=np.int64)
        lengths = contents.doclens[positions].tolist()
        return list(torch.split(contents.decompress(positions), lengths))

    # -- writing -------------------------------------------------------------------

    def writer(self, generation: int, *, delete: Sequence[int], new_tokens: int
               ) -> GenerationWriter:
        """A :class:`GenerationWriter` for a generation that drops ``delete`` and adds
        about ``new_tokens`` tokens (add batches, then finish).

        It keeps the current codec while the index stays within ``RETRAIN_GROWTH``
        times the size the codec was trained for (so a small first add does not
        fix it for good); else it trains a new one on a sample of the tokens.
        """
        current = self._contents
        kept = 0 if current is None else int(current.doclens[current.kept(delete)].sum())
        total = kept + new_tokens
        codec = None
        if kept and total <= RETRAIN_GROWTH * current.codec.trained_tokens:
            codec = current.codec
        wanted = centroid_count(max(total, 1)) * POINTS_PER_CENTROID
        return GenerationWriter(self, generation, delete=delete, codec=codec,
                                sample_rate=wanted / max(total, 1), nbits=self.nbits)

    def build_next(
        self, generation: int, *, delete: Sequence[int], add: Sequence[torch.Tensor]
    ) -> None:
        """Write generation ``generation``: the current one less ``delete``, plus ``add`` at the end.

        All at once; :meth:`writer` takes the new documents in batches.
        """
        writer = self.writer(generation, delete=delete, new_tokens=sum(e.shape[0] for e in add))
        try:
            writer.add(list(add))
            writer.finish()
        except BaseException:
            writer.abort()
            raise

    def remove_litter(self, keep: int) -> None:
        """Delete generation folders other than ``keep`` (left by crashes or replaced)."""
        for path in self.root.iterdir():
            match = _GENERATION.match(path.name)
            if match and path.is_dir() and (int(match.group(1)) != keep or match.group(2)):
                shutil.rmtree(path, ignore_errors=True)


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


def _read(folder: Path) -> _Contents:
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
    if version < FORMAT_VERSION:
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
    codec = ResidualCodec(torch.from_numpy(centroids), torch.from_numpy(cutoffs),
                          torch.from_numpy(weights), nbits, trained)
    codes = load_array(folder / "codes.npy")
    residuals = load_array(folder / "residuals.npy", mmap_mode="r")
    norms = load_array(folder / "norms.npy")
    doclens = load_array(folder / "doclens.npy")
    if doclens.ndim != 1 or doclens.dtype.kind not in "iu" or (doclens < 0).any():
        raise _damaged(folder / "doclens.npy", "holds no list of token counts")
    tokens = int(doclens.sum())
    if codes.ndim != 1 or codes.dtype.kind not in "iu" or len(codes) != tokens:
        raise _damaged(folder / "codes.npy", f"holds no {tokens} centroid ids")
    if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= len(centroids)):
        raise _damaged(folder / "codes.npy", f"names centroids outside 0..{len(centroids) - 1}")
    if residuals.dtype != np.uint8 or residuals.shape != (tokens, dim * nbits // 8):
        raise _damaged(folder / "residuals.npy",
                       f"has shape {residuals.shape}, not {(tokens, dim * nbits // 8)}")
    if norms.ndim != 1 or norms.dtype.kind != "f" or len(norms) != tokens:
        raise _damaged(folder / "norms.npy", f"holds no {tokens} token norms")
    return _Contents.build(codec, codes, residuals, norms, doclens)
