"""Runs Python code in a fresh interpreter, optionally with some packages made unimportable."""

from __future__ import annotations

import subprocess
import sys

_BLOCKER = """
import importlib.abc, sys
class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('not installed (blocked for this test): ' + name)
sys.meta_path.insert(0, _Blocked())
"""


def run_python(code: str, *, blocked: set[str] = frozenset()) -> str:
    """Stdout of ``code`` run by this interpreter; top-level packages in ``blocked`` fail to import."""
    prelude = _BLOCKER.format(blocked=set(blocked)) if blocked else ""
    done = subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def imported_packages(module: str) -> set[str]:
    """Top-level packages loaded by ``import module`` in a fresh interpreter."""
    out = run_python(f"import sys, {module}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))")
    return set(out.split())
