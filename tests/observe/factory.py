"""Rows shaped exactly as the platform records them, for tests and benchmarks that need many."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from shipyard.observe import rollups, tracing


def span_row(*, trace_id: str | None = None, parent_id: str | None = None, start: datetime | None = None,
             model: str | None = "gpt-fake", kind: str = "generation", status: str = "ok", latency: float = 100.0,
             prompt: str = "hello", answer: str = "hi there", project_id: str = "default", **extra: Any
             ) -> dict[str, Any]:
    start = start or datetime.now(UTC)
    row = {
        "id": os.urandom(8).hex(), "trace_id": trace_id or os.urandom(16).hex(), "parent_id": parent_id,
        "project_id": project_id, "kind": kind, "name": "chat.completions" if kind == "generation" else kind,
        "start_time": start, "end_time": start + timedelta(milliseconds=latency), "latency_ms": latency,
        "ttft_ms": latency / 4, "status": status, "status_code": 200 if status == "ok" else 502,
        "error_type": None if status == "ok" else "upstream_error",
        "error_message": None if status == "ok" else "upstream answered 500", "model": model,
        "provider": "openai", "stream": False, "input": [{"role": "user", "content": prompt}],
        "output": {"role": "assistant", "content": answer}, "prompt_tokens": 10, "completion_tokens": 5,
        "cached_tokens": None, "cost": 0.001, "key_id": None, "session_id": None, "user_id": None, "metadata": None,
    }
    row.update(extra)
    return row


def write(store: Any, spans: list[dict[str, Any]]) -> None:
    """Store spans (a trace row for each root, and their rollups) in one transaction, as the writer does."""
    traces = [tracing.trace_row_for(s) for s in spans if s["parent_id"] is None]
    with store.engine.begin() as conn:
        conn.execute(tracing.SPANS.insert(), spans)
        rollups.add(conn, spans)
        if traces:
            conn.execute(tracing.TRACES.insert(), traces)
