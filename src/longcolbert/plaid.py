"""The PLAID half of an index folder, through fast-plaid, written copy-on-write.

Each change builds a new generation folder ``plaid-<n>`` from a copy of the current
one; the store's commit of ``n`` is the moment the change happens. A crash before
that commit leaves the old generation in use and the new folder as litter, which
the next writer removes. Generation 0 is an empty index (no folder).

fast-plaid keeps small indexes' raw embeddings (``embeddings.npy``) and its update
buffer (``buffer.npy``) as pickled NumPy object arrays, and reloads them with
``allow_pickle=True``. longcolbert never lets it write them (``start_from_scratch``
below zero, no buffer) and refuses any folder whose ``.npy`` files hold objects.

>>> PlaidIndex.folder_name(3)
'plaid-3'
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .errors import UnsafeIndexError

_MIN_CREATE_TOKENS = 256
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
            raise UnsafeIndexError(
                f"{path} is not a valid NumPy array file ({exc}); the index folder is "
                "damaged: index the documents again into a new folder"
            ) from exc
        if dtype.hasobject:
            raise UnsafeIndexError(
                f"{path} holds pickled Python objects, which could run code when loaded; "
                "longcolbert refuses it: only open index folders you built, or rebuild this one"
            )


def _fsync_tree(folder: Path) -> None:
    """Flush the files of ``folder`` and the folder itself to disk."""
    for path in folder.iterdir():
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class PlaidIndex:
    """Search and copy-on-write updates over the PLAID generation folders of one index folder.

    ``n_ivf_probe`` is fast-plaid's search setting; ``n_full_scores`` caps the
    documents it scores exactly (four times the asked depth, at most this).
    """

    def __init__(
        self,
        root: Path,
        generation: int,
        *,
        device: str = "cpu",
        n_full_scores: int = 4096,
        n_ivf_probe: int = 8,
    ):
        self.root = Path(root)
        self.device = device
        self.n_full_scores = n_full_scores
        self.n_ivf_probe = n_ivf_probe
        self.generation = -1
        self._index: Any = None
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
        self.close()
        self.generation = generation
        folder = self.path(generation)
        if folder.is_dir():  # an empty index has no folder
            check_safe(folder)
            self._index = self._open(folder)

    def _open(self, folder: Path) -> Any:
        from fast_plaid import search

        return search.FastPlaid(index=str(folder), device=self.device)

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
        self._index = None

    @property
    def empty(self) -> bool:
        return self._index is None

    def search(
        self, query: torch.Tensor, top_k: int, subset: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top ``top_k`` (PLAID position, score) for one query, within ``subset`` if given."""
        if self._index is None or top_k <= 0:
            return []
        results = self._index.search(
            queries_embeddings=query.unsqueeze(0).float(),
            top_k=top_k,
            n_full_scores=max(top_k, min(self.n_full_scores, 4 * top_k)),
            n_ivf_probe=self.n_ivf_probe,
            show_progress=False,
            subset=[list(subset)] if subset is not None else None,
        )
        return [(int(p), float(s)) for p, s in results[0]]

    def embeddings(self, plaid_ids: Sequence[int]) -> list[torch.Tensor]:
        """Token embeddings of these documents, decompressed from the PLAID codes."""
        if self._index is None or not plaid_ids:
            return []
        return [e.float() for e in self._index.get_embeddings(list(plaid_ids))]

    def build_next(
        self,
        generation: int,
        *,
        remaining: int,
        delete: Sequence[int],
        add: Sequence[torch.Tensor],
    ) -> None:
        """Write generation ``generation``: the current one less ``delete``, plus ``add`` at the end.

        ``remaining`` is how many current documents stay. Nothing in use is touched;
        the caller commits the new generation in the store, then calls :meth:`load`.
        """
        from fast_plaid import search

        target = self.path(generation)
        temporary = target.with_name(target.name + ".tmp")
        for stale in (target, temporary):
            shutil.rmtree(stale, ignore_errors=True)
        if remaining == 0 and not add:
            return  # an empty index has no folder
        source = self.path() if self._index is not None else None
        if source is not None and remaining > 0:
            shutil.copytree(source, temporary, ignore=shutil.ignore_patterns("*.lock"))
        else:
            temporary.mkdir(parents=True)
        check_safe(temporary)
        writer = search.FastPlaid(index=str(temporary), device=self.device)
        try:
            if source is not None and remaining > 0 and delete:
                writer.delete(list(delete))
            embeddings = [e.float().cpu() for e in add]
            if embeddings and remaining > 0:
                writer.update(embeddings, start_from_scratch=-1, buffer_size=0)
            elif embeddings:
                self._create(writer, embeddings)
        finally:
            writer.close()
        check_safe(temporary)
        (temporary / "plaid.lock").unlink(missing_ok=True)
        _fsync_tree(temporary)
        temporary.rename(target)
        _fsync_dir(self.root)

    @staticmethod
    def _create(writer: Any, embeddings: list[torch.Tensor]) -> None:
        """Create a fresh PLAID index; a tiny one gets a temporary filler document.

        fast-plaid cannot train its codec on a handful of tokens ("no heldout
        samples"), and exact duplicates break its k-means, so the real rows are
        repeated with a little seeded noise into one extra document that is deleted
        right after creation.
        """
        tokens = sum(e.shape[0] for e in embeddings)
        if tokens >= _MIN_CREATE_TOKENS:
            writer.create(embeddings, start_from_scratch=-1)
            return
        rows = torch.cat(embeddings)
        repeats = -(-_MIN_CREATE_TOKENS // rows.shape[0])
        noise = torch.randn(
            (repeats * rows.shape[0], rows.shape[1]), generator=torch.Generator().manual_seed(0)
        )
        filler = torch.nn.functional.normalize(rows.repeat(repeats, 1) + 0.01 * noise, dim=-1)
        filler = filler[:_MIN_CREATE_TOKENS]
        writer.create(embeddings + [filler], start_from_scratch=-1)
        writer.delete([len(embeddings)])

    def remove_litter(self, keep: int) -> None:
        """Delete generation folders other than ``keep`` (left by crashes or replaced)."""
        for path in self.root.iterdir():
            match = _GENERATION.match(path.name)
            if match and path.is_dir() and (int(match.group(1)) != keep or match.group(2)):
                shutil.rmtree(path, ignore_errors=True)
