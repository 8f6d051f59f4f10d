"""The numerics-sensitive tests once more under other CPU kernels than this machine picks.

A float sum depends on the order of its operations, which depends on the CPU's
vector width (AVX-512, AVX2, none). Tests that compare scores across code paths
use a tolerance (``tests/numerics.py``); this runs them again with PyTorch's
plain kernels (``ATEN_CPU_CAPABILITY=default``), OpenBLAS's AVX2 kernels and
numpy without AVX-512, so a machine with another CPU cannot break the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OTHER_KERNELS = {
    "ATEN_CPU_CAPABILITY": "default",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}


def test_numerics_sensitive_tests_pass_under_other_cpu_kernels():
    env = {**os.environ, **OTHER_KERNELS}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "numerics", "-p", "no:cacheprovider",
         "-W", "ignore::UserWarning", "tests"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    tail = (run.stdout + run.stderr)[-3000:]
    assert run.returncode == 0, tail
    assert " passed" in tail and "deselected" in tail, tail
