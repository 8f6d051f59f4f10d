"""longcolbert installs beside a user's older torch and searches the same there.

The test builds ``.venv-torch2.7`` the first time it runs (a few minutes and about
6 GB; kept for the next runs, so the set-up installs only what a user needs): torch
2.7.0 installed first, as a user's app would have it, then ``pip install -e .``, which
must keep that torch and pick the fast-plaid built for it. The same small index and
search then run in both environments and must agree.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent
OLD_ENV = ROOT / ".venv-torch2.7"
OLD_TORCH = OLD_ENV / "bin" / "python"
BUILT = OLD_ENV / ".built"  # written last: an environment without it is built again


def _old_torch_environment() -> Path:
    """``.venv-torch2.7``, built once (torch 2.7.0 first, then longcolbert naming it)."""
    with FileLock(str(ROOT / ".venv-torch2.7.lock")):
        if not BUILT.exists():
            shutil.rmtree(OLD_ENV, ignore_errors=True)
            python = "python3" if shutil.which("python3") else sys.executable
            for command in ([python, "-m", "venv", str(OLD_ENV)],
                            [str(OLD_TORCH), "-m", "pip", "install", "-q", "--upgrade", "pip"],
                            [str(OLD_TORCH), "-m", "pip", "install", "-q", "torch==2.7.0"],
                            [str(OLD_TORCH), "-m", "pip", "install", "-q", "-e", ".",
                             "torch==2.7.0"]):
                done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                      timeout=1800)
                assert done.returncode == 0, done.stderr[-3000:]
            BUILT.write_text("torch==2.7.0\n")
    return OLD_TORCH

SMOKE = r"""
import json, sys
from importlib.metadata import version
from longcolbert import Index

folder, model = sys.argv[1], sys.argv[2]
index = Index(folder, model=model)
index.add([
    "Rivers carry water to the sea. Bridges cross them in many towns.",
    "Bread needs flour, water, salt and yeast, and a hot oven.",
    "Mars is the fourth planet from the sun and has two small moons.",
], ids=["rivers", "baking", "planets"])
hits = index.search("which planet has two moons", k=3)
print(json.dumps({
    "torch": version("torch"), "fast_plaid": version("fast-plaid"),
    "hits": [[h.id, h.score, h.passages[0].start, h.passages[0].end] for h in hits],
}))
"""


def _smoke(python: Path | str, folder: Path, model: str) -> dict:
    run = subprocess.run([str(python), "-c", SMOKE, str(folder), model], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_search_on_torch_2_7_matches_the_newest_torch(standin_path, tmp_path):
    old = _smoke(_old_torch_environment(), tmp_path / "old", standin_path)
    new = _smoke(sys.executable, tmp_path / "new", standin_path)
    assert old["torch"].startswith("2.7.0") and old["fast_plaid"] == "1.4.6.270", old
    assert not new["torch"].startswith("2.7."), new
    assert old["hits"][0][0] == "planets"
    assert [h[0] for h in old["hits"]] == [h[0] for h in new["hits"]]
    for (_, old_score, *old_span), (_, new_score, *new_span) in zip(old["hits"], new["hits"]):
        assert old_span == new_span
        assert old_score == pytest.approx(new_score, abs=1e-3)
