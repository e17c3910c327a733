"""Bad input gets the right status and an OpenAI-style error; the server keeps serving; all is recorded."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.helpers import ShipyardServer


def post(server: ShipyardServer, body: object | None = None, *, raw: bytes | None = None,
         path: str = "/v1/chat/completions") -> httpx.Response:
    if raw is not None:
        return httpx.post(server.url + path, content=raw, headers={"content-type": "application/json"}, timeout=30)
    return httpx.post(server.url + path, json=body, timeout=30)


def assert_error(resp: httpx.Response, status: int, *, code: str | None = None, param: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    assert "Traceback" not in resp.text
    return error


def msgs(text: str = "hi") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_malformed_json(server: ShipyardServer) -> None:
    err = assert_error(post(server, raw=b'{"model": "smollm2", "messages": ['), 400, code="invalid_json")
    assert err["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": msgs()}, "model"),
        ({"model": "smollm2"}, "messages"),
        ({"model": "smollm2", "messages": []}, "messages"),
        ({"model": "smollm2", "messages": "hello"}, "messages"),
        ({"model": "smollm2", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "smollm2", "messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
        ({"model": "smollm2", "messages": msgs(), "temperature": "hot"}, "temperature"),
        ({"model": "smollm2", "messages": msgs(), "temperature": 7}, "temperature"),
        ({"model": "smollm2", "messages": msgs(), "max_tokens": 0}, "max_tokens"),
        ({"model": "smollm2", "messages": msgs(), "stream": "yes"}, "stream"),
        ([1, 2, 3], None),
    ],
)
def test_invalid_fields_name_the_field(server: ShipyardServer, body: object, param: str | None) -> None:
    assert_error(post(server, body), 400, param=param)


def test_unknown_model_is_404(server: ShipyardServer) -> None:
    assert_error(post(server, {"model": "no-such-model", "messages": msgs()}), 404, code="model_not_found",
                 param="model")
    stream = post(server, {"model": "no-such-model", "messages": msgs(), "stream": True})
    assert_error(stream, 404, code="model_not_found")


def test_context_longer_than_the_window(server: ShipyardServer) -> None:
    long = " ".join(["lorem ipsum dolor"] * 1500)  # far past SmolLM2's 2048-token window
    assert_error(post(server, {"model": "smollm2", "messages": msgs(long)}), 400, code="context_length_exceeded")


def test_body_over_the_limit_is_413(server: ShipyardServer) -> None:
    big = b'{"model": "smollm2", "messages": [{"role": "user", "content": "' + b"x" * (9 * 1024 * 1024) + b'"}]}'
    assert_error(post(server, raw=big), 413)


def test_embeddings_bad_input(server: ShipyardServer) -> None:
    assert_error(post(server, {"model": "all-minilm-l6-v2", "input": []}, path="/v1/embeddings"), 400, param="input")
    assert_error(post(server, {"model": "all-minilm-l6-v2", "input": [1, 2]}, path="/v1/embeddings"), 400,
                 param="input")
    assert_error(post(server, {"model": "smollm2", "input": "x"}, path="/v1/embeddings"), 400, param="model")


def test_upstream_down_is_502_and_timeout_is_504(server: ShipyardServer) -> None:
    assert_error(post(server, {"model": "nowhere", "messages": msgs()}), 502)
    assert_error(post(server, {"model": "broken", "messages": msgs()}), 502)
    started = time.perf_counter()
    assert_error(post(server, {"model": "sleepy", "messages": msgs()}), 504, code="upstream_timeout")
    assert time.perf_counter() - started < 5
    assert_error(post(server, {"model": "nowhere", "messages": msgs(), "stream": True}), 502)


def test_upstream_rate_limit_passes_through_as_429(server: ShipyardServer) -> None:
    assert_error(post(server, {"model": "throttled", "messages": msgs()}), 429, code="rate_limit_exceeded")


def test_openai_client_sees_typed_errors(server: ShipyardServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="missing", messages=msgs())
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="smollm2", messages=[])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="nowhere", messages=msgs())


def test_unknown_route_is_json_404(server: ShipyardServer) -> None:
    assert_error(httpx.get(server.url + "/v1/nothing-here"), 404)


def test_client_leaving_mid_stream_is_recorded_and_server_keeps_serving(server: ShipyardServer) -> None:
    body = {"model": "smollm2", "messages": msgs("Write a long essay about ships."), "max_tokens": 400,
            "stream": True, "temperature": 0}
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=30) as resp:
        assert resp.status_code == 200
        lines = resp.iter_lines()
        for _ in range(3):
            next(lines)
        request_id = resp.headers["x-request-id"]
    # The server notices, stops generating, and records the request as abandoned.
    deadline = time.monotonic() + 20
    record = None
    while time.monotonic() < deadline and record is None:
        rows = httpx.get(server.url + "/api/requests", params={"limit": 200}).json()["data"]
        record = next((r for r in rows if r["id"] == request_id), None)
        time.sleep(0.3)
    assert record is not None
    assert record["status_code"] == 499 and record["error_type"] == "client_disconnected"
    assert record["completion_tokens"] is None or record["completion_tokens"] < 400
    assert httpx.get(server.url + "/health").status_code == 200


def test_failed_requests_are_recorded(server: ShipyardServer) -> None:
    post(server, {"model": "no-such-model-recorded", "messages": msgs()})
    post(server, {"model": "nowhere", "messages": msgs()})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = httpx.get(server.url + "/api/requests", params={"limit": 500}).json()["data"]
        by_model = {(r["model"], r["status_code"]) for r in rows}
        if {("no-such-model-recorded", 404), ("nowhere", 502)} <= by_model:
            break
        time.sleep(0.2)
    assert ("no-such-model-recorded", 404) in by_model
    assert ("nowhere", 502) in by_model
    failed = next(r for r in rows if r["model"] == "nowhere")
    assert failed["error_type"] == "upstream_error" and "unreachable" in failed["error_message"]
