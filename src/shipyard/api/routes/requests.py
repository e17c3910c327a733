"""The request log: every gateway call (its generation or embedding span), newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from shipyard.auth import Principal, require
from shipyard.store.tables import Span

router = APIRouter(prefix="/api", tags=["requests"])
GATEWAY_KINDS = ("generation", "embedding")


def _row(r: Span) -> dict[str, Any]:
    return {
        "id": r.id, "trace_id": r.trace_id, "created_at": r.start_time.isoformat(), "endpoint": r.name,
        "model": r.model, "provider": r.provider, "stream": r.stream, "status_code": r.status_code,
        "latency_ms": None if r.latency_ms is None else round(r.latency_ms, 3),
        "ttft_ms": None if r.ttft_ms is None else round(r.ttft_ms, 3),
        "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens, "cost": r.cost,
        "error_type": r.error_type, "error_message": r.error_message, "project_id": r.project_id,
        "key_id": r.key_id, "metadata": r.meta,
    }


@router.get("/requests")
def list_requests(
    request: Request,
    limit: int = Query(50, ge=1, le=1000),
    model: str | None = None,
    status_code: int | None = None,
    before: datetime | None = Query(None, description="keyset cursor: created_at of the last row seen"),
    principal: Principal = Depends(require("traces:read")),
) -> dict[str, Any]:
    platform = request.app.state.platform
    query = (select(Span).where(Span.kind.in_(GATEWAY_KINDS), Span.status_code.is_not(None),
                                Span.project_id == principal.project_id)
             .order_by(Span.start_time.desc()).limit(limit))
    if model:
        query = query.where(Span.model == model)
    if status_code is not None:
        query = query.where(Span.status_code == status_code)
    if before is not None:
        query = query.where(Span.start_time < before)
    with platform.store.session() as session:
        rows = [_row(r) for r in session.scalars(query)]
    return {"object": "list", "data": rows, "next_before": rows[-1]["created_at"] if len(rows) == limit else None}
