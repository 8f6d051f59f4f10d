"""Kills at random moments and concurrent readers: an index folder is always one committed
state, whole, and readers never see a half-written change or a false "damaged" error."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from longcolbert import Index

WORDS = ("river bridge planet notice bread garden engine harbour violin meadow lantern "
         "copper glacier orchard compass thunder").split()

WRITER = r"""
import json, random, sys
from longcolbert import Index

path, model, trial, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ops = json.loads(sys.argv[5])
index = Index(path, model=model, batch_tokens=2048, token_budget=1024)
print("ready", flush=True)
for number, (kind, ids, texts) in enumerate(ops):
    if kind == "delete":
        index.delete(ids)
    else:
        index.add(texts, ids=ids, metadatas=[{"trial": trial}] * len(ids))
    print(number, flush=True)
"""


def _text(rng: random.Random, label: str) -> str:
    sentences = [" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "."
                 for _ in range(rng.randint(10, 40))]
    return f"{label}. " + " ".join(sentences)


def _plan(trial: int, rng: random.Random, groups: dict[str, list[str]]) -> list:
    """Adds, upserts and deletes of whole groups of documents, in order."""
    ops, mine = [], []
    for op in range(8):
        choice = rng.random()
        if choice < 0.25 and mine:
            group = mine.pop(rng.randrange(len(mine)))
            ops.append(("delete", groups.pop(group), []))
        elif choice < 0.45 and mine:
            group = rng.choice(mine)
            ops.append(("add", groups[group], [_text(rng, f"{i} again {op}") for i in groups[group]]))
        else:
            group = f"t{trial}-g{op}"
            groups[group] = [f"{group}-{j}" for j in range(rng.randint(2, 5))]
            mine.append(group)
            ops.append(("add", groups[group], [_text(rng, i) for i in groups[group]]))
    return ops


def _apply(state: dict[str, str], op) -> dict[str, str]:
    kind, ids, texts = op
    state = dict(state)
    if kind == "delete":
        for doc_id in ids:
            state.pop(doc_id)
    else:
        state.update(zip(ids, texts))
    return state


def _stored(path: Path, model: str) -> dict[str, str]:
    """Every stored document, after checking the folder opens, describes itself and searches."""
    with Index(path, model=model, create=False) as index:
        info = index.info()
        state = {doc_id: index.get(doc_id).text for doc_id in index.ids()}
        assert info["documents"] == len(state)
        if state:
            some = sorted(state)[len(state) // 2]
            hits = index.search(state[some][:200], k=3)
            assert len(hits) == min(3, len(state)) and {h.id for h in hits} <= set(state)
            for hit in hits:
                for passage in hit.passages:
                    assert state[hit.id][passage.start:passage.end] == passage.text
    return state


def test_twenty_kills_at_random_moments_of_adds_and_deletes(tmp_path, standin_path):
    path = tmp_path / "idx"
    rng = random.Random(13)
    with Index(path, model=standin_path) as index:
        index.add([_text(rng, "base")], ids=["base"])
    state = _stored(path, standin_path)
    groups: dict[str, list[str]] = {}
    kills = 0
    for trial in range(14):  # the Python API: many ops per process, killed in one of them
        ops = _plan(trial, rng, groups)
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), standin_path, str(trial), "0", json.dumps(ops)],
            stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 2.5))
        os.kill(proc.pid, signal.SIGKILL)
        kills += 1
        done = [line for line in proc.stdout.read().split() if line.isdigit()]
        proc.wait()
        expected = state
        for op in ops[: len(done)]:
            expected = _apply(expected, op)
        after_next = _apply(expected, ops[len(done)]) if len(done) < len(ops) else expected
        state = _stored(path, standin_path)
        assert state in (expected, after_next), f"trial {trial}: a change is half present"
        for group, ids in list(groups.items()):  # forget groups that did not land
            if not set(ids) <= set(state):
                groups.pop(group)
    files = tmp_path / "files"
    files.mkdir()
    exe = Path(sys.executable).with_name("longcolbert")
    for trial in range(8):  # the CLI: an index of a folder, or a delete, killed midway
        before = state
        if trial % 4 == 3 and any(i.endswith(".txt") for i in state):
            ids = [i for i in state if i.endswith(".txt")]
            command = [exe, "delete", path, *ids]
            after = {k: v for k, v in state.items() if k not in ids}
        else:
            texts = {f"f{trial}-{j}.txt": _text(rng, f"file {trial} {j}") for j in range(12)}
            for name, text in texts.items():
                (files / name).write_text(text)
            command = [exe, "index", path, files, "--model", standin_path]
            after = {**state, **{p.name: p.read_text() for p in files.iterdir()}}
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 6.0))
        os.kill(proc.pid, signal.SIGKILL)
        kills += 1
        proc.wait()
        state = _stored(path, standin_path)
        assert state in (before, after), f"CLI trial {trial}: a change is half present"
        for name in list(p.name for p in files.iterdir()):  # files not indexed are dropped
            if name not in state:
                (files / name).unlink()
    assert kills >= 20
    out = subprocess.run([exe, "info", path, "--json"], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out)["documents"] == len(state)
    leftovers = [p.name for p in path.iterdir() if p.name.startswith("plaid-")]
    assert len(leftovers) <= 2  # the committed generation, and at most one being written


READER = r"""
import json, sys, time
from longcolbert import Index

path, model, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
# generations are what is tested: no re-reading, so many searches meet the writes
index = Index(path, model=model, create=False, reread=False)
searches, errors, mixed = 0, [], []
end = time.time() + seconds
while time.time() < end:
    try:
        hits = index.search("river planet notice", k=50, passages=1)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        continue
    searches += 1
    rounds = {}
    for hit in hits:
        group = hit.id.rsplit("-", 1)[0]
        rounds.setdefault(group, set()).add((hit.metadata.get("round"), hit.passages[0].text[:9]))
    counts = {}
    for hit in hits:
        counts[hit.id.rsplit("-", 1)[0]] = counts.get(hit.id.rsplit("-", 1)[0], 0) + 1
    for group, seen in rounds.items():
        if len({r for r, _ in seen}) != 1 or counts[group] != 3:
            mixed.append([group, sorted(map(str, seen)), counts[group]])
print(json.dumps({"searches": searches, "errors": errors[:5], "n_errors": len(errors),
                  "mixed": mixed[:5]}))
"""


def test_readers_in_other_processes_see_one_generation_while_a_writer_works(
        tmp_path, standin_path):
    path = tmp_path / "idx"
    seconds = 60.0
    writer = Index(path, model=standin_path)
    groups = [f"g{n}" for n in range(5)]
    for round_ in range(2):
        writer.add([f"Round {round_} of {g} member {j}: river planet notice, {g} {j}."
                    for g in groups for j in range(3)],
                   ids=[f"{g}-{j}" for g in groups for j in range(3)],
                   metadatas=[{"round": round_}] * 15)
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(path), standin_path,
                                 str(seconds)], stdout=subprocess.PIPE, text=True)
               for _ in range(3)]
    end, round_, writes = time.time() + seconds + 5, 2, 0
    rng = random.Random(5)
    while any(r.poll() is None for r in readers) and time.time() < end:
        group = rng.choice(groups)
        ids = [f"{group}-{j}" for j in range(3)]
        if rng.random() < 0.3 and ids[0] in writer.ids():
            writer.delete(ids)  # the whole group goes at once
        else:  # added or upserted at once, every member with the same round
            writer.add([f"Round {round_} of {group} member {j}: river planet notice." for j in
                        range(3)], ids=ids, metadatas=[{"round": round_}] * 3)
        round_ += 1
        writes += 1
    reports = [json.loads(r.communicate()[0]) for r in readers]
    assert writes >= 20
    for report in reports:
        assert report["searches"] >= 20, report
        assert report["n_errors"] == 0, report["errors"]
        assert report["mixed"] == [], report["mixed"]


def test_searches_in_threads_neither_fail_nor_wait_for_a_whole_add(tmp_path, standin_model):
    rng = random.Random(3)
    index = Index(tmp_path / "idx", model=standin_model, token_budget=512)
    index.add(["Jupiter is the largest planet of the solar system."], ids=["jupiter"])
    texts = [_text(rng, f"doc {i}") for i in range(60)]  # many forward batches
    adding = threading.Thread(target=index.add, args=(texts,),
                              kwargs={"ids": [f"d{i}" for i in range(60)]})
    failures: list[str] = []
    during = 0

    def search_loop() -> None:
        nonlocal during
        while adding.is_alive():
            try:
                hits = index.search("largest planet", k=3)
                assert hits and hits[0].id == "jupiter"
                during += adding.is_alive()
            except Exception as exc:  # "Already borrowed" was one
                failures.append(f"{type(exc).__name__}: {exc}")
                return

    adding.start()
    searchers = [threading.Thread(target=search_loop) for _ in range(2)]
    for thread in searchers:
        thread.start()
    for thread in [adding, *searchers]:
        thread.join()
    assert failures == []
    assert during >= 2, "searches waited for the whole add"
    assert index.encoder._twin is not None  # queries ran on the copy while documents encoded
    assert len(index) == 61
