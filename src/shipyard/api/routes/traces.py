"""Traces and spans: search, a trace's span tree, scores on a trace, and the SDK's ingest door."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request

from shipyard.auth import Principal, require
from shipyard.errors import InvalidRequest, NotFound
from shipyard.observe import ingest, search
from shipyard.observe.scores import add_score
from shipyard.platform import Platform

router = APIRouter(prefix="/api", tags=["traces"])


def filters(
    since: datetime | None = Query(None, description="start of the time range (ISO 8601; UTC when naive)"),
    until: datetime | None = Query(None, description="end of the time range (exclusive)"),
    model: str | None = None,
    status: str | None = Query(None, description="ok or error"),
    name: str | None = None,
    key_id: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    metadata: list[str] | None = Query(None, description="key=value, repeatable"),
    q: str | None = Query(None, description="words that must appear in an input or output"),
) -> search.Filters:
    return search.Filters(since=since, until=until, model=model, status=status, name=name, key_id=key_id,
                          session_id=session_id, user_id=user_id, q=q,
                          metadata=search.parse_metadata_filters(metadata))


@router.get("/traces")
def list_traces(
    request: Request,
    f: search.Filters = Depends(filters),
    cursor: str | None = Query(None, description="next_cursor from the previous page"),
    limit: int = Query(50, ge=1, le=500),
    principal: Principal = Depends(require("traces:read")),
) -> dict[str, Any]:
    return search.list_traces(request.app.state.platform.store, principal.project_id, f, cursor=cursor, limit=limit)


@router.get("/spans")
def list_spans(
    request: Request,
    f: search.Filters = Depends(filters),
    kind: str | None = None,
    content: bool = Query(False, description="include inputs and outputs"),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    principal: Principal = Depends(require("traces:read")),
) -> dict[str, Any]:
    f.kind = kind
    return search.list_spans(request.app.state.platform.store, principal.project_id, f, cursor=cursor, limit=limit,
                             content=content)


@router.get("/traces/{trace_id}")
def get_trace(request: Request, trace_id: str,
              principal: Principal = Depends(require("traces:read"))) -> dict[str, Any]:
    return search.get_trace(request.app.state.platform.store, principal.project_id, trace_id)


@router.post("/traces/{trace_id}/scores", status_code=201)
def score_trace(request: Request, trace_id: str, body: dict[str, Any] = Body(...),
                principal: Principal = Depends(require("traces:write"))) -> dict[str, Any]:
    """Attach a score to a trace (or, with `span_id`, to one of its spans)."""
    platform: Platform = request.app.state.platform
    if not search.trace_exists(platform.store, principal.project_id, trace_id):
        raise NotFound(f"trace '{trace_id}' was not found (spans are stored within a second of ending)",
                       param="trace_id")
    fields = {k: body[k] for k in ("name", "value", "span_id", "data_type", "source", "comment", "metadata")
              if k in body}
    if "name" not in fields or "value" not in fields:
        raise InvalidRequest("a score needs a name and a value", param="name" if "name" not in fields else "value")
    return add_score(platform.store, trace_id=trace_id, project_id=principal.project_id,
                     author_key=principal.key_id, **fields)


@router.post("/traces/ingest", status_code=202)
def ingest_spans(request: Request, body: dict[str, Any] = Body(...),
                 principal: Principal = Depends(require("traces:write"))) -> dict[str, Any]:
    """Spans recorded by the Python SDK (`shipyard.observe`), stored through the batched writer."""
    n = ingest.accept(request.app.state.platform.writer, body.get("spans"), principal.project_id, principal.key_id)
    return {"object": "ingest", "accepted": n}


async def startup(platform: Platform) -> None:
    """Background work of the observability area: retention sweeps and the OTLP exporter."""
    settings = platform.settings
    if settings.trace_retention_days > 0:
        from shipyard.observe.retention import run_retention

        task = asyncio.get_running_loop().create_task(run_retention(platform), name="shipyard-retention")

        async def stop_retention(_: Platform) -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        platform.on_shutdown.append(stop_retention)
    if settings.otlp_endpoint:
        from shipyard.observe.otlp import OtlpExporter

        exporter = OtlpExporter(settings.otlp_endpoint, settings.otlp_headers)
        platform.services["otlp_exporter"] = exporter
        platform.writer.listeners.append(exporter.offer)

        async def stop_exporter(p: Platform) -> None:
            await p.writer.stop()  # the last spans reach the exporter before it closes
            await asyncio.to_thread(exporter.close)

        platform.on_shutdown.insert(0, stop_exporter)  # hooks run in reverse: this one last
    if settings.drift_interval > 0:
        from shipyard.observe.drift import run_scheduled

        drift_task = asyncio.get_running_loop().create_task(run_scheduled(platform), name="shipyard-drift")

        async def stop_drift(_: Platform) -> None:
            drift_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drift_task

        platform.on_shutdown.append(stop_drift)
