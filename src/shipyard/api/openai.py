"""`/v1/*`: the OpenAI-compatible surface.

Chat completions and embeddings are raw ASGI handlers, dispatched by `ShipyardApp` before FastAPI's
middleware and routing: they are the hot path, and every layer skipped is CPU saved per request and
per streamed chunk. Bodies are parsed with orjson and checked by `gateway.validate`. Model listing is
not hot and stays an ordinary route.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.auth import LOCAL_ADMIN, Principal, authorize
from shipyard.errors import InvalidRequest, ModelNotFound, PayloadTooLarge, ShipyardError
from shipyard.gateway.context import CallContext
from shipyard.platform import Platform

log = logging.getLogger(__name__)
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
_JSON = (b"content-type", b"application/json")
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_DONE = b"data: [DONE]\n\n"


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


def principal_of(request: Request) -> Principal:
    return authorize(request, "models:call")


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes is over the limit of {limit} bytes")
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        parts.append(part)
        if not message.get("more_body"):
            return parts[0] if len(parts) == 1 else b"".join(parts)


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}", code="invalid_json") from exc


def _headers(ctx: CallContext) -> list[tuple[bytes, bytes]]:
    out = [(b"x-request-id", ctx.id.encode())]
    if ctx.trace_id:
        out.append((b"x-trace-id", ctx.trace_id.encode()))
    out += [(k.encode(), v.encode()) for k, v in ctx.response_headers.items()]
    return out


async def respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [_JSON, (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


async def _watch_disconnect(receive: Receive, task: asyncio.Task[Any], gone: list[bool]) -> None:
    """uvicorn's send() is silent once a client has gone, so listen for the disconnect and stop work."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.append(True)
            task.cancel()
            return


async def _send_stream(ctx: CallContext, batches: AsyncIterator[list[dict[str, Any]]], receive: Receive,
                       send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _SSE + _headers(ctx)})
    gone: list[bool] = []
    task = asyncio.current_task()
    assert task is not None
    watcher = asyncio.create_task(_watch_disconnect(receive, task, gone))
    tail = _DONE
    dumps = orjson.dumps
    try:
        async for batch in batches:
            body = b"".join([b"data: " + dumps(chunk) + b"\n\n" for chunk in batch])
            await send({"type": "http.response.body", "body": body, "more_body": True})
    except ShipyardError as exc:
        # Headers are gone already: the error travels as a final event the OpenAI client raises.
        ctx.fail(exc)
        tail = b"data: " + exc.json_bytes() + b"\n\n"
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
        ctx.abandon()
        return
    finally:
        watcher.cancel()
        await batches.aclose()  # type: ignore[attr-defined]
    await send({"type": "http.response.body", "body": tail})


Answer = Callable[[Platform, CallContext, Receive, Send], Awaitable[None]]


async def _serve(endpoint: str, answer: Answer, platform: Platform, scope: Scope, receive: Receive,
                 send: Send) -> None:
    """What every /v1 call shares: who calls, the body, errors as OpenAI JSON, and exactly one record."""
    ctx = CallContext(endpoint=endpoint, body={}, principal=LOCAL_ADMIN)
    try:
        request = Request(scope)
        ctx.principal = principal_of(request)
        ctx.headers = request.headers  # type: ignore[assignment]
        length = request.headers.get("content-length")
        ctx.body = parse_json(await read_body(receive, platform.settings.max_body_bytes,
                                              int(length) if length and length.isdigit() else None))
        await answer(platform, ctx, receive, send)
    except ClientGone:
        ctx.abandon()
    except ShipyardError as exc:
        ctx.fail(exc)
        await respond(send, exc.status, exc.json_bytes(), _headers(ctx) + _encode(exc.headers))
    except Exception as exc:
        log.exception("unhandled error in %s", endpoint)
        ctx.fail(exc)
        await respond(send, 500, ShipyardError("internal error; the server logged the details").json_bytes(),
                      _headers(ctx))
    finally:
        platform.gateway.finish(ctx)


async def _chat(platform: Platform, ctx: CallContext, receive: Receive, send: Send) -> None:
    if isinstance(ctx.body, dict) and ctx.body.get("stream") is True:
        batches = await platform.gateway.open_stream(ctx)
        await _send_stream(ctx, batches, receive, send)
    else:
        answer = await platform.gateway.chat(ctx)
        await respond(send, 200, orjson.dumps(answer), _headers(ctx))


async def _embeddings(platform: Platform, ctx: CallContext, receive: Receive, send: Send) -> None:
    answer = await platform.gateway.embeddings(ctx)
    await respond(send, 200, orjson.dumps(answer), _headers(ctx))


async def chat_completions(platform: Platform, scope: Scope, receive: Receive, send: Send) -> None:
    await _serve("chat.completions", _chat, platform, scope, receive, send)


async def embeddings(platform: Platform, scope: Scope, receive: Receive, send: Send) -> None:
    await _serve("embeddings", _embeddings, platform, scope, receive, send)


def _encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


FAST_ROUTES: dict[tuple[str, str], Callable[[Platform, Scope, Receive, Send], Awaitable[None]]] = {
    ("POST", "/v1/chat/completions"): chat_completions,
    ("POST", "/v1/embeddings"): embeddings,
}


class JSONBytes(Response):
    media_type = "application/json"


async def list_models(request: Request) -> Response:
    principal = principal_of(request)
    platform: Platform = request.app.state.platform
    data = platform.registry.list()
    if principal.models is not None:  # a key limited to some models sees only those
        data = [m for m in data if m["id"] in principal.models]
    return JSONBytes(orjson.dumps({"object": "list", "data": data}))


async def get_model(request: Request) -> Response:
    principal = principal_of(request)
    platform: Platform = request.app.state.platform
    name = request.path_params["model"]
    if principal.models is not None and name not in principal.models:
        raise ModelNotFound(f"The model '{name}' does not exist or you do not have access to it.", param="model")
    provider = platform.registry.resolve(name)
    return JSONBytes(orjson.dumps(provider.describe()))


routes = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", get_model, methods=["GET"]),
]
