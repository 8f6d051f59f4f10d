"""Metadata filters, as Chroma and PGVector users write them, turned into one SQL condition.

A filter is a dict. Each key is a metadata field whose value must match:

* a value: equality (``{"topic": "law"}``); a list: any of (``{"topic": ["law", "hr"]}``);
* an operator dict: ``$eq $ne $in $nin $gt $gte $lt $lte`` and ``$contains`` (a
  list-valued field holds the value), several operators all applying
  (``{"year": {"$gte": 2020, "$lt": 2024}}``);

and ``$and`` / ``$or`` take lists of filters. Keys side by side must all match.
A filter holds at most :data:`MAX_CONDITIONS` conditions, nested at most
:data:`MAX_DEPTH` levels of ``$and`` / ``$or`` (:func:`check_size`): past that it
is refused in one line, before anything parses it (for a long list of values of
one field, use ``$in``, which takes any number).
``$ne`` and ``$nin`` also match documents without the field. The condition runs
inside the PLAID search (it picks the documents searched), so a filter never
returns fewer than ``k`` results when more match. Rows whose metadata is
unreadable match nothing.

>>> sql, params = where({"topic": "law", "year": {"$gte": 2020}})
>>> params
['$."topic"', '["law"]', '$."year"', 2020, '$."year"']
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from .errors import InvalidInputError

FIELD = "(CASE WHEN json_valid(metadata) THEN json_extract(metadata, ?) END)"
_LIST = ("CASE WHEN json_valid(metadata) AND json_type(metadata, ?) = 'array' "
         "THEN metadata END")
COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
OPERATORS = ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$contains")
EXAMPLE = "e.g. {'topic': ['law', 'hr'], 'year': {'$gte': 2020}}"
MAX_CONDITIONS = 256  # field conditions in one filter (SQLite's expression depth is 1,000)
MAX_DEPTH = 16  # levels of $and / $or


def check_size(filter: Any) -> None:
    """Refuse a filter with more than :data:`MAX_CONDITIONS` conditions or nested more
    than :data:`MAX_DEPTH` levels deep (walked without recursion, however deep it is).

    >>> check_size({"$or": [{"topic": str(i)} for i in range(1000)]})
    Traceback (most recent call last):
    ...
    longcolbert.errors.InvalidInputError: a filter takes at most 256 conditions (this one has more); for many values of one field use {'field': {'$in': [...]}}
    """
    pending, conditions = [(filter, 0)], 0
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise InvalidInputError(
                f"a filter nests $and / $or at most {MAX_DEPTH} levels deep; flatten it "
                "(a list under one $or, or $in for one field)")
        if not isinstance(node, Mapping):
            continue  # what it is is said by the parser
        for key, wanted in node.items():
            if key in ("$and", "$or") and isinstance(wanted, (list, tuple)):
                pending.extend((w, depth + 1) for w in wanted)
            else:
                conditions += len(wanted) if isinstance(wanted, Mapping) else 1
        if conditions > MAX_CONDITIONS:
            raise InvalidInputError(
                f"a filter takes at most {MAX_CONDITIONS} conditions (this one has more); for "
                "many values of one field use {'field': {'$in': [...]}}")


def _scalar(key: str, value: Any) -> Any:
    if value is not None and (not isinstance(value, (str, int, float, bool)) or (
            isinstance(value, float) and not math.isfinite(value))):
        raise InvalidInputError(
            f"filter value {value!r} for {key!r} is not a string, finite number, bool or None"
        )
    return int(value) if isinstance(value, bool) else value


def _path(key: Any) -> str:
    if not isinstance(key, str) or not key or '"' in key or key.startswith("$"):
        raise InvalidInputError(
            f"bad filter key {key!r}; use a metadata field name without double quotes "
            f"(operators such as $and go in a list), {EXAMPLE}"
        )
    return f'$."{key}"'


def _any_of(key: str, values: list[Any], params: list[Any]) -> str:
    """The field equals one of ``values`` (None: the field is missing or null)."""
    values = [_scalar(key, v) for v in values]
    if not values:
        return "0"
    parts = []
    if any(v is None for v in values):
        parts.append(f"{FIELD} IS NULL")
        params.append(_path(key))
    present = [v for v in values if v is not None]
    if present:
        parts.append(f"{FIELD} IN (SELECT value FROM json_each(?))")
        params.extend([_path(key), json.dumps(present)])
    return "(" + " OR ".join(parts) + ")"


def _none_of(inside: str) -> str:
    """Readable metadata where ``inside`` does not hold (a missing field included)."""
    return f"(json_valid(metadata) AND NOT COALESCE({inside}, 0))"


def _operator(key: str, operator: str, value: Any, params: list[Any]) -> str:
    if operator == "$eq":
        return _any_of(key, [value], params)
    if operator in ("$in", "$nin"):
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise InvalidInputError(f"{operator} on {key!r} takes a list of values, {EXAMPLE}")
        inside = _any_of(key, list(value), params)
        return inside if operator == "$in" else _none_of(inside)
    if operator == "$ne":
        return _none_of(_any_of(key, [value], params))
    if operator in COMPARISONS:
        value = _scalar(key, value)
        if value is None or isinstance(value, bool):
            raise InvalidInputError(f"{operator} on {key!r} compares with a number or a string")
        params.extend([_path(key), value, _path(key)])
        kind = "IN ('integer', 'real')" if isinstance(value, (int, float)) else "= 'text'"
        # numbers compare with numbers, text with text (never across, as SQLite would)
        return (f"({FIELD} {COMPARISONS[operator]} ? AND "
                f"json_type(CASE WHEN json_valid(metadata) THEN metadata END, ?) {kind})")
    if operator == "$contains":
        value = _scalar(key, value)
        params.extend([_path(key), _path(key), value])
        return (f"EXISTS (SELECT 1 FROM json_each(({_LIST}), ?) WHERE value = ?)")
    raise InvalidInputError(
        f"unknown filter operator {operator!r} on {key!r}; use one of {', '.join(OPERATORS)}, "
        "or $and / $or"
    )


def _condition(where: Any, params: list[Any]) -> str:
    if not isinstance(where, Mapping):
        raise InvalidInputError(
            f"a filter is a dict of metadata field -> value, list or operators, not a "
            f"{type(where).__name__}; {EXAMPLE}"
        )
    parts = []
    for key, wanted in where.items():
        if key in ("$and", "$or"):
            if not isinstance(wanted, (list, tuple)) or not wanted:
                raise InvalidInputError(f"{key} takes a non-empty list of filters, {EXAMPLE}")
            joined = f" {key[1:].upper()} ".join(_condition(w, params) for w in wanted)
            parts.append(f"({joined})")
        elif isinstance(key, str) and key.startswith("$"):
            raise InvalidInputError(
                f"{key!r} cannot stand for a field; put operators under a field "
                f"({{'year': {{'{key}': ...}}}}), or use $and / $or"
            )
        elif isinstance(wanted, Mapping):
            if not wanted:
                raise InvalidInputError(f"no operator for {key!r}; {EXAMPLE}")
            parts.extend(_operator(key, op, value, params) for op, value in wanted.items())
        elif isinstance(wanted, (list, tuple, set, frozenset)):
            parts.append(_any_of(key, list(wanted), params))
        else:
            parts.append(_any_of(key, [wanted], params))
    return "(" + " AND ".join(parts) + ")" if parts else "1"


def where(filter: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The SQL condition on the ``documents`` table for ``filter``, and its parameters."""
    check_size(filter)
    params: list[Any] = []
    return _condition(filter, params), params
