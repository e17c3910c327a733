"""Spans from outside the process (the Python SDK, OpenTelemetry exporters) into the batched writer.

Both doors end in `accept()`: each span is checked and shaped like the spans the platform records
itself, its project is the caller's (never what the payload claims), and a span without a parent
also writes its trace row, exactly as an in-process root span does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shipyard.errors import InvalidRequest
from shipyard.observe import tracing
from shipyard.observe.writer import BatchWriter

MAX_SPANS = 10_000  # per request
_INT_FIELDS = ("prompt_tokens", "completion_tokens", "cached_tokens", "status_code")
_STR_FIELDS = {"model": 200, "provider": 64, "error_type": 64, "session_id": 200, "user_id": 200}


def _time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        if isinstance(value, (int, float)):
            when = datetime.fromtimestamp(float(value), UTC)
        else:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise InvalidRequest(f"{field} must be an ISO 8601 time or a Unix timestamp", param=field) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _id(value: Any, field: str, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidRequest(f"every span needs a {field}", param=field)
        return None
    if not isinstance(value, str) or len(value) > 32 or not value.isascii():
        raise InvalidRequest(f"{field} must be an ASCII string of up to 32 characters", param=field)
    return value


def normalize(span: Any, project_id: str, key_id: str | None) -> dict[str, Any]:
    """One incoming span (as a dict) to a row of the `spans` table; bad input names the field."""
    if not isinstance(span, dict):
        raise InvalidRequest("each span must be an object", param="spans")
    start = _time(span.get("start_time"), "start_time")
    if start is None:
        raise InvalidRequest("every span needs a start_time", param="start_time")
    end = _time(span.get("end_time"), "end_time")
    latency = span.get("latency_ms")
    if latency is None and end is not None:
        latency = max(0.0, (end - start).total_seconds() * 1000.0)
    if end is None and isinstance(latency, (int, float)):
        end = start + timedelta(milliseconds=float(latency))
    name = span.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("every span needs a name", param="name")
    kind = span.get("kind") if span.get("kind") in tracing.KINDS else "span"
    status = "error" if span.get("status") == "error" else "ok"
    row: dict[str, Any] = {
        "id": _id(span.get("id"), "id"), "trace_id": _id(span.get("trace_id"), "trace_id"),
        "parent_id": _id(span.get("parent_id"), "parent_id", required=False), "project_id": project_id,
        "kind": kind, "name": name[:200], "start_time": start, "end_time": end,
        "latency_ms": float(latency) if isinstance(latency, (int, float)) else None, "status": status,
        "stream": span.get("stream") if isinstance(span.get("stream"), bool) else None,
        "input": tracing.clip(span.get("input")), "output": tracing.clip(span.get("output")),
        "error_message": tracing.clip(span.get("error_message")) if span.get("error_message") else None,
        "key_id": key_id,
    }
    for f in _INT_FIELDS:
        v = span.get(f)
        row[f] = int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    for f in ("cost", "ttft_ms"):
        v = span.get(f)
        row[f] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    for f, n in _STR_FIELDS.items():
        v = span.get(f)
        row[f] = str(v)[:n] if v not in (None, "") else None
    meta = span.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise InvalidRequest("metadata must be an object", param="metadata")
    row["metadata"] = tracing.clip(meta) or None
    return row


def accept(writer: BatchWriter, spans: Any, project_id: str, key_id: str | None) -> int:
    """Check every span first (all or nothing), then queue them with their trace rows."""
    if not isinstance(spans, list):
        raise InvalidRequest("spans must be a list", param="spans")
    if len(spans) > MAX_SPANS:
        raise InvalidRequest(f"at most {MAX_SPANS} spans per request", param="spans")
    rows = [normalize(s, project_id, key_id) for s in spans]
    for row in rows:
        writer.put(tracing.SPANS, row)
        if row["parent_id"] is None:
            writer.put(tracing.TRACES, tracing.trace_row_for(row))
    return len(rows)
