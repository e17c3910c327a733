"""Prompts as users reach them: the CLI pushing a folder, the gateway's `prompt:NAME@label`, the SDK's cache."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select

from shipyard.client import Shipyard
from shipyard.errors import NotFound, UpstreamError
from shipyard.store import Store
from shipyard.store.tables import Span
from tests.helpers import FakeUpstream, ShipyardServer


def shipyard(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard.cli.main", *args, "--url", url], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "250"})


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def span_with(server: ShipyardServer, request_id: str) -> Span:
    store = Store(f"sqlite:///{server.data_dir / 'shipyard.db'}")
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            with store.session() as s:
                found = s.scalar(select(Span).where(Span.id == request_id))
            if found is not None:
                return found
            time.sleep(0.2)
    finally:
        store.dispose()
    raise AssertionError(f"no span {request_id}")


def test_cli_push_list_show_diff_label_render(server: ShipyardServer, tmp_path: Path) -> None:
    name = unique("greet")
    folder = tmp_path / "prompts"
    folder.mkdir()
    path = folder / f"{name}.yaml"
    path.write_text("messages:\n  - {role: system, content: 'Be {{ tone }}.'}\n"
                    "  - {role: user, content: 'Hi {{ who }}'}\n"
                    "variables: {who: string, tone: {type: string, default: kind}}\nmodel: gpt-fake\n"
                    "labels: [production]\nmessage: first version\n")
    pushed = shipyard("prompts", "push", str(folder), url=server.url)
    assert pushed.returncode == 0, pushed.stderr
    assert f"{name} v1 new" in pushed.stdout and "production" in pushed.stdout
    again = shipyard("prompts", "push", str(path), url=server.url)
    assert f"{name} v1 unchanged" in again.stdout
    path.write_text(path.read_text().replace("Hi {{ who }}", "Hello {{ who }}!").replace("[production]", "[]"))
    assert f"{name} v2 new" in shipyard("prompts", "push", str(folder), "-l", "staging", url=server.url).stdout

    listed = shipyard("prompts", "list", url=server.url)
    assert name in listed.stdout and "production→v1" in listed.stdout and "staging→v2" in listed.stdout
    shown = shipyard("prompts", "show", name, "-v", "production", url=server.url)
    assert shown.returncode == 0 and "Hi {{ who }}" in shown.stdout
    history = shipyard("prompts", "show", name, "--history", url=server.url)
    assert "v2" in history.stdout and "first version" in history.stdout
    diff = shipyard("prompts", "diff", name, "1", "2", url=server.url)
    assert "-  content: Hi {{ who }}" in diff.stdout and "+  content: Hello {{ who }}!" in diff.stdout

    rendered = shipyard("prompts", "render", name, "--var", "who=Ann", "-v", "production", url=server.url)
    assert rendered.returncode == 0 and "system: Be kind." in rendered.stdout and "user: Hi Ann" in rendered.stdout
    moved = shipyard("prompts", "label", name, "production", "2", url=server.url)
    assert f"{name}: production → v2" in moved.stdout
    rendered = shipyard("prompts", "render", name, "--var", "who=Ann", "-v", "production", url=server.url)
    assert "user: Hello Ann!" in rendered.stdout
    ran = shipyard("prompts", "render", name, "--var", "who=Ann", "--run", url=server.url)
    assert ran.returncode == 0 and "Hello from the fake upstream." in ran.stdout

    missing = shipyard("prompts", "render", name, url=server.url)
    assert missing.returncode == 1 and "missing variable 'who'" in missing.stderr
    assert "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("messages:\n  - {role: user, content: '{% for %}'}\n")
    refused = shipyard("prompts", "push", str(bad), url=server.url)
    assert refused.returncode == 1 and "document 1 (bad): invalid template" in refused.stderr
    nothing = shipyard("prompts", "show", "no-such-prompt", url=server.url)
    assert nothing.returncode == 1 and "prompt 'no-such-prompt' does not exist" in nothing.stderr


def test_the_gateway_renders_prompt_references(server: ShipyardServer, upstream: FakeUpstream) -> None:
    name = unique("support")
    sdk = Shipyard(server.url)
    sdk.prompts.create(name, messages=[{"role": "system", "content": "You help with {{ product }}."},
                                       {"role": "user", "content": "{{ question }}"}],
                       variables={"product": "string", "question": "string"}, model="gpt-fake",
                       params={"temperature": 0.3, "max_tokens": 50}, labels=["production"])
    sdk.prompts.create(name, messages=[{"role": "user", "content": "v2 {{ question }}"}], model="gpt-fake")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=f"prompt:{name}@production", messages=[{"role": "user", "content": "and one more thing"}],
        max_tokens=20, extra_body={"prompt": {"variables": {"product": "kettles", "question": "It leaks"}}})
    answer = raw.parse()
    assert answer.choices[0].message.content == "Hello from the fake upstream."
    seen = httpx.get(upstream.url + "/v1/_last_request").json()
    assert seen["messages"] == [{"role": "system", "content": "You help with kettles."},
                                {"role": "user", "content": "It leaks"},
                                {"role": "user", "content": "and one more thing"}]
    assert seen["temperature"] == 0.3 and seen["max_tokens"] == 20  # the version's params, the caller's win
    record = span_with(server, raw.headers["x-request-id"])
    assert record.model == "gpt-fake" and record.meta["prompt"] == {"name": name, "version": 1, "label": "production"}

    latest = httpx.post(server.url + "/v1/chat/completions", json={
        "prompt": {"name": name, "variables": {"question": "hi"}}, "model": "gpt-fake"}).json()
    assert latest["choices"][0]["message"]["content"]
    assert httpx.get(upstream.url + "/v1/_last_request").json()["messages"] == [{"role": "user", "content": "v2 hi"}]

    for body, status, text in (
        ({"model": f"prompt:{name}@production", "prompt": {"variables": {"product": "x"}}}, 400,
         "missing variable 'question'"),
        ({"model": f"prompt:{name}@canary"}, 404, "has no label 'canary'"),
        ({"model": "prompt:nope-nothing"}, 404, "prompt 'nope-nothing' does not exist"),
        ({"model": "gpt-fake", "prompt": "support"}, 400, "'prompt' must be an object"),
        ({"model": f"prompt:{name}@production", "prompt": {"variables": {"product": 1, "question": "q"}}}, 400,
         "variable 'product' must be of type string"),
    ):
        r = httpx.post(server.url + "/v1/chat/completions", json=body)
        assert r.status_code == status and text in r.json()["error"]["message"], (body, r.text)


def test_a_prompt_on_the_local_model(server: ShipyardServer) -> None:
    name = unique("local")
    sdk = Shipyard(server.url)
    sdk.prompts.create(name, template="Name one {{ thing }}.", model="smollm2", params={"max_tokens": 8})
    answer = sdk.prompts.run(name, {"thing": "colour"})
    assert answer["model"] and answer["choices"][0]["message"]["content"].strip()
    assert answer["usage"]["completion_tokens"] <= 8


def test_sdk_cache_refreshes_in_the_background_and_survives_an_outage(tmp_path: Path,
                                                                      upstream: FakeUpstream) -> None:
    srv = ShipyardServer(tmp_path / "srv", {"include_bundled_models": False})
    try:
        sdk = Shipyard(srv.url)
        sdk.prompts.create("faq", template="v1 {{ q }}", labels=["production"])
        first = sdk.prompts.get("faq", "production", ttl=0.0)
        assert first.version == 1 and first.render(q="x") == "v1 x" and not first.fallback
        sdk.prompts.create("faq", template="v2 {{ q }}", labels=["production"])
        stale = sdk.prompts.get("faq", "production", ttl=0.0)  # answered from the cache at once...
        assert stale.version == 1
        deadline = time.monotonic() + 10
        while sdk.prompts.get("faq", "production", ttl=0.0).version != 2:  # ...and refreshed behind it
            assert time.monotonic() < deadline, "the background refresh never landed"
            time.sleep(0.05)
        body = sdk.prompts.get("faq", "production").request(q="why")
        assert body == {"messages": [{"role": "user", "content": "v2 why"}]}
    finally:
        srv.stop()
    # The server is gone: the last known version keeps working, a default stands in for the unknown.
    assert sdk.prompts.get("faq", "production", ttl=0.0).render(q="y") == "v2 y"
    fallback = sdk.prompts.get("never-fetched", default={"template": "default {{ q }}"})
    assert fallback.fallback and fallback.render(q="z") == "default z"
    with pytest.raises(UpstreamError, match="cannot reach Shipyard"):
        sdk.prompts.get("never-fetched")


def test_sdk_get_of_an_unknown_prompt(server: ShipyardServer) -> None:
    sdk = Shipyard(server.url)
    with pytest.raises(NotFound):
        sdk.prompts.get(unique("missing"))
    got: Any = sdk.prompts.get(unique("missing"), default={"messages": [{"role": "user", "content": "hi"}]})
    assert got.fallback and got.messages() == [{"role": "user", "content": "hi"}]
