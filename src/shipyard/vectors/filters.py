"""Metadata filters, MongoDB-style, compiled to SQL that runs the same on SQLite and PostgreSQL.

    {"lang": "en"}                         equality
    {"year": {"$gte": 2020, "$lt": 2024}}  $eq $ne $gt $gte $lt $lte
    {"tag": {"$in": ["a", "b"]}}           $in $nin
    {"draft": {"$exists": false}}          presence
    {"$or": [{...}, {...}]}, {"$and": [...]}

A field no document of the collection has ever carried is an error rather than an empty result:
a typo in a filter should be loud, not look like "no matches".
"""

from __future__ import annotations

import operator
from typing import Any

from sqlalchemy import ColumnElement, and_, false, not_, or_, true

from shipyard.errors import InvalidRequest
from shipyard.vectors.tables import VectorDocument

_OPS = {"$eq": operator.eq, "$ne": operator.ne, "$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt,
        "$lte": operator.le}
_COMPARE = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"}


def _typed(field: str, sample: Any) -> Any:
    """The JSON value as an SQL expression of the comparison value's type."""
    element = VectorDocument.meta[field]
    if isinstance(sample, bool):
        return element.as_boolean()
    if isinstance(sample, (int, float)):
        return element.as_float()
    if isinstance(sample, str):
        return element.as_string()
    raise InvalidRequest(f"filter on '{field}': compare with a string, number or boolean, not {type(sample).__name__}",
                         param="filters")


def _condition(field: str, op: str, value: Any) -> ColumnElement[bool]:
    if op == "$exists":
        present = VectorDocument.meta[field].as_string().is_not(None)
        return present if value else not_(present)
    if op in ("$in", "$nin"):
        if not isinstance(value, list):
            raise InvalidRequest(f"filter on '{field}': {op} takes a list", param="filters")
        if not value:
            return false() if op == "$in" else true()
        clause = or_(*(_typed(field, v) == v for v in value))
        return clause if op == "$in" else not_(clause)
    expr = _typed(field, value)
    if isinstance(value, bool) and op not in ("$eq", "$ne"):
        raise InvalidRequest(f"filter on '{field}': {op} does not apply to true/false", param="filters")
    return _OPS[op](expr, value)


def fields_used(filters: dict[str, Any] | None) -> set[str]:
    if not filters:
        return set()
    used: set[str] = set()
    for key, value in filters.items():
        if key in ("$and", "$or"):
            for sub in value if isinstance(value, list) else []:
                used |= fields_used(sub)
        else:
            used.add(key)
    return used


def compile_filters(filters: dict[str, Any] | None, known_fields: set[str]) -> ColumnElement[bool] | None:
    """An SQL condition on VectorDocument, after checking every field exists in the collection."""
    if not filters:
        return None
    if not isinstance(filters, dict):
        raise InvalidRequest("filters must be an object like {\"field\": value}", param="filters")
    missing = sorted(fields_used(filters) - known_fields)
    if missing:
        known = ", ".join(sorted(known_fields)) or "none"
        raise InvalidRequest(f"no document in this collection has the metadata field '{missing[0]}' "
                             f"(fields: {known})", param="filters", code="unknown_field")
    return _compile(filters)


def _compile(filters: dict[str, Any]) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    for key, value in filters.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise InvalidRequest(f"{key} takes a list of filter objects", param="filters")
            parts = [_compile(v) for v in value]
            clauses.append(and_(*parts) if key == "$and" else or_(*parts))
        elif key.startswith("$"):
            raise InvalidRequest(f"unknown filter operator '{key}' at the top level", param="filters")
        elif isinstance(value, dict):
            for op, operand in value.items():
                if op not in _COMPARE:
                    raise InvalidRequest(f"unknown filter operator '{op}' (known: {', '.join(sorted(_COMPARE))})",
                                         param="filters")
                clauses.append(_condition(key, op, operand))
        else:
            clauses.append(_condition(key, "$eq", value))
    return and_(*clauses) if clauses else true()
