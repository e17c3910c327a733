"""`GET /metrics`: Prometheus text format (counters from `observe.metrics`, plus the writer's state)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from shipyard.auth import Principal, require
from shipyard.observe import metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def prometheus(request: Request, principal: Principal = Depends(require("traces:read"))) -> Response:
    platform = request.app.state.platform
    writer = platform.writer
    metrics.WRITER_QUEUE.set(writer.depth)
    metrics.WRITER_DROPPED.set(writer.dropped)
    metrics.WRITER_WRITTEN.set(writer.written)
    exporter = platform.services.get("otlp_exporter")
    if exporter is not None:
        metrics.EXPORT_DROPPED.set(exporter.dropped)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
