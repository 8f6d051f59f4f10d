"""The four distributions carry their license and metadata, and the integrations accept
any compatible longcolbert rather than one exact version."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [ROOT, *(ROOT / "integrations").iterdir()]


@pytest.mark.parametrize("folder", PACKAGES, ids=[p.name for p in PACKAGES])
def test_each_distribution_ships_its_license_and_metadata(folder):
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert "Apache License" in (folder / "LICENSE").read_text()[:200]
    assert project["keywords"] and any("Python :: 3" in c for c in project["classifiers"])
    pins = [d for d in project["dependencies"] if d.startswith("longcolbert")]
    assert all("==" not in d for d in pins), pins


@pytest.mark.parametrize("folder", PACKAGES[1:], ids=[p.name for p in PACKAGES[1:]])
def test_integration_readmes_stand_alone_and_agree_about_pypi(folder):
    # The README is the package's page on an index: a link out of the package breaks
    # there, and none of the four packages is on PyPI yet.
    text = (folder / "README.md").read_text()
    name = tomllib.loads((folder / "pyproject.toml").read_text())["project"]["name"]
    assert "](../" not in text
    assert f"pip install {name}\n" not in text and f"pip install ./integrations/{folder.name}" in text
    assert "Not on PyPI yet" in text


def test_the_core_declares_torch_and_fast_plaid_ranges():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch = next(d for d in deps if d.startswith("torch"))
    plaid = next(d for d in deps if d.startswith("fast-plaid"))
    assert "==" not in torch and ">=2.7" in torch and "<2.12" in torch
    assert "==" not in plaid
