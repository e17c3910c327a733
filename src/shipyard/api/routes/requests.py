"""The request log: every gateway call, newest first, with keyset pagination."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from shipyard.auth import Principal, require
from shipyard.store.tables import RequestRecord

router = APIRouter(prefix="/api", tags=["requests"])


def _row(r: RequestRecord) -> dict[str, Any]:
    return {
        "id": r.id, "created_at": r.created_at.isoformat(), "endpoint": r.endpoint, "model": r.model,
        "provider": r.provider, "stream": r.stream, "status_code": r.status_code,
        "latency_ms": round(r.latency_ms, 3), "ttft_ms": None if r.ttft_ms is None else round(r.ttft_ms, 3),
        "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
        "error_type": r.error_type, "error_message": r.error_message, "project_id": r.project_id,
        "key_id": r.key_id, "extra": r.extra, "cost": r.cost,
    }


@router.get("/requests")
def list_requests(
    request: Request,
    limit: int = Query(50, ge=1, le=1000),
    model: str | None = None,
    status_code: int | None = None,
    before: datetime | None = Query(None, description="keyset cursor: created_at of the last row seen"),
    principal: Principal = Depends(require("requests:read")),
) -> dict[str, Any]:
    platform = request.app.state.platform
    query = select(RequestRecord).order_by(RequestRecord.created_at.desc()).limit(limit)
    if principal.role != "admin":
        query = query.where(RequestRecord.project_id == principal.project_id)
    if model:
        query = query.where(RequestRecord.model == model)
    if status_code is not None:
        query = query.where(RequestRecord.status_code == status_code)
    if before is not None:
        query = query.where(RequestRecord.created_at < before)
    with platform.store.session() as session:
        rows = [_row(r) for r in session.scalars(query)]
    return {"object": "list", "data": rows, "next_before": rows[-1]["created_at"] if len(rows) == limit else None}
