"""longcolbert's metadata filters (:mod:`longcolbert.filters`) as a Qdrant payload filter.

The same syntax as the embedded index: a value (equality), a list (any of),
operators ``$eq $ne $in $nin $gt $gte $lt $lte $contains`` and ``$and`` / ``$or``.
Metadata lives under the payload key ``metadata``; ``$ne`` and ``$nin`` match
documents without the field, as in the embedded index. Qdrant compares numbers
only, so ``$gt`` and friends on strings are refused here with the remedy.

>>> from qdrant_client import models  # doctest: +SKIP
>>> qdrant_filter({"topic": "law", "year": {"$gte": 2020}})  # doctest: +SKIP
Filter(must=[FieldCondition(key='metadata.topic', ...), FieldCondition(key='metadata.year', range=Range(gte=2020.0))])
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping

from ..errors import DamagedIndexError, InvalidInputError
from ..filters import EXAMPLE
from ..filters import where as filter_condition

_RANGES = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}


def qdrant_filter(where: Mapping[str, Any]) -> Any:
    """A ``qdrant_client.models.Filter`` for the longcolbert filter ``where``.

    The filter is checked by the embedded index's own compiler first, so a bad one
    fails with the same one-line error on either backend."""
    filter_condition(where)
    return _translate(where)


def _translate(where: Mapping[str, Any]) -> Any:
    from qdrant_client import models

    must: list[Any] = []
    for key, value in where.items():
        if key in ("$and", "$or"):
            parts = [_translate(part) for part in value]
            must.append(models.Filter(must=parts) if key == "$and" else models.Filter(should=parts))
        else:
            must.append(_field(_key(key), value))
    return models.Filter(must=must)


def _key(key: Any) -> str:
    if not isinstance(key, str) or not key or key.startswith("$") or any(c in key for c in '".[]'):
        raise InvalidInputError(
            f"bad filter key {key!r} for a Qdrant index; use a metadata field name without "
            f"dots, brackets or quotes, {EXAMPLE}"
        )
    return f"metadata.{key}"


def _field(key: str, value: Any) -> Any:
    """The condition on one metadata field."""
    from qdrant_client import models

    if isinstance(value, Mapping):
        return models.Filter(must=[_operator(key, op, v) for op, v in value.items()])
    if isinstance(value, list):
        return _any_of(key, value)
    return _any_of(key, [value])


def _any_of(key: str, values: list[Any]) -> Any:
    """The field equals one of ``values`` (None: missing or null)."""
    from qdrant_client import models

    present = [v for v in values if v is not None]
    should: list[Any] = []
    if present:
        should.append(models.FieldCondition(key=key, match=models.MatchAny(any=present))
                      if all(isinstance(v, (str, int)) and not isinstance(v, bool)
                             and _fits(v) for v in present)
                      and len({type(v) for v in present}) == 1
                      else models.Filter(should=[_equal(key, v) for v in present]))
    if len(present) < len(values):
        should.append(models.IsNullCondition(is_null=models.PayloadField(key=key)))
        should.append(models.IsEmptyCondition(is_empty=models.PayloadField(key=key)))
    if not should:
        return models.Filter(must=[models.HasIdCondition(has_id=[])])  # any of nothing
    return models.Filter(should=should)


def _operator(key: str, operator: str, value: Any) -> Any:
    from qdrant_client import models

    if operator == "$eq":
        return _any_of(key, [value])
    if operator == "$ne":
        return models.Filter(must_not=[_any_of(key, [value])])
    if operator in ("$in", "$nin"):
        inside = _any_of(key, value)
        return inside if operator == "$in" else models.Filter(must_not=[inside])
    if operator == "$contains":  # a list-valued field holds the value
        return _equal(key, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)) or abs(value) > 1e300:
        raise InvalidInputError(
            f"{operator} for {key!r} compares with a finite number in a Qdrant index "
            f"(got {value!r}); compare strings in the embedded index"
        )
    return models.FieldCondition(key=key, range=models.Range(**{_RANGES[operator]: value}))


def _fits(value: Any) -> bool:
    """Whether Qdrant can hold ``value`` as it is: text, a bool, a 64-bit integer."""
    return not isinstance(value, int) or isinstance(value, bool) or -(1 << 63) <= value < (1 << 63)


def _equal(key: str, value: Any) -> Any:
    """The field (or, for a list field, one of its items) equals ``value``: text, bools and
    64-bit integers match as they are; other numbers by a range of one point, so 2020.0
    finds 2020 as in the embedded index."""
    from qdrant_client import models

    if isinstance(value, (str, bool)) or (isinstance(value, int) and _fits(value)):
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))
    if isinstance(value, (int, float)) and math.isfinite(value) and abs(value) <= 1e300:
        return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))
    raise InvalidInputError(f"filter value {value!r} for {key!r} cannot be matched in a Qdrant "
                            "index; give text, a bool or a number within +-1e300")


def point_field(point: Any, key: str, *, vector: bool = False) -> Any:
    """A longcolbert point's payload field (or named ``vector``) ``key``; a point that
    lacks it (a damaged folder, or a collection written by other code) is a one-line
    DamagedIndexError, never a KeyError."""
    return payload_field(point.vector if vector else point.payload, key,
                         "vector" if vector else "payload field")


def payload_field(payload: Any, key: str, what: str = "payload field") -> Any:
    """:func:`point_field` on a payload (or vectors) already read from its point."""
    try:
        return payload[key]
    except (KeyError, TypeError, IndexError):
        raise DamagedIndexError(f"a point of the Qdrant collection has no {what} {key!r}"
                                ) from None


def kind_is(kind: str) -> Any:
    """The condition on a longcolbert point's ``kind``: ``"segment"`` (token vectors),
    ``"body"`` (what is read back of a segment), ``"unit"`` (a sentence's words),
    ``"codebook"`` or ``"centroids"`` (the first stage's codebook,
    :mod:`longcolbert.qdrant.codebook`)."""
    from qdrant_client import models

    return models.FieldCondition(key="kind", match=models.MatchValue(value=kind))


def scroll_points(client: Any, collection: str, condition: Any, per_request: int,
                  **selection: Any) -> Iterator[Any]:
    """Every point of ``collection`` that ``condition`` selects, ``per_request`` at a
    time; ``selection``: ``with_payload`` / ``with_vectors`` as ``QdrantClient.scroll``
    takes them."""
    offset = None
    while True:
        points, offset = client.scroll(collection, scroll_filter=condition, limit=per_request,
                                       offset=offset, **selection)
        yield from points
        if offset is None:
            return
