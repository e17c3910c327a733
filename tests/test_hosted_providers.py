"""OpenAI-compatible and Anthropic upstreams through the gateway, against fakes that speak their wire
formats over real HTTP."""

from __future__ import annotations

import json

import openai
import pytest

from shipyard.providers.anthropic import from_anthropic, to_anthropic
from tests.fake_upstream import REPLY
from tests.helpers import ShipyardServer

TOOLS = [{"type": "function", "function": {"name": "weather", "description": "Weather in a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def client(server: ShipyardServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("model", ["gpt-fake", "claude-fake"])
def test_chat(client: openai.OpenAI, model: str) -> None:
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello there"}])
    assert reply.model == model
    assert reply.choices[0].message.content.startswith(REPLY)
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens == 2 and reply.usage.completion_tokens == len(REPLY.split())


@pytest.mark.parametrize("model", ["gpt-fake", "claude-fake"])
def test_stream_with_and_without_usage(client: openai.OpenAI, model: str) -> None:
    chunks = list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    assert chunks[-1].usage.completion_tokens == len(REPLY.split())
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    plain = list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                                stream=True))
    assert all(c.usage is None for c in plain)


def test_anthropic_system_prompt_is_translated(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="claude-fake", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content.endswith("(system: Be brief.)")


@pytest.mark.parametrize("model", ["gpt-fake", "claude-fake"])
def test_tool_calls(client: openai.OpenAI, model: str) -> None:
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "weather?"}],
                                           tools=TOOLS)
    call = reply.choices[0].message.tool_calls[0]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "weather" and json.loads(call.function.arguments) == {"city": "Paris"}


def test_openai_compatible_embeddings(client: openai.OpenAI) -> None:
    reply = client.embeddings.create(model="gpt-fake", input=["abc", "hello"], encoding_format="float")
    assert [d.embedding[0] for d in reply.data] == [3.0, 5.0]
    assert reply.model == "gpt-fake"


def test_to_anthropic_merges_turns_and_maps_tools() -> None:
    body = {
        "model": "x", "max_tokens": 50, "stop": "END", "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "sys one"},
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "cold"},
            {"role": "user", "content": "thanks"},
        ],
        "tools": TOOLS, "tool_choice": "required",
    }
    out = to_anthropic(body, "claude-x")
    assert out["system"] == "sys one"
    assert out["stop_sequences"] == ["END"] and out["max_tokens"] == 50
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    assert out["messages"][1]["content"][0] == {"type": "tool_use", "id": "c1", "name": "weather",
                                                "input": {"city": "Oslo"}}
    assert out["messages"][2]["content"][0]["type"] == "tool_result"
    assert out["messages"][2]["content"][1] == {"type": "text", "text": "thanks"}
    assert out["tools"][0]["input_schema"]["properties"]["city"]["type"] == "string"
    assert out["tool_choice"] == {"type": "any"}


def test_from_anthropic_maps_stop_reasons_and_cached_tokens() -> None:
    data = {"content": [{"type": "text", "text": "hi"}], "stop_reason": "max_tokens",
            "usage": {"input_tokens": 3, "output_tokens": 4, "cache_read_input_tokens": 10}}
    out = from_anthropic(data, "claude")
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["usage"] == {"prompt_tokens": 13, "completion_tokens": 4, "total_tokens": 17,
                            "prompt_tokens_details": {"cached_tokens": 10}}
