"""The PLAID half of an index folder: compressed token embeddings, an inverted file, and search.

The folders' format is :mod:`longcolbert.plaid.format`; writing the next generation
is :mod:`longcolbert.plaid.writer`. Opening a folder never unpickles anything.

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

>>> PlaidIndex(Path("./idx"), 0).path(3).name  # doctest: +SKIP
'plaid-3'
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .format import GENERATION_FOLDER, Contents, document_runs, folder_name, read_generation

if TYPE_CHECKING:  # torch is imported by the searches: opening a folder needs none
    import torch

    from .codec import Workspace

_SCORE_CHUNK_TOKENS = 16384  # tokens scored per step: bounded temporaries, no page-fault storm


@dataclass
class Candidates:
    """Documents found for one query, best first: positions, MaxSim, similarities."""

    positions: list[int]
    scores: list[float]
    similarities: list[np.ndarray]  # float32 [query tokens, document tokens] each (views)


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
        self._contents: Contents | None = None
        self._buffers: Workspace | None = None
        self.load(generation)

    def path(self, generation: int | None = None) -> Path:
        """The folder of ``generation`` (by default the loaded one)."""
        return self.root / folder_name(self.generation if generation is None else generation)

    def load(self, generation: int) -> None:
        """Switch to ``generation`` (the one the store committed)."""
        if generation == self.generation:
            return
        if generation < 0:  # nothing loaded yet
            self.close()
            return
        folder = self.path(generation)
        self._contents = read_generation(folder) if folder.is_dir() else None  # empty index: no folder
        self.generation = generation

    @property
    def _workspace(self) -> Workspace:
        """Buffers kept from one search to the next (made by the first)."""
        if self._buffers is None:
            from .codec import Workspace

            self._buffers = Workspace()
        return self._buffers

    def close(self) -> None:
        self._contents = None
        self.generation = -1

    @property
    def contents(self) -> Contents | None:
        """The loaded generation (``None`` for an empty index): what a writer copies from."""
        return self._contents

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
        import torch

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

    def score(self, query: torch.Tensor, positions: Sequence[int] | np.ndarray,
              top_k: int | None = None) -> Candidates:
        """MaxSim of these documents on their decompressed embeddings, best first.

        The similarity matrices are views into a buffer the next search reuses
        (fresh memory costs more in page faults than the scoring itself): copy
        one to keep it beyond that.
        """
        import torch

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

    def _estimate(self, query: torch.Tensor, contents: Contents) -> torch.Tensor:
        """Centroid-level MaxSim estimate of every document ([documents]).

        Per query token, a document holding one of its ``n_probe`` best centroids
        gets the best such score; one holding none gets the next centroid's score,
        an upper bound of what it holds.
        """
        import torch

        centroid_scores = query @ contents.codec.centroids.T  # [q, K]
        n_q, n_centroids = centroid_scores.shape
        probe = min(self.n_probe, n_centroids)
        best, ids = centroid_scores.topk(min(probe + 1, n_centroids), dim=1)
        floor = best[:, probe] if probe < n_centroids else best[:, -1]
        best_scores, best_ids = best[:, :probe].numpy(), ids[:, :probe].numpy()
        list_starts = contents.ivf_starts[best_ids].reshape(-1)
        lengths = contents.ivf_starts[best_ids + 1].reshape(-1) - list_starts
        total = int(lengths.sum())
        n_docs = len(contents.doclens)
        per_token = floor[:, None].repeat(1, n_docs).reshape(-1)
        if total:
            entry_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            rows = np.repeat(list_starts - entry_starts, lengths) + np.arange(total)
            token = np.repeat(np.repeat(np.arange(n_q), probe), lengths)
            target = torch.from_numpy(token * n_docs + contents.ivf_docs[rows])
            values = torch.from_numpy(np.repeat(best_scores.reshape(-1), lengths))
            per_token.scatter_reduce_(0, target, values, reduce="amax")
        return per_token.reshape(n_q, n_docs).sum(dim=0)

    @property
    def reads_alone(self) -> bool:
        """Whether the loaded generation holds its tokens read a passage at a time."""
        return self._contents is not None and self._contents.alone is not None

    def similarities_alone(self, query: torch.Tensor, positions: Sequence[int]
                           ) -> list[np.ndarray]:
        """``query @ rows.T`` of these documents' rows read a passage at a time
        (``[query tokens, rows]`` each, in the given order); see :attr:`reads_alone`."""
        contents = self._contents
        if contents is None or not len(positions):
            return []
        chosen = np.asarray(positions, dtype=np.int64)
        rows = contents.decompress(chosen, alone=True)
        similarities = (query.float() @ rows.T).numpy()
        return np.split(similarities, np.cumsum(contents.doclens[chosen])[:-1], axis=1)

    def embeddings(self, positions: Sequence[int]) -> list[torch.Tensor]:
        """Token embeddings of these documents, decompressed, in the given order."""
        import torch

        contents = self._contents
        if contents is None or not len(positions):
            return []
        chosen = np.asarray(positions, dtype=np.int64)
        lengths = contents.doclens[chosen].tolist()
        return list(torch.split(contents.decompress(chosen), lengths))

    def remove_litter(self, keep: int) -> None:
        """Delete generation folders other than ``keep`` (left by crashes or replaced)."""
        for path in self.root.iterdir():
            match = GENERATION_FOLDER.match(path.name)
            if match and path.is_dir() and (int(match.group(1)) != keep or match.group(2)):
                shutil.rmtree(path, ignore_errors=True)
