"""A replace on a Qdrant Edge folder is atomic for readers: killed (SIGKILL) before any
step of it, the folder shows the old version or the new one, whole, never neither
and never both; the next write finishes a committed replace, and the next write of
the same id clears what an uncommitted one left."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from longcolbert import open_index

pytest.importorskip("qdrant_edge")

OLD = " ".join(f"Sentence {i} of the old version tells of comets and their tails."
               for i in range(30))
NEW = " ".join(f"Sentence {i} of the new version tells of glaciers and their valleys."
               for i in range(30))
OTHER = "An unrelated note about baking bread with a sourdough starter."

# Runs one replace of "doc", killing its own process just before the client call
# numbered ``stop`` (0: the first) that changes the folder.
WRITER = r"""
import os, signal, sys
from longcolbert import open_index

path, model, stop, text = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
index = open_index(path, model=model)
calls = [0]
for name in ("upsert", "delete", "set_payload", "overwrite_payload", "delete_payload",
             "batch_update_points"):
    original = getattr(index.client, name, None)
    if original is None:
        continue
    def counted(*args, _original=original, **kwargs):
        if calls[0] == stop:
            os.kill(os.getpid(), signal.SIGKILL)
        calls[0] += 1
        return _original(*args, **kwargs)
    setattr(index.client, name, counted)
index.add([text], ids=["doc"])
print("finished after", calls[0], "writes", flush=True)
"""


def _replace_killed_at(folder: Path, model: str, stop: int, text: str) -> bool:
    """Replace "doc" by ``text`` in another process killed before write ``stop``;
    True if the replace finished (there were fewer writes than ``stop``)."""
    run = subprocess.run([sys.executable, "-c", WRITER, str(folder), model, str(stop), text],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, -9), run.stderr[-2000:]
    return run.returncode == 0


def _seen(folder: Path, model: str) -> str:
    """The version of "doc" every read path shows (checked to agree), as "old" or "new"."""
    with open_index(folder, model=model) as index:
        assert sorted(index.ids()) == ["doc", "other"]
        assert len(index) == 2
        text = index.get("doc").text
        assert text in (OLD, NEW), "a mix of both versions"
        hits = index.search("what do the sentences tell of", k=5)
        assert sorted(h.id for h in hits) == ["doc", "other"], "a version twice, or none"
        hit = next(h for h in hits if h.id == "doc")
        for passage in hit.passages:
            assert text[passage.start:passage.end] == passage.text
        counts = index.term_document_counts(["comet", "glacier"])
    version = "old" if text == OLD else "new"
    assert set(counts) == ({"comet"} if version == "old" else {"glacier"}), (
        "the other version's words are still counted")
    return version


def test_a_replace_killed_before_any_of_its_writes_leaves_old_or_new_whole(
        tmp_path, standin_path):
    start = tmp_path / "start"
    with open_index(start, create=True, backend="qdrant", model=standin_path) as index:
        index.add([OLD, OTHER], ids=["doc", "other"])
    seen = []
    for stop in range(20):
        folder = tmp_path / f"killed-{stop}"
        shutil.copytree(start, folder)
        finished = _replace_killed_at(folder, standin_path, stop, NEW)
        seen.append(_seen(folder, standin_path))
        # the next write of another document finishes a committed replace ...
        with open_index(folder, model=standin_path) as index:
            index.add(["A short note on violins."], ids=["third"])
            index.delete(["third"])
        assert _seen(folder, standin_path) == seen[-1]
        # ... and the next write of the same id clears what an uncommitted one left
        with open_index(folder, model=standin_path) as index:
            index.add([OLD if seen[-1] == "old" else NEW], ids=["doc"])
            points, _ = index.client.scroll(index.collection, limit=10_000,
                                            with_payload=["doc_id", "write", "visible"])
            writes = {p.payload.get("write") for p in points if p.payload.get("doc_id") == "doc"}
            assert len(writes) == 1, "a killed replace left points behind"
            assert all(p.payload.get("visible") == 1 for p in points
                       if p.payload.get("doc_id") in ("doc", "other"))
        assert _seen(folder, standin_path) == seen[-1]
        if finished:
            break
    assert seen[0] == "old" and seen[-1] == "new" and finished, seen
    assert seen == sorted(seen, key=["old", "new"].index), "new, then old again"
