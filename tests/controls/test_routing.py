"""Routing groups, retries, fallbacks, the circuit breaker, timeouts, and deployments: versions,
canary, shadow, promote and rollback, with zero failed requests while they change under load."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.controls.conftest import ADMIN, admin, chat, models, new_server
from tests.helpers import FakeUpstream, ShipyardServer, drop_database, postgres_database


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> ShipyardServer:
    deployments = [
        {"name": "flaky", "models": ["broken"], "fallbacks": ["a"], "retries": 1, "backoff": 0.01},
        {"name": "rest", "models": ["broken-too", "a"], "retries": 0, "breaker_failures": 2, "breaker_cooldown": 1.5},
        {"name": "spread", "models": [{"model": "a", "weight": 3}, {"model": "b", "weight": 1}]},
        {"name": "patient", "models": [{"model": "sleepy", "timeout": 0.5}], "retries": 0, "fallbacks": ["b"]},
        {"name": "busy", "strategy": "least-busy", "models": ["a", "b"]},
        {"name": "quick", "strategy": "lowest-latency", "models": ["a", "b"]},
    ]
    # breaker state belongs to a model, whatever deployment it serves: "rest" gets a failing model of its own
    extra = [{"name": "broken-too", "provider": "openai", "model": "fail-500", "base_url": upstream.url + "/v1"}]
    srv = new_server(tmp_path_factory.mktemp("routed"), "srv", {"include_bundled_models": False,
                     "models": models(upstream) + extra, "deployments": deployments})
    yield srv
    srv.stop()


def served(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    return r.headers["x-shipyard-served-by"] if "x-shipyard-served-by" in r.headers else r.json()["model"]


def test_fallback_to_another_model(routed: ShipyardServer) -> None:
    r = chat(routed.url, ADMIN, "flaky")
    assert r.status_code == 200 and r.json()["model"] == "a"
    stream = chat(routed.url, ADMIN, "flaky", stream=True)
    assert stream.status_code == 200 and "Hello" in stream.text
    time.sleep(0.6)
    row = next(x for x in httpx.get(routed.url + "/api/requests?limit=5", headers=admin()).json()["data"]
               if x["id"] == r.headers["x-request-id"])
    assert row["metadata"]["fallback"] == "a" and row["status_code"] == 200


def test_circuit_breaker_rests_a_failing_member_and_tries_it_again(routed: ShipyardServer) -> None:
    codes = [chat(routed.url, ADMIN, "rest").status_code for _ in range(24)]
    assert codes.count(502) == 2 and codes.count(200) == 22, codes  # two failures open the breaker
    time.sleep(1.6)  # the cooldown: one trial request goes to the failing member again
    codes = [chat(routed.url, ADMIN, "rest").status_code for _ in range(24)]
    assert codes.count(502) <= 1 and codes.count(200) >= 23, codes


def test_weighted_group(routed: ShipyardServer) -> None:
    counts = collections.Counter(served(chat(routed.url, ADMIN, "spread")) for _ in range(120))
    assert set(counts) == {"a", "b"} and 60 <= counts["a"] <= 110, counts


def test_least_busy_and_lowest_latency_serve_from_the_group(routed: ShipyardServer) -> None:
    assert {served(chat(routed.url, ADMIN, "busy")) for _ in range(20)} <= {"a", "b"}
    assert {served(chat(routed.url, ADMIN, "quick")) for _ in range(20)} <= {"a", "b"}


def test_per_member_timeout_then_fallback(routed: ShipyardServer) -> None:
    started = time.perf_counter()
    r = chat(routed.url, ADMIN, "patient")
    assert r.status_code == 200 and r.json()["model"] == "b"
    assert time.perf_counter() - started < 5


def test_deployments_in_model_list(routed: ShipyardServer) -> None:
    ids = {m["id"] for m in httpx.get(routed.url + "/v1/models", headers=admin()).json()["data"]}
    assert {"a", "b", "flaky", "spread"} <= ids


def test_bad_deployment_input(routed: ShipyardServer) -> None:
    r = httpx.put(routed.url + "/api/deployments/x", json={"models": ["nope"]}, headers=admin())
    assert r.status_code == 400 and "nope" in r.json()["error"]["message"]
    r = httpx.put(routed.url + "/api/deployments/x", json={"models": ["a"], "aliases": {"production": "v9"}},
                  headers=admin())
    assert r.status_code == 400 and "v9" in r.json()["error"]["message"]
    r = httpx.post(routed.url + "/api/deployments/spread/rollback", headers=admin())
    assert r.status_code == 409 and "roll back" in r.json()["error"]["message"]
    assert httpx.post(routed.url + "/api/deployments/none/promote", headers=admin()).status_code == 404


class Load:
    """Requests in background threads for the whole rollout; every answer's model is kept, in order."""

    def __init__(self, url: str, model: str, threads: int = 6) -> None:
        self.url, self.model = url, model
        self.served: list[tuple[float, str]] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, i: int) -> None:
        with httpx.Client(timeout=30, headers=admin()) as client:
            while not self.stop.is_set():
                body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": "hi"}],
                                        "stream": i % 2 == 0}
                try:
                    r = client.post(self.url + "/v1/chat/completions", json=body)
                    if r.status_code != 200 or "error" in r.text:
                        self.failures.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        model = r.json()["model"] if not body["stream"] else r.text.split('"model":"')[1].split('"')[0]
                        self.served.append((time.monotonic(), model))
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))

    def since(self, t: float) -> collections.Counter[str]:
        return collections.Counter(m for at, m in self.served if at >= t)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def _step(url: str, method: str, path: str, **body: Any) -> dict[str, Any]:
    r = httpx.request(method, url + "/api/deployments/bot" + path, json=body or None, headers=admin())
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_rollout_and_rollback_under_load_without_a_failed_request(routed: ShipyardServer) -> None:
    url = routed.url
    _step(url, "PUT", "", models=["a"])
    load = Load(url, "bot")
    try:
        time.sleep(0.8)
        assert set(load.since(0)) == {"a"}
        _step(url, "POST", "/versions", version="v2", models=[{"model": "b"}])
        _step(url, "PUT", "/canary", version="v2", percent=30)
        t = time.monotonic()
        time.sleep(1.5)
        canary = load.since(t)
        assert canary["a"] and canary["b"] and canary["b"] < canary["a"], canary
        promoted = _step(url, "POST", "/promote")
        assert promoted["production"] == "v2" and promoted["canary"] is None
        t = time.monotonic() + 0.05
        time.sleep(0.8)
        assert set(load.since(t)) == {"b"}
        rolled = _step(url, "POST", "/rollback")
        assert rolled["production"] == "v1"
        t = time.monotonic() + 0.05
        time.sleep(0.8)
        assert set(load.since(t)) == {"a"}
        _step(url, "PUT", "/canary", version="v2", percent=50)
        _step(url, "POST", "/rollback")  # ends the canary
        t = time.monotonic() + 0.05
        time.sleep(0.8)
        assert set(load.since(t)) == {"a"}
    finally:
        load.finish()
    assert not load.failures, load.failures[:5]
    assert len(load.served) > 50
    actions = [e["action"] for e in httpx.get(url + "/api/audit?limit=20", headers=admin()).json()["data"]]
    assert {"deployment.promote", "deployment.rollback", "deployment.canary", "deployment.version"} <= set(actions)


def test_aliases_and_version_names(routed: ShipyardServer) -> None:
    url = routed.url
    r = httpx.put(url + "/api/deployments/aliased", headers=admin(),
                  json={"versions": {"v1": [{"model": "a"}], "v2": [{"model": "b"}]},
                        "aliases": {"production": "v1", "staging": "v2"}})
    assert r.status_code == 200, r.text
    assert chat(url, ADMIN, "aliased").json()["model"] == "a"
    assert chat(url, ADMIN, "aliased@staging").json()["model"] == "b"
    assert chat(url, ADMIN, "aliased@v2").json()["model"] == "b"
    assert chat(url, ADMIN, "aliased@v7").status_code == 404


def test_shadow_records_answers_without_returning_them(routed: ShipyardServer) -> None:
    url = routed.url
    r = httpx.put(url + "/api/deployments/shadowed", headers=admin(),
                  json={"versions": {"v1": [{"model": "a"}], "v2": [{"model": "b"}]}, "shadow": "v2"})
    assert r.status_code == 200, r.text
    answer = chat(url, ADMIN, "shadowed")
    assert answer.json()["model"] == "a"
    time.sleep(0.8)
    rows = httpx.get(url + "/api/requests?limit=20&model=shadowed", headers=admin()).json()["data"]
    shadow = [x for x in rows if (x["metadata"] or {}).get("shadow_of") == answer.headers["x-request-id"]]
    assert len(shadow) == 1 and shadow[0]["metadata"]["served_by"] == "b" and shadow[0]["status_code"] == 200
    assert shadow[0]["completion_tokens"] == 5 and shadow[0]["trace_id"] == answer.headers["x-trace-id"]


def test_cli_deployments(routed: ShipyardServer) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "shipyard.cli.main", "deployments", *args, "--url", routed.url],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "SHIPYARD_API_KEY": ADMIN, "COLUMNS": "250"})

    spec = Path(routed.data_dir) / "cli-dep.yaml"
    spec.write_text("name: clidep\nmodels: [a]\n")
    assert run("apply", str(spec)).returncode == 0
    assert run("version", "clidep", "v2", "--model", "b").returncode == 0
    out = run("canary", "clidep", "v2", "--percent", "20")
    assert out.returncode == 0 and "v2 at 20%" in out.stdout
    out = run("promote", "clidep")
    assert out.returncode == 0 and "production=v2" in out.stdout
    assert chat(routed.url, ADMIN, "clidep").json()["model"] == "b"
    out = run("rollback", "clidep")
    assert out.returncode == 0 and "production=v1" in out.stdout
    listed = run("list")
    assert listed.returncode == 0 and "clidep" in listed.stdout
    bad = run("promote", "missing")
    assert bad.returncode == 1 and "no deployment" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.postgres
def test_promote_reaches_another_replica_without_restart(tmp_path: Path, upstream: FakeUpstream) -> None:
    """Two replicas on one PostgreSQL and no Redis: the other one polls the change within a second."""
    db = postgres_database()
    config = {"include_bundled_models": False, "models": models(upstream)}
    env = {"SHIPYARD_DATABASE_URL": db, "SHIPYARD_CONTROL_POLL_INTERVAL": "0.5"}
    one = new_server(tmp_path, "one", config, **env)
    two = new_server(tmp_path, "two", config, **env)
    try:
        assert httpx.put(one.url + "/api/deployments/rep", headers=admin(),
                         json={"versions": {"v1": [{"model": "a"}], "v2": [{"model": "b"}]}}).status_code == 200
        time.sleep(1.2)
        assert chat(two.url, ADMIN, "rep").json()["model"] == "a"
        assert httpx.post(one.url + "/api/deployments/rep/promote", json={"version": "v2"},
                          headers=admin()).status_code == 200
        time.sleep(1.2)
        assert chat(two.url, ADMIN, "rep").json()["model"] == "b"
    finally:
        one.stop()
        two.stop()
        drop_database(db)
