"""What one gateway call carries through the pipeline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from shipyard.auth import Principal
from shipyard.errors import ShipyardError
from shipyard.observe import tracing


@dataclass(slots=True)
class CallContext:
    endpoint: str  # "chat.completions" | "embeddings"
    body: dict[str, Any]
    principal: Principal
    headers: dict[str, str] = field(default_factory=dict)  # request headers, lower-cased names
    id: str = field(default_factory=tracing.new_span_id)  # the call's span id, sent back as x-request-id
    trace_id: str | None = None
    parent_id: str | None = None
    started: float = field(default_factory=time.perf_counter)
    model: str | None = None  # public model name as asked
    provider: str | None = None  # provider kind that served it
    stream: bool = False
    first_token_at: float | None = None
    status_code: int = 200
    error_type: str | None = None
    error_message: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    cached_tokens: int | None = None
    output: Any = None  # what the model answered, for the trace
    output_parts: list[str] | None = None  # streamed content, joined into `output` at the end
    response_headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # stage annotations kept with the record
    cost: float | None = None  # USD, set in finish() by the controls stage from the price table

    @property
    def latency_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_token_at is None else (self.first_token_at - self.started) * 1000.0

    def link_trace(self) -> None:
        """Join the caller's trace (W3C traceparent header, or the span this code runs inside) or start one."""
        if self.trace_id is not None:
            return
        parent = tracing.parse_traceparent(self.headers.get("traceparent"))
        if parent is not None:
            self.trace_id, self.parent_id = parent
            return
        current = tracing.current_span()
        if current is not None:
            self.trace_id, self.parent_id = current.trace_id, current.id
        else:
            self.trace_id = tracing.new_trace_id()

    def fail(self, exc: BaseException) -> None:
        """Note why the call failed, for the record; the first failure wins."""
        if self.error_type is not None:
            return
        if isinstance(exc, ShipyardError):
            self.status_code, self.error_type, self.error_message = exc.status, exc.type, exc.message
        else:
            self.status_code, self.error_type, self.error_message = 500, "server_error", repr(exc)

    def abandon(self) -> None:
        self.status_code, self.error_type = 499, "client_disconnected"
        self.error_message = "the client closed the connection mid-stream"

    def take_usage(self, usage: dict[str, Any] | None) -> None:
        if usage:
            self.prompt_tokens = usage.get("prompt_tokens", self.prompt_tokens)
            self.completion_tokens = usage.get("completion_tokens", self.completion_tokens)
