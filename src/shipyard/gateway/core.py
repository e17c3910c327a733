"""The gateway pipeline: stages around one provider call, and a record of every call.

Nothing here touches the database: the record goes to the batched writer (`platform.writer`), so the
request path stays free of synchronous I/O.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.gateway.context import CallContext
from shipyard.gateway.stages import STAGES, Stage
from shipyard.gateway.validate import embedding_inputs, validate_chat
from shipyard.store.tables import RequestRecord

if TYPE_CHECKING:
    from shipyard.platform import Platform

_REQUESTS = RequestRecord.__table__
log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.registry = platform.registry
        self.stages: list[Stage] = [s for s in (factory(platform) for factory in STAGES) if s is not None]
        self._reversed = list(reversed(self.stages))

    # -- shared steps ------------------------------------------------------------------------------
    async def _before(self, ctx: CallContext) -> dict[str, Any] | None:
        for stage in self.stages:
            answer = await stage.before(ctx)
            if answer is not None:
                return answer
        return None

    def _fail(self, ctx: CallContext, exc: BaseException) -> None:
        if isinstance(exc, ShipyardError):
            ctx.status_code, ctx.error_type, ctx.error_message = exc.status, exc.type, exc.message
        else:
            ctx.status_code, ctx.error_type, ctx.error_message = 500, "server_error", repr(exc)

    def finish(self, ctx: CallContext) -> None:
        for stage in self.stages:
            try:
                stage.finish(ctx)
            except Exception:  # a metering bug must never turn into a failed call
                log.exception("stage %s failed in finish()", stage.name)
        self.platform.writer.put(_REQUESTS, {
            "id": ctx.id,
            "created_at": datetime.now(UTC),
            "endpoint": ctx.endpoint,
            "model": ctx.model,
            "provider": ctx.provider,
            "stream": ctx.stream,
            "status_code": ctx.status_code,
            "latency_ms": ctx.latency_ms,
            "ttft_ms": ctx.ttft_ms,
            "prompt_tokens": ctx.prompt_tokens,
            "completion_tokens": ctx.completion_tokens,
            "error_type": ctx.error_type,
            "error_message": ctx.error_message,
            "project_id": ctx.principal.project_id,
            "key_id": ctx.principal.key_id,
            "extra": ctx.extra or None,
        })

    # -- chat ----------------------------------------------------------------------------------------
    async def chat(self, ctx: CallContext) -> dict[str, Any]:
        """A non-streamed chat completion. The caller must call `finish(ctx)` once it is sent."""
        try:
            body = ctx.body
            if isinstance(body, dict):
                ctx.model = body.get("model") if isinstance(body.get("model"), str) else None
            validate_chat(body)
            answer = await self._before(ctx)
            if answer is None:
                provider = self.registry.resolve(body["model"])
                ctx.provider = provider.kind
                answer = await provider.chat(body)
                ctx.first_token_at = time.perf_counter()
            for stage in self._reversed:
                answer = await stage.after(ctx, answer)
            ctx.take_usage(answer.get("usage"))
            return answer
        except BaseException as exc:
            self._fail(ctx, exc)
            raise

    async def open_stream(self, ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        """Start a streamed chat completion and return its chunks.

        Everything that can fail before the first chunk fails here, so the HTTP layer can still answer
        with a proper status; later failures surface while iterating. `finish(ctx)` runs when the
        iterator ends, however it ends (a client that leaves mid-stream is recorded as 499).
        """
        try:
            body = ctx.body
            if isinstance(body, dict):
                ctx.model = body.get("model") if isinstance(body.get("model"), str) else None
            validate_chat(body)
            ctx.stream = True
            answer = await self._before(ctx)
            if answer is not None:
                chunks: AsyncIterator[dict[str, Any]] = _single(answer)
            else:
                provider = self.registry.resolve(body["model"])
                ctx.provider = provider.kind
                chunks = provider.stream_chat(body)
            first = await anext(chunks, None)
        except BaseException as exc:
            self._fail(ctx, exc)
            self.finish(ctx)
            raise
        return self._stream(ctx, first, chunks)

    async def _stream(
        self, ctx: CallContext, first: dict[str, Any] | None, chunks: AsyncIterator[dict[str, Any]]
    ) -> AsyncIterator[dict[str, Any]]:
        want_usage = bool((ctx.body.get("stream_options") or {}).get("include_usage"))
        done = False
        try:
            chunk = first
            while chunk is not None:
                if ctx.first_token_at is None:
                    ctx.first_token_at = time.perf_counter()
                usage = chunk.get("usage")
                if usage:
                    ctx.take_usage(usage)
                for stage in self._reversed:
                    if chunk is None:
                        break
                    chunk = await stage.on_chunk(ctx, chunk)
                if chunk is not None and (want_usage or not (usage and not chunk.get("choices"))):
                    yield chunk
                chunk = await anext(chunks, None)
            done = True
        except (GeneratorExit, asyncio.CancelledError):
            raise  # the client left: recorded as 499 below
        except BaseException as exc:
            self._fail(ctx, exc)
            done = True
            raise
        finally:
            if not done:
                ctx.status_code, ctx.error_type = 499, "client_disconnected"
                ctx.error_message = "the client closed the connection mid-stream"
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None and not done:
                try:
                    await aclose()
                except BaseException:
                    pass
            self.finish(ctx)

    # -- embeddings ----------------------------------------------------------------------------------
    async def embeddings(self, ctx: CallContext) -> dict[str, Any]:
        try:
            body = ctx.body
            if isinstance(body, dict):
                ctx.model = body.get("model") if isinstance(body.get("model"), str) else None
            inputs = embedding_inputs(body)
            answer = await self._before(ctx)
            if answer is None:
                provider = self.registry.resolve(body["model"])
                ctx.provider = provider.kind
                answer = await provider.embed(inputs, body)
            for stage in self._reversed:
                answer = await stage.after(ctx, answer)
            ctx.take_usage(answer.get("usage"))
            return answer
        except BaseException as exc:
            self._fail(ctx, exc)
            raise


async def _single(answer: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """A whole answer (e.g. a cache hit) as a stream: one content chunk, a finish chunk, usage."""
    base = {k: answer.get(k) for k in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"
    for choice in answer.get("choices", []):
        message = choice.get("message", {})
        delta = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            delta["tool_calls"] = [dict(c, index=i) for i, c in enumerate(message["tool_calls"])]
        yield {**base, "choices": [{"index": choice.get("index", 0), "delta": delta, "finish_reason": None}]}
        yield {**base, "choices": [{"index": choice.get("index", 0), "delta": {},
                                    "finish_reason": choice.get("finish_reason", "stop")}]}
    if answer.get("usage"):
        yield {**base, "choices": [], "usage": answer["usage"]}
