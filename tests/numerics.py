"""Comparing results across code paths: structure exactly, floats with a tolerance.

Two code paths that sum in a different order (batched against one at a time,
AVX-512 against AVX2 kernels) agree to about 1e-6, not bit for bit.

>>> same_within({"score": 0.1 + 0.2, "ids": ["a"]}, {"score": 0.3, "ids": ["a"]})
True
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

REL = 1e-5
ABS = 1e-5


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy / torch scalars
        return value.item()
    return value


def difference(a: Any, b: Any, where: str = "") -> str | None:
    """Where ``a`` and ``b`` first differ (floats within REL/ABS count as equal), or None."""
    a, b = _plain(a), _plain(b)
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(
            a, b, rel_tol=REL, abs_tol=ABS
        ):
            return None
        return f"{where or 'value'}: {a!r} != {b!r}"
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{where or 'value'}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            found = difference(a[key], b[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where or 'value'}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            found = difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{where or 'value'}: {a!r} != {b!r}"


def same_within(a: Any, b: Any) -> bool:
    return difference(a, b) is None


def assert_same_within(a: Any, b: Any) -> None:
    """Assert ``a`` equals ``b`` with every float compared by tolerance."""
    found = difference(a, b)
    assert found is None, found
