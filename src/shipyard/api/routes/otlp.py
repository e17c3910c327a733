"""`POST /v1/traces`: OpenTelemetry's OTLP/HTTP trace export, protobuf or JSON (see observe/otlp.py).

An ordinary FastAPI route: the raw-ASGI fast path only takes chat completions and embeddings.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from shipyard.auth import Principal, require
from shipyard.errors import PayloadTooLarge
from shipyard.observe import ingest, otlp

router = APIRouter(tags=["traces"])


@router.post("/v1/traces")
async def export_traces(request: Request, principal: Principal = Depends(require("traces:write"))) -> Response:
    platform = request.app.state.platform
    body = await request.body()
    if len(body) > platform.settings.max_body_bytes:
        raise PayloadTooLarge(f"request body is over the limit of {platform.settings.max_body_bytes} bytes")
    content_type = request.headers.get("content-type", "").lower()
    spans = otlp.parse_request(body, content_type, request.headers.get("content-encoding"))
    ingest.accept(platform.writer, spans, principal.project_id, principal.key_id)
    if "protobuf" in content_type:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")
    return Response(b"{}", media_type="application/json")
