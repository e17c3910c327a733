"""What one gateway call carries through the pipeline."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from shipyard.auth import Principal


@dataclass(slots=True)
class CallContext:
    endpoint: str  # "chat.completions" | "embeddings"
    body: dict[str, Any]
    principal: Principal
    headers: dict[str, str] = field(default_factory=dict)  # request headers, lower-cased names
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
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
    response_headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # stage annotations kept with the record

    @property
    def latency_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_token_at is None else (self.first_token_at - self.started) * 1000.0

    def take_usage(self, usage: dict[str, Any] | None) -> None:
        if usage:
            self.prompt_tokens = usage.get("prompt_tokens", self.prompt_tokens)
            self.completion_tokens = usage.get("completion_tokens", self.completion_tokens)
