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
