"""The observability surface over real HTTP: traces API, scores, stats, /metrics, OTLP in and out, the CLI."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shipyard.client import Shipyard
from tests.conftest import hosted_models
from tests.helpers import FakeUpstream, ShipyardServer
from tests.observe.receivers import Receiver


@pytest.fixture(scope="module")
def collector() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream, collector: Receiver
        ) -> Iterator[ShipyardServer]:
    s = ShipyardServer(tmp_path_factory.mktemp("observe"), {
        "models": hosted_models(upstream.url), "include_bundled_models": False,
        "otlp_endpoint": collector.url + "/v1/traces", "otlp_headers": {"x-collector-token": "t0k"}})
    yield s
    s.stop()


def shipyard(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard.cli.main", *args, "--url", url], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "250"})


def chat(url: str, content: str, model: str = "gpt-fake", **extra: Any) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", timeout=30,
                      json={"model": model, "messages": [{"role": "user", "content": content}], **extra})


def wait_for(fn: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_gateway_calls_are_searchable_traces_with_scores(srv: ShipyardServer) -> None:
    marker = "zanzibar" + os.urandom(3).hex()
    r = chat(srv.url, f"tell me about {marker}", user="alice", metadata={"env": "prod", "session_id": "s-42"})
    assert r.status_code == 200
    trace_id = r.headers["x-trace-id"]
    chat(srv.url, "something else", model="broken")
    with Shipyard(srv.url) as sdk:
        found = wait_for(lambda: sdk.traces.list(q=marker)["data"])
        assert [t["id"] for t in found] == [trace_id]
        assert found[0]["models"] == ["gpt-fake"] and found[0]["user_id"] == "alice"
        assert [t["id"] for t in sdk.traces.list(metadata={"env": "prod"}, user_id="alice")["data"]] == [trace_id]
        assert sdk.traces.list(session_id="s-42")["data"][0]["id"] == trace_id
        errors = wait_for(lambda: sdk.traces.list(status="error", model="broken")["data"])
        assert errors and all(t["status"] == "error" for t in errors)
        tree = sdk.traces.get(trace_id)
        [root] = tree["spans"]
        assert root["kind"] == "generation" and marker in root["input"][0]["content"]
        assert root["output"]["content"].startswith("Hello")
        score = sdk.traces.score(trace_id, "thumbs", False, source="end-user", comment="wrong island")
        assert score["value"] is False and score["data_type"] == "boolean"
        sdk.scores.add(trace_id, "quality", "needs-work", source="reviewer")
        assert {s["name"] for s in sdk.traces.get(trace_id)["scores"]} == {"thumbs", "quality"}
        spans = sdk.traces.spans(kind="generation", model="gpt-fake", content=True, limit=1)["data"]
        assert spans and "input" in spans[0]

    missing = httpx.post(srv.url + "/api/scores", json={"trace_id": "nope", "name": "x", "value": 1})
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "trace_id"
    bad = httpx.post(srv.url + f"/api/traces/{trace_id}/scores", json={"name": "x", "value": [1]})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    cursor = httpx.get(srv.url + "/api/traces", params={"cursor": "%%%"})
    assert cursor.status_code == 400 and cursor.json()["error"]["param"] == "cursor"
    status = httpx.get(srv.url + "/api/traces", params={"status": "meh"})
    assert status.status_code == 400

    listed = shipyard("traces", "list", "-q", marker, url=srv.url)
    assert listed.returncode == 0 and trace_id in listed.stdout, listed.stderr
    shown = shipyard("traces", "show", trace_id, url=srv.url)
    assert shown.returncode == 0 and "generation" in shown.stdout and "thumbs" in shown.stdout
    added = shipyard("scores", "add", trace_id, "accuracy", "0.9", "-c", "fine", url=srv.url)
    assert added.returncode == 0 and "accuracy = 0.9" in added.stdout, added.stderr
    nope = shipyard("traces", "show", "does-not-exist", url=srv.url)
    assert nope.returncode == 1 and nope.stderr.strip().startswith("error: trace 'does-not-exist' was not found")


def test_stats_and_cli(srv: ShipyardServer) -> None:
    for _ in range(3):
        chat(srv.url, "count me")
    with Shipyard(srv.url) as sdk:
        out = wait_for(lambda: (s := sdk.stats.get(bucket="minute", model="gpt-fake"))["total"]["requests"] >= 3 and s)
    assert out["series"][-1]["latency_p50_ms"] > 0 and out["total"]["prompt_tokens"] > 0
    cli = shipyard("stats", "--hours", "1", url=srv.url)
    assert cli.returncode == 0 and "gpt-fake" in cli.stdout and "total" in cli.stdout, cli.stderr
    bad = httpx.get(srv.url + "/api/stats", params={"bucket": "fortnight"})
    assert bad.status_code == 400 and "bucket" in bad.json()["error"]["message"]


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_requests_tokens_latency_and_errors(srv: ShipyardServer) -> None:
    before = httpx.get(srv.url + "/metrics").text
    for _ in range(2):
        chat(srv.url, "metrics please")
    chat(srv.url, "stream it", stream=True)
    chat(srv.url, "fail", model="broken")
    r = httpx.get(srv.url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    ok = dict(model="gpt-fake", project="default", status="ok")
    assert _metric(text, "shipyard_requests_total", **ok) - _metric(before, "shipyard_requests_total", **ok) == 3
    assert _metric(text, "shipyard_request_latency_seconds_count", model="gpt-fake") >= 3
    assert _metric(text, "shipyard_time_to_first_token_seconds_count", model="gpt-fake") >= 1
    assert _metric(text, "shipyard_tokens_total", model="gpt-fake", direction="input") > 0
    assert _metric(text, "shipyard_upstream_errors_total", model="broken") >= 1
    for name in ("shipyard_writer_queue_depth", "shipyard_cache_hits_total", "shipyard_ratelimit_refusals_total",
                 "shipyard_guard_decisions_total", "shipyard_cost_usd_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in text


def _otlp_json(trace_id: str, marker: str) -> dict[str, Any]:
    root, child = os.urandom(8).hex(), os.urandom(8).hex()

    def attr(key: str, **value: Any) -> dict[str, Any]:
        return {"key": key, "value": value}

    return {"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", stringValue="my-agent")]},
        "scopeSpans": [{"scope": {"name": "openllmetry"}, "spans": [
            {"traceId": trace_id, "spanId": root, "name": "agent run", "startTimeUnixNano": "1700000000000000000",
             "endTimeUnixNano": "1700000001000000000", "kind": 1,
             "attributes": [attr("gen_ai.operation.name", stringValue="invoke_agent"),
                            attr("session.id", stringValue="otel-session")]},
            {"traceId": trace_id, "spanId": child, "parentSpanId": root, "name": "chat gpt-4o",
             "startTimeUnixNano": "1700000000100000000", "endTimeUnixNano": "1700000000900000000", "kind": 3,
             "status": {"code": 2, "message": "rate limited"},
             "attributes": [attr("gen_ai.operation.name", stringValue="chat"),
                            attr("gen_ai.request.model", stringValue="gpt-4o"),
                            attr("gen_ai.usage.input_tokens", intValue="12"),
                            attr("gen_ai.usage.output_tokens", intValue=7),
                            attr("gen_ai.prompt.0.role", stringValue="user"),
                            attr("gen_ai.prompt.0.content", stringValue=f"hello {marker}"),
                            attr("gen_ai.completion", stringValue='[{"role": "assistant", "content": "hi"}]'),
                            attr("temperature", doubleValue=0.2)]},
        ]}]}]}


def test_otlp_ingest_json_and_protobuf_with_genai_conventions(srv: ShipyardServer) -> None:
    import base64

    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    marker = "otlp" + os.urandom(3).hex()
    trace_json = os.urandom(16).hex()
    r = httpx.post(srv.url + "/v1/traces", content=orjson.dumps(_otlp_json(trace_json, marker)),
                   headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    # The same spans as protobuf, gzipped as exporters send them (ids are bytes there).
    trace_pb = os.urandom(16).hex()
    data = _otlp_json(trace_pb, marker)
    for span in data["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in span:
                span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    message = ParseDict(data, ExportTraceServiceRequest())
    r = httpx.post(srv.url + "/v1/traces", content=gzip.compress(message.SerializeToString()),
                   headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    with Shipyard(srv.url) as sdk:
        for trace_id in (trace_json, trace_pb):
            tree = wait_for(lambda t=trace_id: _get(sdk, t))
            [root] = tree["spans"]
            assert root["kind"] == "chain" and root["session_id"] == "otel-session"
            assert tree["name"] == "agent run" and root["metadata"]["service.name"] == "my-agent"
            [gen] = root["children"]
            assert gen["kind"] == "generation" and gen["model"] == "gpt-4o"
            assert (gen["prompt_tokens"], gen["completion_tokens"]) == (12, 7)
            assert gen["input"] == [{"role": "user", "content": f"hello {marker}"}]
            assert gen["output"] == [{"role": "assistant", "content": "hi"}]
            assert gen["status"] == "error" and gen["error_message"] == "rate limited"
            assert gen["metadata"]["temperature"] == 0.2 and abs(gen["latency_ms"] - 800) < 1
    bad = httpx.post(srv.url + "/v1/traces", content=b"\x00garbage", headers={"content-type": "application/x-protobuf"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_body"
    no_id = httpx.post(srv.url + "/v1/traces", json={"resourceSpans": [{"scopeSpans": [{"spans": [
        {"name": "x", "startTimeUnixNano": "1"}]}]}]})
    assert no_id.status_code == 400 and "traceId" in no_id.json()["error"]["message"]


def _get(sdk: Shipyard, trace_id: str) -> dict[str, Any] | None:
    try:
        tree = sdk.traces.get(trace_id)
    except Exception:
        return None
    return tree if tree["span_count"] == 2 else None


def test_spans_are_exported_to_an_otlp_collector(srv: ShipyardServer, collector: Receiver) -> None:
    r = chat(srv.url, "export me please")
    trace_id = r.headers["x-trace-id"]

    def exported() -> list[Any]:
        return [s for s in collector.otlp_spans() if s.trace_id.hex() == trace_id]

    [span] = wait_for(exported)
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert attrs["gen_ai.operation.name"].string_value == "chat"
    assert attrs["gen_ai.request.model"].string_value == "gpt-fake"
    assert attrs["gen_ai.usage.output_tokens"].int_value == 5
    assert "export me please" in attrs["gen_ai.input.messages"].string_value
    path, headers, _ = collector.requests[-1]
    assert path == "/v1/traces" and headers["content-type"] == "application/x-protobuf"
    assert headers["x-collector-token"] == "t0k"


def test_logs_dir_is_clean(srv: ShipyardServer) -> None:
    """No tracebacks in the server log from anything above."""
    assert "Traceback" not in Path(srv.data_dir / "server.log").read_text(errors="replace")
