"""longcolbert installs beside a user's older torch and searches the same there.

``scripts/setup.sh`` builds ``.venv-torch2.7``: torch 2.7.0 installed first, as a user's
app would have it, then ``pip install -e .``, which must keep that torch and pick the
fast-plaid built for it. The same small index and search then run in both
environments and must agree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OLD_TORCH = ROOT / ".venv-torch2.7" / "bin" / "python"

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
    if not OLD_TORCH.exists():
        pytest.fail(f"{OLD_TORCH.parent.parent.name} is missing; run scripts/setup.sh")
    old = _smoke(OLD_TORCH, tmp_path / "old", standin_path)
    new = _smoke(sys.executable, tmp_path / "new", standin_path)
    assert old["torch"].startswith("2.7.0") and old["fast_plaid"] == "1.4.6.270", old
    assert not new["torch"].startswith("2.7."), new
    assert old["hits"][0][0] == "planets"
    assert [h[0] for h in old["hits"]] == [h[0] for h in new["hits"]]
    for (_, old_score, *old_span), (_, new_score, *new_span) in zip(old["hits"], new["hits"]):
        assert old_span == new_span
        assert old_score == pytest.approx(new_score, abs=1e-3)
