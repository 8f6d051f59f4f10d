"""Small documents and a real PDF that several test packages index."""

from __future__ import annotations

from pathlib import Path

import pytest

DOCS = {
    "contract": "Employment contract. Either party may terminate this agreement. "
    "The notice period for termination is three months, given in writing.",
    "recipe": "Bake the bread at 220 degrees for forty minutes. Let the dough rise overnight.",
    "astronomy": "Jupiter is the largest planet of the solar system. It has many moons.",
    "python": "The os module returns the current working directory with getcwd.",
    "garden": "Water tomatoes in the morning. Prune the roses in early spring.",
}
META = {
    "contract": {"topic": "law", "year": 2021},
    "recipe": {"topic": "food", "year": 2020},
    "astronomy": {"topic": "science", "year": 2021},
    "python": {"topic": "software", "year": 2023},
    "garden": {"topic": "home", "year": 2020},
}

REAL_PDF = Path("/usr/share/doc/texlive-doc/generic/hyph-utf8/hyphenation-distribution.pdf")
needs_pdf = pytest.mark.skipif(
    not REAL_PDF.exists(), reason="texlive-latex-base-doc is not installed (the set-up installs it)"
)
