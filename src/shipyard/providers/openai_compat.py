"""Any OpenAI-compatible upstream: OpenAI itself, vLLM, Ollama, TGI, llama.cpp's server.

Bodies pass through untouched except for the model name; streams pass through chunk by chunk. We
always ask the upstream for stream usage so every request is metered; the gateway drops that chunk
again when the caller did not ask for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from shipyard.config import ModelSpec, Settings
from shipyard.errors import UpstreamError
from shipyard.providers.base import Provider
from shipyard.providers.http import HttpClient, sse_batches


class OpenAICompatProvider(Provider):
    kind = "openai"
    supports_chat = True
    supports_embeddings = True

    def __init__(self, spec: ModelSpec, settings: Settings) -> None:
        super().__init__(spec, settings)
        headers = {}
        key = spec.resolved_api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.http = HttpClient(spec.base_url or "https://api.openai.com/v1", headers, self.timeout)
        self.stream_usage = bool(spec.params.get("stream_usage", True))

    def _upstream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        out = dict(body)
        out["model"] = self.spec.model or self.spec.name
        return out

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        data = await self.http.post_json("/chat/completions", self._upstream_body(body))
        data["model"] = self.spec.name
        return data

    async def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[list[dict[str, Any]]]:
        out = self._upstream_body(body)
        if self.stream_usage:
            out["stream_options"] = {**(out.get("stream_options") or {}), "include_usage": True}
        name = self.spec.name
        async with self.http.post("/chat/completions", out) as resp:
            async for events in sse_batches(resp):
                batch = []
                for _event, data in events:
                    if data == b"[DONE]":
                        break
                    try:
                        chunk = orjson.loads(data)
                    except orjson.JSONDecodeError as exc:
                        raise UpstreamError("upstream sent an unreadable stream event") from exc
                    if "error" in chunk:
                        raise UpstreamError(f"upstream stream error: {chunk['error']}")
                    chunk["model"] = name
                    batch.append(chunk)
                if batch:
                    yield batch

    async def embed(self, inputs: list[str], body: dict[str, Any]) -> dict[str, Any]:
        out = self._upstream_body(body)
        out["input"] = inputs
        data = await self.http.post_json("/embeddings", out)
        data["model"] = self.spec.name
        return data

    async def aclose(self) -> None:
        await self.http.close()
