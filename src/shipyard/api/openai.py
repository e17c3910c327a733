"""`/v1/*`: the OpenAI-compatible surface.

These are plain Starlette endpoints rather than FastAPI routes on purpose: they are the hot path, and
skipping FastAPI's dependency and model machinery saves a large share of per-request CPU. Bodies are
parsed with orjson and checked by `gateway.validate`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from shipyard.auth import Principal
from shipyard.errors import InvalidRequest, PayloadTooLarge, ShipyardError
from shipyard.gateway.context import CallContext
from shipyard.platform import Platform


class JSONBytes(Response):
    media_type = "application/json"


def principal_of(request: Request) -> Principal:
    """The caller of a /v1 request, as decided by `shipyard.auth.authorize`."""
    from shipyard.auth import authorize

    return authorize(request, "models:call")


async def read_json(request: Request, limit: int) -> Any:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"request body of {length} bytes is over the limit of {limit} bytes")
    raw = await request.body()
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body of {len(raw)} bytes is over the limit of {limit} bytes")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}",
                             code="invalid_json") from exc


async def _context(request: Request, endpoint: str) -> tuple[Platform, CallContext]:
    platform: Platform = request.app.state.platform
    ctx = CallContext(endpoint=endpoint, body={}, principal=principal_of(request),
                      headers=dict(request.headers))
    try:
        ctx.body = await read_json(request, platform.settings.max_body_bytes)
    except ShipyardError as exc:
        platform.gateway._fail(ctx, exc)
        platform.gateway.finish(ctx)
        raise
    return platform, ctx


def _headers(ctx: CallContext) -> dict[str, str]:
    return {"x-request-id": ctx.id, **ctx.response_headers}


async def chat_completions(request: Request) -> Response:
    platform, ctx = await _context(request, "chat.completions")
    gateway = platform.gateway
    if isinstance(ctx.body, dict) and ctx.body.get("stream") is True:
        chunks = await gateway.open_stream(ctx)
        return StreamingResponse(_sse(chunks), media_type="text/event-stream", headers=_headers(ctx))
    try:
        answer = await gateway.chat(ctx)
        return JSONBytes(orjson.dumps(answer), headers=_headers(ctx))
    finally:
        gateway.finish(ctx)


async def _sse(chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    except ShipyardError as exc:
        # Headers are gone already: the error travels as a final event the OpenAI client raises.
        yield b"data: " + exc.json_bytes() + b"\n\n"
        return
    yield b"data: [DONE]\n\n"


async def embeddings(request: Request) -> Response:
    platform, ctx = await _context(request, "embeddings")
    try:
        answer = await platform.gateway.embeddings(ctx)
        return JSONBytes(orjson.dumps(answer), headers=_headers(ctx))
    finally:
        platform.gateway.finish(ctx)


async def list_models(request: Request) -> Response:
    principal_of(request)
    platform: Platform = request.app.state.platform
    return JSONBytes(orjson.dumps({"object": "list", "data": platform.registry.list()}))


async def get_model(request: Request) -> Response:
    principal_of(request)
    platform: Platform = request.app.state.platform
    provider = platform.registry.resolve(request.path_params["model"])
    return JSONBytes(orjson.dumps(provider.describe()))


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", get_model, methods=["GET"]),
]
