"""The SDK's @observe against a real server: nesting, async, errors, gateway calls joining the trace;
and its production safety: a dead server or a full queue never reaches the application."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from shipyard.client import Shipyard
from shipyard.client import observe as sdk_observe
from shipyard.client.observe import SpanSender, configure, flush, observe, traceparent
from shipyard.observe import tracing
from tests.conftest import hosted_models
from tests.helpers import FakeUpstream, ShipyardServer


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[ShipyardServer]:
    s = ShipyardServer(tmp_path_factory.mktemp("sdk"), {"models": hosted_models(upstream.url),
                                                       "include_bundled_models": False})
    yield s
    s.stop()


@pytest.fixture
def sink(srv: ShipyardServer) -> Iterator[SpanSender]:
    sender = configure(url=srv.url, flush_interval=0.05)
    yield sender
    sender.close(2)
    tracing.install(None)
    sdk_observe._sender = None


@observe(kind="retrieval")
def search_docs(query: str, k: int = 2) -> list[str]:
    return [f"doc about {query}"] * k


@observe
async def answer(question: str, base_url: str) -> str:
    docs = search_docs(question)
    with observe("rerank", kind="tool", metadata={"k": 1}) as s:
        s.update(output=docs[:1])
    async with httpx.AsyncClient() as client:
        r = await client.post(base_url + "/v1/chat/completions", headers=traceparent(),
                              json={"model": "gpt-fake", "messages": [{"role": "user", "content": question}]})
    return r.json()["choices"][0]["message"]["content"]


@observe(name="fragile step", kind="tool")
def fragile() -> None:
    raise KeyError("missing")


def test_observe_builds_one_trace_across_functions_and_the_gateway(srv: ShipyardServer, sink: SpanSender) -> None:
    text = asyncio.run(answer("ferries", srv.url))
    with pytest.raises(KeyError):  # the application's own exception comes through unchanged
        fragile()
    assert flush(10) and sink.sent >= 4 and sink.dropped == 0
    with Shipyard(srv.url) as sdk:
        deadline = time.monotonic() + 10
        while True:
            page = sdk.traces.list(name="answer")["data"]
            if page and page[0]["spans"] == 4 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        tree = sdk.traces.get(page[0]["id"])
        failed = sdk.traces.list(name="fragile step")["data"]
        failed_tree = sdk.traces.get(failed[0]["id"]) if failed else None
    [root] = tree["spans"]
    assert root["kind"] == "span" and root["input"]["question"] == "ferries" and root["output"] == text
    kids = {c["name"]: c for c in root["children"]}
    assert set(kids) == {"search_docs", "rerank", "chat.completions"}
    assert kids["search_docs"]["kind"] == "retrieval" and kids["search_docs"]["input"] == {"query": "ferries"}
    assert kids["rerank"]["metadata"] == {"k": 1} and kids["rerank"]["output"] == ["doc about ferries"]
    assert kids["chat.completions"]["model"] == "gpt-fake"  # the gateway call joined through traceparent
    assert failed and failed[0]["status"] == "error"
    assert failed_tree is not None and failed_tree["spans"][0]["error_message"] == "'missing'"


def test_safe_in_production_when_the_server_is_gone_or_the_queue_is_full() -> None:
    from opentelemetry import trace as otel_trace

    provider_before = otel_trace.get_tracer_provider()
    sender = configure(url="http://127.0.0.1:9", queue_size=5, flush_interval=5, retries=0, timeout=0.5)
    try:
        for i in range(50):
            with observe(f"step {i}") as s:
                s.update(output=i)
        assert sender.dropped >= 45  # the queue held 5; the rest were counted and dropped
        assert search_docs("x", k=1) == ["doc about x"]  # the application carries on
        assert otel_trace.get_tracer_provider() is provider_before  # the global provider is the app's
    finally:
        sender.close(3)
        tracing.install(None)
        sdk_observe._sender = None
    assert sender.dropped == 51 and sender.sent == 0  # 50 steps and search_docs: all lost, none raised


def test_ingest_rejects_bad_spans_with_a_clear_error(srv: ShipyardServer) -> None:
    r = httpx.post(srv.url + "/api/traces/ingest", json={"spans": [{"id": "a", "trace_id": "b", "name": "x"}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "start_time"
    r = httpx.post(srv.url + "/api/traces/ingest", json={"spans": "nope"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "spans"
