"""A generated hostile-folder suite for both backends: every file and folder of a freshly
built index replaced in turn by a link (inside, outside, dangling), truncated, filled
with garbage or removed; then info, search, add and delete. Each must work or raise one
``LongColBERTError`` line, write nothing outside the folder, and never let a
dependency's ``BaseException`` (a Rust panic) escape; an ``info`` that answers reports
the true count."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from longcolbert import LongColBERTError, open_index
from longcolbert.cli import main

from corpus import DOCS

OUTSIDE_BYTES = 3_000_000
FOLDER_KINDS = ("link outside", "removed")


@pytest.fixture(scope="module", params=["embedded", "qdrant"])
def pristine(request, tmp_path_factory, standin_model) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp(f"pristine-{request.param}") / "idx"
    with open_index(folder, create=True, backend=request.param, model=standin_model) as index:
        index.add(list(DOCS.values()), ids=list(DOCS))
    return request.param, folder


def entries(folder: Path) -> list[Path]:
    """Every file and folder inside ``folder``, in a fixed order."""
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


LINKS = ("link outside", "link inside", "dangling link")
DAMAGE = ("truncated", "garbage", "removed")


def variants(folder: Path, every_damage: bool) -> list[tuple[Path, str]]:
    """Every link kind for every entry, and every damage for every entry when
    ``every_damage``; else (a Qdrant shard) every damage only for the files outside
    its segments (the marker, the shard's config, its write-ahead log). Qdrant
    Edge, given some damaged segment files, allocates without bound (a run of every
    damage over every file ended with "memory allocation failed" on a 24 GiB
    machine), so that sweep is the ``slow`` test below, not the default run."""
    found = []
    for entry in entries(folder):
        if (folder / entry).is_dir():
            found += [(entry, kind) for kind in FOLDER_KINDS]
            continue
        found += [(entry, kind) for kind in LINKS]
        if every_damage or "segments" not in entry.parts:
            found += [(entry, kind) for kind in DAMAGE]
    return found


def damage(folder: Path, entry: Path, kind: str, outside: Path, dangling: Path) -> None:
    """Apply one variant to ``folder / entry``."""
    target = folder / entry
    if kind == "removed":
        subprocess.run(["rm", "-rf", str(target)], check=True)
    elif kind.startswith("link") or kind == "dangling link":
        subprocess.run(["rm", "-rf", str(target)], check=True)
        pointed = {"link outside": outside, "dangling link": dangling}.get(kind)
        if pointed is None:  # another file of the same folder
            pointed = next(p for p in sorted(folder.rglob("*")) if p.is_file() and p != target)
        os.symlink(pointed, target)
    elif kind == "truncated":
        with open(target, "r+b") as handle:
            handle.truncate(target.stat().st_size // 2)
    elif kind == "garbage":
        size = max(target.stat().st_size, 64)
        target.write_bytes(hashlib.sha256(str(entry).encode()).digest() * (size // 32 + 1))


def operations(folder: Path, model) -> dict[str, Callable[[], object]]:
    def run(action: Callable) -> Callable[[], object]:
        def call() -> object:
            with open_index(folder, model=model) as index:
                return action(index)
        return call

    return {
        "info": run(lambda index: index.info()),
        "search": run(lambda index: index.search("which planet has rings", k=2)),
        "add": run(lambda index: index.add(["Comets grow tails near the sun."], ids=["new"])),
        "delete": run(lambda index: index.delete(["garden"])),
    }


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_variant_works_or_refuses_in_one_line(pristine, tmp_path, standin_model):
    backend, source = pristine
    check_variants(backend, source, tmp_path, standin_model, every_damage=backend == "embedded")


@pytest.mark.slow
def test_every_damage_of_every_qdrant_file(pristine, tmp_path, standin_model):
    backend, source = pristine
    if backend != "qdrant":
        pytest.skip("the default run covers every damage of an embedded folder")
    check_variants(backend, source, tmp_path, standin_model, every_damage=True)


def check_variants(backend: str, source: Path, tmp_path: Path, model, every_damage: bool
                   ) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"o" * OUTSIDE_BYTES)
    before = digest(outside)
    dangling = tmp_path / "nothing-here" / "made.bin"
    run, problems = 0, []
    for entry, kind in variants(source, every_damage):
        folder = tmp_path / "variant"
        subprocess.run(["rm", "-rf", str(folder)], check=True)
        subprocess.run(["cp", "-r", "--sparse=always", str(source), str(folder)], check=True)
        damage(folder, entry, kind, outside, dangling)
        for name, operation in operations(folder, model).items():
            run += 1
            what = f"{backend}: {entry} {kind}, {name}"
            try:
                answer = operation()
            except LongColBERTError as exc:
                if "\n" in str(exc) or not str(exc):
                    problems.append(f"{what}: not one line: {exc!r}")
                continue
            except BaseException as exc:  # a panic is what this looks for
                problems.append(f"{what}: {type(exc).__module__}.{type(exc).__name__}: "
                                f"{str(exc)[:120]}")
                continue
            if name == "info" and isinstance(answer, dict) and answer["documents"] != len(DOCS):
                problems.append(f"{what}: reported {answer['documents']} documents")
        if digest(outside) != before or dangling.exists():
            problems.append(f"{backend}: {entry} {kind}: wrote outside the folder")
            outside.write_bytes(b"o" * OUTSIDE_BYTES)
            subprocess.run(["rm", "-rf", str(dangling.parent)], check=True)
    print(f"{backend}: {run} variant operations")
    assert not problems, f"{len(problems)} of {run}:\n" + "\n".join(problems[:40])


def test_the_cli_refuses_a_linked_store_in_one_line(pristine, tmp_path, capsys):
    backend, source = pristine
    folder = tmp_path / "variant"
    subprocess.run(["cp", "-r", "--sparse=always", str(source), str(folder)], check=True)
    victim = next(p for p in sorted(folder.rglob("*")) if p.is_file() and p.stat().st_size)
    outside = tmp_path / "outside.db"
    outside.write_bytes(b"x" * OUTSIDE_BYTES)
    victim.unlink()
    os.symlink(outside, victim)
    for command in (["info", str(folder)], ["delete", str(folder), "garden"]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: {victim} is a link") and err.count("\n") == 1
    assert outside.stat().st_size == OUTSIDE_BYTES


def test_a_qdrant_folder_in_use_by_another_process_is_not_called_damaged(tmp_path,
                                                                          standin_model):
    import sys

    from longcolbert.qdrant.edge_client import EdgeClient

    folder = tmp_path / "q"
    with open_index(folder, create=True, backend="qdrant", model=standin_model) as index:
        index.add(list(DOCS.values()), ids=list(DOCS))
    holder = EdgeClient(folder)  # this process holds it open, as a notebook would
    try:
        done = subprocess.run([sys.executable, "-m", "longcolbert.cli", "info", str(folder)],
                              capture_output=True, text=True, timeout=300)
    finally:
        holder.close()
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ") and "open in another process" in done.stderr
    assert "damaged" not in done.stderr and "qdrant://" in done.stderr  # how to share it
