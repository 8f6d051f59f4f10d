"""Arrays as base64 text in a JSON payload: read back whole, far faster than lists.

A Qdrant payload is JSON, and a point's multivector comes back as Python floats, one
object per coordinate. The Qdrant backend keeps what it reads back in bulk (each
segment's token bytes, token char spans and the document's sentence units) as base64
text instead: one string per field, decoded at once (by pybase64's SIMD decoder: the
standard library's took 10 ms of a search's read-back of 30 documents, pybase64
0.3 ms). Nothing here imports torch, so ``info`` and ``delete`` stay light.

>>> int32_from_text(int32_as_text(np.array([[0, 5], [6, 9]]))).reshape(-1, 2).tolist()
[[0, 5], [6, 9]]
"""

from __future__ import annotations

import numpy as np
import pybase64


def bytes_as_text(stored: np.ndarray) -> str:
    """Stored bytes ``[n, dim + 1]`` as base64 text, for a JSON payload: read back whole
    much faster than a multivector, whose every coordinate becomes a Python float.

    >>> bytes_as_text(np.array([[1, 2, 3]], dtype=np.uint8))
    'AQID'
    """
    return pybase64.b64encode(np.ascontiguousarray(stored, dtype=np.uint8).tobytes()).decode("ascii")


def bytes_from_text(text: str, rows: int, width: int) -> np.ndarray:
    """:func:`bytes_as_text`'s text back as ``[rows, width]`` uint8; ValueError if it is not
    base64 of exactly that many bytes.

    >>> bytes_from_text("AQID", 1, 3).tolist()
    [[1, 2, 3]]
    """
    raw = _decoded(text, "stored token bytes")
    if len(raw) != rows * width:
        raise ValueError(f"{len(raw)} stored token bytes, not {rows} x {width}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(rows, width)


def int32_as_text(values: np.ndarray) -> str:
    """Integers (each within int32) as base64 text of their little-endian int32 bytes,
    for a JSON payload: token offsets and sentence units, read back far faster than
    a list of numbers.

    >>> int32_as_text(np.array([[0, 5], [6, 9]]))
    'AAAAAAUAAAAGAAAACQAAAA=='
    """
    return pybase64.b64encode(np.ascontiguousarray(values, dtype="<i4").tobytes()).decode("ascii")


def int32_from_text(text: str) -> np.ndarray:
    """:func:`int32_as_text`'s text back as a flat int32 array; ValueError if it is not
    base64 of whole int32 values.

    >>> int32_from_text('AAAAAAUAAAAGAAAACQAAAA==').tolist()
    [0, 5, 6, 9]
    """
    raw = _decoded(text, "stored integers")
    if len(raw) % 4:
        raise ValueError(f"{len(raw)} bytes are not whole int32 values")
    return np.frombuffer(raw, dtype="<i4")


def spans_from_text(text: str) -> np.ndarray:
    """:func:`int32_as_text`'s text of char spans back as ``[n, 2]`` int64 (token
    offsets, sentence units); ValueError if it is not base64 of whole pairs.

    >>> spans_from_text('AAAAAAUAAAAGAAAACQAAAA==').tolist()
    [[0, 5], [6, 9]]
    """
    return int32_from_text(text).reshape(-1, 2).astype(np.int64)


def _decoded(text: str, what: str) -> bytes:
    """Strict base64 ``text`` as bytes; ValueError for anything else (another type, a
    character outside the alphabet, bad padding).

    >>> _decoded("AQID", "bytes")
    b'\\x01\\x02\\x03'
    >>> _decoded("AQ=D", "bytes")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    binascii.Error: Non-base64 digit found
    """
    if not isinstance(text, str):
        raise ValueError(f"{what} are not text")
    return pybase64.b64decode(text, validate=True)
