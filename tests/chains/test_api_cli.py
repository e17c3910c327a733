"""Chains over real HTTP: `shipyard chains install|run|push|runs`, the API's SSE stream, errors that name the step."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from shipyard.client import Shipyard
from shipyard.errors import InvalidRequest, ShipyardError
from tests.helpers import ShipyardServer


def shipyard(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard.cli.main", *args, "--url", url], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "250"})


@pytest.mark.slow
def test_install_and_run_a_library_chain_from_the_cli(server: ShipyardServer, tmp_path: Path) -> None:
    name = f"sum-{uuid.uuid4().hex[:6]}"
    out = tmp_path / "summarize.yaml"
    installed = shipyard("chains", "install", "summarize", "--as", name, "-o", str(out), url=server.url)
    assert installed.returncode == 0, installed.stderr
    assert f"{name} v1 installed" in installed.stdout and "type: map" in out.read_text()
    doc = tmp_path / "doc.txt"
    doc.write_text("Bees live in colonies. A colony has one queen and thousands of workers. "
                   "Workers collect nectar and make honey. " * 3)
    ran = shipyard("chains", "run", name, "--input", f"document=@{doc}", "--input", "chunk_size:=200",
                   "--input", "max_tokens:=24", url=server.url)
    assert ran.returncode == 0, ran.stderr
    assert "✓ chunks (python" in ran.stdout and "✓ partials (map" in ran.stdout and "run " in ran.stdout
    runs = shipyard("chains", "runs", "--chain", name, url=server.url)
    assert name in runs.stdout and "ok" in runs.stdout


def test_push_run_stream_and_history_over_the_api(server: ShipyardServer, tmp_path: Path) -> None:
    name = f"echoer-{uuid.uuid4().hex[:6]}"
    (tmp_path / f"{name}.yaml").write_text(
        "inputs: {topic: string}\nsteps:\n"
        "  - {name: shout, type: python, function: split_text, args: {text: '{{ topic }}', size: 50}}\n"
        "  - name: say\n    type: llm\n    model: gpt-fake\n"
        "    messages: [{role: user, content: 'tell me about {{ shout[0] }}'}]\n")
    pushed = shipyard("chains", "push", str(tmp_path), "-l", "production", url=server.url)
    assert pushed.returncode == 0 and f"{name} v1 new" in pushed.stdout, pushed.stderr
    sdk = Shipyard(server.url)
    result = sdk.chains.run(name, {"topic": "tides"}, "production")
    assert result["status"] == "ok" and result["output"] == "Hello from the fake upstream."
    assert result["steps"]["shout"] == ["tides"]
    events = list(sdk.chains.stream(name, {"topic": "tides"}))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "step" and "delta" in kinds and kinds[-1] == "done"
    assert "".join(e["content"] for e in events if e["event"] == "delta") == "Hello from the fake upstream."
    assert events[-1]["output"] == "Hello from the fake upstream."
    runs = sdk.chains.runs(name)
    assert len(runs) == 2 and {r["status"] for r in runs} == {"ok"} and runs[0]["version"] == 1
    assert sdk.chains.get_run(result["id"])["steps"]["shout"] == ["tides"]

    cli = shipyard("chains", "run", name, "-i", "topic=moon", "--no-stream", url=server.url)
    assert cli.returncode == 0 and cli.stdout.strip() == "Hello from the fake upstream."
    assert "steps:" in shipyard("chains", "show", name, url=server.url).stdout


def test_errors_name_the_step_and_never_a_500(server: ShipyardServer) -> None:
    sdk = Shipyard(server.url)
    name = f"bad-{uuid.uuid4().hex[:6]}"
    cyclic = {"steps": [{"name": "a", "type": "llm", "model": "gpt-fake",
                         "messages": [{"role": "user", "content": "{{ b }}"}]},
                        {"name": "b", "type": "llm", "model": "gpt-fake",
                         "messages": [{"role": "user", "content": "{{ a }}"}]}]}
    r = httpx.post(server.url + "/api/chains", json={"name": name, **cyclic})
    assert r.status_code == 400 and "cycle" in r.json()["error"]["message"]
    with pytest.raises(InvalidRequest, match="references 'nope'"):
        sdk.chains.create(name, {"steps": [{"name": "a", "type": "python", "function": "join",
                                            "args": {"items": "{{ nope }}"}}]})
    sdk.chains.create(name, {"inputs": {"url": "string"}, "steps": [
        {"name": "fetch", "type": "http", "url": "{{ url }}", "allow_hosts": ["api.example.com"]}]})
    r = httpx.post(server.url + f"/api/chains/{name}/run", json={"inputs": {"url": "http://127.0.0.1:9/x"}})
    error = r.json()["error"]
    assert r.status_code == 400 and error["code"] == "host_not_allowed" and error["step"] == "fetch"
    assert "step 'fetch'" in error["message"] and error["run_id"]
    failed = sdk.chains.get_run(error["run_id"])
    assert failed["status"] == "error" and failed["failed_step"] == "fetch"
    r = httpx.post(server.url + f"/api/chains/{name}/run", json={"inputs": {}})
    assert r.status_code == 400 and "missing input 'url'" in r.json()["error"]["message"]
    r = httpx.post(server.url + f"/api/chains/{name}/run", json={"inputs": {"url": "x"}, "stream": True})
    assert r.status_code == 200 and "event: error" in r.text and "absolute http(s) URL" in r.text
    with pytest.raises(ShipyardError, match="host '127.0.0.1' is not in the allow-list"):
        list(sdk.chains.stream(name, {"url": "http://127.0.0.1:9/"}))
    r = httpx.post(server.url + "/api/chains/no-such-chain/run", json={"stream": True})
    assert r.status_code == 404
    r = httpx.post(server.url + "/api/chains/run", json={"spec": {"steps": []}})
    assert r.status_code == 400 and "non-empty list" in r.json()["error"]["message"]
    r = httpx.post(server.url + "/api/chains", json={"name": "runs", "steps": cyclic["steps"][:1]})
    assert r.status_code == 400 and "reserved" in r.json()["error"]["message"]
    r = httpx.post(server.url + "/api/chains/library/nope/install")
    assert r.status_code == 404 and "summarize" in r.json()["error"]["message"]
    cli = shipyard("chains", "run", name, "-i", "url=http://10.0.0.1/", url=server.url)
    assert cli.returncode == 1 and "step 'fetch'" in cli.stderr and "Traceback" not in cli.stderr
