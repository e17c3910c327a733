"""Anthropic's Messages API, translated to and from OpenAI's chat shapes (streaming included)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from shipyard.config import ModelSpec, Settings
from shipyard.errors import InvalidRequest, UpstreamError
from shipyard.providers.base import Provider, completion_id, now
from shipyard.providers.http import HttpClient, sse_batches

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content or []:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = part["image_url"]["url"] if isinstance(part.get("image_url"), dict) else part.get("image_url")
            if isinstance(url, str) and url.startswith("data:"):
                media, _, data = url[5:].partition(";base64,")
                blocks.append({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}})
            else:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
    return blocks


def to_anthropic(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI chat-completions body as an Anthropic Messages body."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        # Anthropic wants alternating roles: merge consecutive same-role turns (tool results included).
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})

    for msg in body["messages"]:
        role = msg.get("role")
        if role in ("system", "developer"):
            system.append(_text(msg.get("content")))
        elif role == "user":
            add("user", _blocks(msg.get("content")))
        elif role == "assistant":
            blocks = _blocks(msg.get("content"))
            for call in msg.get("tool_calls") or []:
                fn = call.get("function", {})
                try:
                    args = orjson.loads(fn.get("arguments") or "{}")
                except orjson.JSONDecodeError as exc:
                    raise InvalidRequest("tool_calls arguments must be JSON", param="messages") from exc
                blocks.append({"type": "tool_use", "id": call.get("id"), "name": fn.get("name"), "input": args})
            add("assistant", blocks)
        elif role == "tool":
            add("user", [{"type": "tool_result", "tool_use_id": msg.get("tool_call_id"),
                          "content": _text(msg.get("content"))}])
    out: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS,
    }
    if system:
        out["system"] = "\n\n".join(system)
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        out["tools"] = [
            {"name": t["function"]["name"], "description": t["function"].get("description", ""),
             "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}}}
            for t in body["tools"] if t.get("type") == "function"
        ]
        choice = body.get("tool_choice")
        if choice == "required":
            out["tool_choice"] = {"type": "any"}
        elif isinstance(choice, dict):
            out["tool_choice"] = {"type": "tool", "name": choice["function"]["name"]}
        elif choice in ("auto", "none"):
            out["tool_choice"] = {"type": choice}
    if body.get("user"):
        out["metadata"] = {"user_id": body["user"]}
    return out


def _usage(u: dict[str, Any]) -> dict[str, Any]:
    prompt = int(u.get("input_tokens", 0)) + int(u.get("cache_read_input_tokens") or 0) + int(
        u.get("cache_creation_input_tokens") or 0)
    completion = int(u.get("output_tokens", 0))
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if u.get("cache_read_input_tokens"):
        usage["prompt_tokens_details"] = {"cached_tokens": int(u["cache_read_input_tokens"])}
    return usage


def from_anthropic(data: dict[str, Any], public_name: str) -> dict[str, Any]:
    """An Anthropic Messages response as an OpenAI chat.completion."""
    text = "".join(b.get("text", "") for b in data.get("content", []) if b.get("type") == "text")
    calls = [
        {"id": b["id"], "type": "function",
         "function": {"name": b["name"], "arguments": orjson.dumps(b.get("input", {})).decode()}}
        for b in data.get("content", []) if b.get("type") == "tool_use"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": now(),
        "model": public_name,
        "choices": [{"index": 0, "message": message,
                     "finish_reason": _FINISH.get(data.get("stop_reason") or "", "stop")}],
        "usage": _usage(data.get("usage", {})),
    }


class AnthropicProvider(Provider):
    kind = "anthropic"
    supports_chat = True

    def __init__(self, spec: ModelSpec, settings: Settings) -> None:
        super().__init__(spec, settings)
        headers = {"anthropic-version": API_VERSION}
        key = spec.resolved_api_key()
        if key:
            headers["x-api-key"] = key
        self.http = HttpClient(spec.base_url or "https://api.anthropic.com/v1", headers, self.timeout)

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        data = await self.http.post_json("/messages", to_anthropic(body, self.spec.model or self.spec.name))
        return from_anthropic(data, self.spec.name)

    async def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[list[dict[str, Any]]]:
        out = to_anthropic(body, self.spec.model or self.spec.name)
        out["stream"] = True
        cid, created = completion_id(), now()
        usage: dict[str, Any] = {}
        tool_index: dict[int, int] = {}  # Anthropic content-block index -> OpenAI tool_calls index

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": self.spec.name,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        def translate(ev: dict[str, Any]) -> list[dict[str, Any]]:
            """One Anthropic stream event as zero or more OpenAI chunks."""
            kind = ev.get("type")
            if kind == "message_start":
                usage.update(ev["message"].get("usage", {}))
                return [chunk({"role": "assistant", "content": ""})]
            if kind == "content_block_start" and ev["content_block"].get("type") == "tool_use":
                block = ev["content_block"]
                tool_index[ev["index"]] = len(tool_index)
                return [chunk({"tool_calls": [{"index": tool_index[ev["index"]], "id": block["id"], "type": "function",
                                               "function": {"name": block["name"], "arguments": ""}}]})]
            if kind == "content_block_delta":
                delta = ev["delta"]
                if delta.get("type") == "text_delta":
                    return [chunk({"content": delta["text"]})]
                if delta.get("type") == "input_json_delta":
                    return [chunk({"tool_calls": [{"index": tool_index.get(ev["index"], 0),
                                                   "function": {"arguments": delta["partial_json"]}}]})]
            elif kind == "message_delta":
                usage.update(ev.get("usage", {}))
                reason = ev.get("delta", {}).get("stop_reason")
                if reason:
                    return [chunk({}, _FINISH.get(reason, "stop"))]
            elif kind == "error":
                raise UpstreamError(f"upstream stream error: {ev.get('error', {}).get('message', ev)}")
            return []

        async with self.http.post("/messages", out) as resp:
            async for events in sse_batches(resp):
                batch: list[dict[str, Any]] = []
                for _event, data in events:
                    try:
                        ev = orjson.loads(data)
                    except orjson.JSONDecodeError as exc:
                        raise UpstreamError("upstream sent an unreadable stream event") from exc
                    batch.extend(translate(ev))
                if batch:
                    yield batch
        yield [{"id": cid, "object": "chat.completion.chunk", "created": created, "model": self.spec.name,
                "choices": [], "usage": _usage(usage)}]

    async def aclose(self) -> None:
        await self.http.close()
