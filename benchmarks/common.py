"""What the benchmarks share: Python's library docs as text, and the offline models.

The models are the test suite's own local stand-ins (``tests/local_models.py``, no
model hub): this module is the one place that reaches into ``tests/``, so each
benchmark imports its helpers from here and from no other benchmark.

    from common import build_standin, docs_folder, source_texts
"""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from local_models import build_shape_twin, build_standin  # noqa: E402

# Python's library docs as reStructuredText (python3-doc); PYTHON_DOCS_GLOB points elsewhere
DOCS_GLOB = os.environ.get("PYTHON_DOCS_GLOB",
                           "/usr/share/doc/python3*/html/_sources/library/*.txt")
_MISSING = "error: Python's docs are missing; install python3-doc (scripts/setup.sh does)"

__all__ = ["HERE", "build_shape_twin", "build_standin", "docs_folder", "source_texts"]


def source_texts() -> list[str]:
    """Every page that ``DOCS_GLOB`` matches, in path order (the encoding, memory and
    query-path benchmarks cut their documents from these, so their inputs stay fixed)."""
    paths = sorted(glob.glob(DOCS_GLOB))
    if not paths:
        sys.exit(_MISSING)
    return [Path(p).read_text(encoding="utf-8") for p in paths]


def docs_folder() -> Path:
    """The first folder of Python's library pages (one copy of each page)."""
    found = sorted({str(Path(p).parent) for p in glob.glob(DOCS_GLOB)})
    if not found:
        sys.exit(_MISSING)
    return Path(found[0])
