"""Scores: numbers, booleans or labels attached to a trace or a span.

One function writes them for everyone: the API, the SDK's feedback calls, and evaluators running in
the platform (`add_score(platform.writer, ...)` from a batch job, or `add_score(platform.store, ...)`
when the caller wants the row stored before it returns).
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from shipyard.auth import DEFAULT_PROJECT
from shipyard.errors import InvalidRequest
from shipyard.observe.tables import Score
from shipyard.observe.writer import BatchWriter
from shipyard.store import Store

SCORES = Score.__table__
DATA_TYPES = ("numeric", "boolean", "categorical")
SOURCES = ("end-user", "reviewer", "evaluator")


def _infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "numeric"
    if isinstance(value, str):
        return "categorical"
    raise InvalidRequest("a score value must be a number, a boolean or a string label", param="value")


def make_score(*, trace_id: str, name: str, value: Any, span_id: str | None = None, data_type: str | None = None,
               source: str = "reviewer", comment: str | None = None, author_key: str | None = None,
               project_id: str = DEFAULT_PROJECT, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate a score and return its row; bad input raises InvalidRequest naming the field."""
    if not isinstance(trace_id, str) or not trace_id.strip() or len(trace_id) > 32:
        raise InvalidRequest("trace_id must be a trace id (up to 32 characters)", param="trace_id")
    if span_id is not None and (not isinstance(span_id, str) or not span_id or len(span_id) > 32):
        raise InvalidRequest("span_id must be a span id (up to 32 characters)", param="span_id")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise InvalidRequest("name must be a non-empty string of up to 100 characters", param="name")
    if source not in SOURCES:
        raise InvalidRequest(f"source must be one of {', '.join(SOURCES)}", param="source")
    data_type = data_type or _infer_type(value)
    if data_type not in DATA_TYPES:
        raise InvalidRequest(f"data_type must be one of {', '.join(DATA_TYPES)}", param="data_type")
    number: float | None = None
    label: str | None = None
    if data_type == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false", "up", "down", "yes", "no", "1", "0"):
            value = value.lower() in ("true", "up", "yes", "1")
        if not isinstance(value, (bool, int)) or (not isinstance(value, bool) and value not in (0, 1)):
            raise InvalidRequest("a boolean score takes true or false", param="value")
        number, label = float(bool(value)), "true" if value else "false"
    elif data_type == "numeric":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidRequest("a numeric score takes a number", param="value") from None
        if isinstance(value, bool) or not math.isfinite(number):
            raise InvalidRequest("a numeric score takes a finite number", param="value")
    else:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
            raise InvalidRequest("a categorical score takes a non-empty label", param="value")
        label = str(value)[:200]
    if comment is not None and not isinstance(comment, str):
        raise InvalidRequest("comment must be a string", param="comment")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidRequest("metadata must be an object", param="metadata")
    return {
        "id": os.urandom(12).hex(), "project_id": project_id, "trace_id": trace_id.strip(), "span_id": span_id,
        "name": name.strip(), "data_type": data_type, "value": number, "string_value": label, "source": source,
        "comment": comment, "author_key": author_key, "created_at": datetime.now(UTC), "metadata": metadata,
    }


def add_score(target: Store | BatchWriter, **fields: Any) -> dict[str, Any]:
    """Record a score (see `make_score` for the fields) and return it.

    Through a `BatchWriter` the row is queued (no I/O, for hot paths and evaluation loops); through a
    `Store` it is committed before this returns."""
    row = make_score(**fields)
    if isinstance(target, BatchWriter):
        target.put(SCORES, row)
    else:
        with target.engine.begin() as conn:
            conn.execute(SCORES.insert(), [row])
    return score_json(row)


def score_json(row: dict[str, Any] | Score) -> dict[str, Any]:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, "meta" if k == "metadata" else k)
    value: Any = get("value")
    if get("data_type") == "boolean":
        value = get("string_value") == "true"
    elif get("data_type") == "categorical":
        value = get("string_value")
    created = get("created_at")
    if isinstance(created, datetime) and created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return {
        "id": get("id"), "object": "score", "trace_id": get("trace_id"), "span_id": get("span_id"),
        "name": get("name"), "data_type": get("data_type"), "value": value, "source": get("source"),
        "comment": get("comment"), "author_key": get("author_key"),
        "created_at": created.isoformat() if isinstance(created, datetime) else created,
        "metadata": get("metadata"),
    }


def list_scores(store: Store, project_id: str, *, trace_id: str | None = None, name: str | None = None,
                source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = select(Score).where(Score.project_id == project_id).order_by(Score.created_at.desc()).limit(limit)
    if trace_id:
        query = query.where(Score.trace_id == trace_id)
    if name:
        query = query.where(Score.name == name)
    if source:
        query = query.where(Score.source == source)
    with store.session() as session:
        return [score_json(s) for s in session.scalars(query)]
