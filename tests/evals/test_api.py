"""Evaluation over real HTTP: the API, the CLI as a CI job runs it, smollm2 as target and judge,
online scoring of production traffic, and a server killed mid-experiment."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shipyard.client import Shipyard
from tests.evals.conftest import eval_models
from tests.fake_upstream import REPLY
from tests.helpers import FakeUpstream, ShipyardServer


def shipyard(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard.cli.main", *args, "--url", url], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "250"})


def wait_done(sdk: Shipyard, ref: str, timeout: float = 300) -> dict:
    return sdk.evals.wait(ref, timeout=timeout, poll=0.2)


def test_bad_input_is_a_clear_error(eval_server: ShipyardServer) -> None:
    url = eval_server.url
    r = httpx.post(url + "/api/datasets/nope-ds/import?format=jsonl&create=true", content=b'{"input": "a"}\n{bad')
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("line 2: not JSON")
    assert httpx.get(url + "/api/datasets/nope-ds").status_code == 404  # nothing was created
    httpx.post(url + "/api/datasets", json={"name": "empty-ds"})
    cases = [({"dataset": "empty-ds", "target": "echo", "evaluators": ["exact_match"]}, 400, "has no items"),
             ({"dataset": "missing", "target": "echo", "evaluators": ["exact_match"]}, 404, "no dataset"),
             ({"dataset": "empty-ds", "target": "echo", "evaluators": ["vibes"]}, 400, "unknown evaluator 'vibes'"),
             ({"dataset": "empty-ds", "target": {"type": "callable"}, "evaluators": ["contains"]}, 400, "in-process"),
             ({"dataset": "empty-ds", "target": "echo", "evaluators": []}, 400, "evaluators")]
    for body, status, message in cases:
        r = httpx.post(url + "/api/evals/experiments", json=body)
        assert r.status_code == status and message in r.json()["error"]["message"], r.text
    r = httpx.post(url + "/api/evals/experiments/none/gates", json={"gates": ["accuracy>0.5"]})
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"


def test_smollm2_as_target_and_as_judge(eval_server: ShipyardServer) -> None:
    sdk = Shipyard(eval_server.url)
    sdk.datasets.create("arith")
    sdk.datasets.add_items("arith", [
        {"input": [{"role": "user", "content": "What is 2+2? Reply with the number only."}], "expected": "4"},
        {"input": [{"role": "user", "content": "What is the capital of France? One word."}], "expected": "Paris"},
        {"input": [{"role": "user", "content": "Name the color of a clear daytime sky. One word."}],
         "expected": "blue"}])
    exp = sdk.evals.create("arith", {"type": "model", "model": "smollm2",
                                     "params": {"max_tokens": 24, "temperature": 0}},
                           ["contains", "rouge_l", {"type": "llm_judge", "model": "smollm2", "name": "local_judge",
                                                      "max_tokens": 48},
                            {"type": "llm_judge", "model": "gpt-fake", "name": "chatty_judge"}], concurrency=2)
    exp = wait_done(sdk, exp["id"])
    assert exp["status"] == "completed" and exp["done"] == 3 and exp["errors"] == 0
    results = sdk.evals.results(exp["id"])
    for r in results:
        assert isinstance(r["output"], str) and r["output"].strip()
        local = r["scores"]["local_judge"]
        # A small local judge may or may not give a verdict; it is a score in range or an error, never NaN.
        assert (local["value"] in (0.0, 1.0) and "error" not in local) or (local["value"] is None and local["error"])
        chatty = r["scores"]["chatty_judge"]  # a model that answers prose: always an error, never a score
        assert chatty["value"] is None and chatty["error"].startswith("could not parse a verdict")
        assert chatty["error"].endswith(repr(REPLY))
    for m in exp["summary"]["metrics"].values():
        assert m["mean"] is None or math.isfinite(m["mean"])
    assert exp["summary"]["metrics"]["chatty_judge"]["errors"] == 3


def test_dataset_from_production_calls(eval_server: ShipyardServer) -> None:
    sdk = Shipyard(eval_server.url)
    r = httpx.post(eval_server.url + "/v1/chat/completions",
                   json={"model": "gpt-fake", "messages": [{"role": "user", "content": "keep me"}]})
    span_id = r.headers["x-request-id"]
    sdk.datasets.create("from-prod")
    deadline = time.monotonic() + 10
    while True:
        try:
            out = sdk.datasets.from_traces("from-prod", span_ids=[span_id])
            break
        except Exception:  # the batched writer has not flushed the span yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert out["added"] == 1
    item = sdk.datasets.items("from-prod")["data"][0]
    assert item["input"] == [{"role": "user", "content": "keep me"}] and item["expected"] == REPLY
    assert item["source_span_id"] == span_id
    exported = sdk.datasets.export("from-prod", "openai")
    assert json.loads(exported) == {"input": [{"role": "user", "content": "keep me"}], "ideal": REPLY}


def test_online_rule_scores_a_sample_of_traffic(eval_server: ShipyardServer) -> None:
    sdk = Shipyard(eval_server.url)
    sdk.datasets.create("online-ds")
    sdk.datasets.add_items("online-ds", [{"input": "ping from an experiment"}])
    rule = sdk.evals.online_create("pings", [{"type": "contains", "value": "ping"}], sample_rate=1.0, model="echo")
    for text in ("ping 1", "ping 2", "pong"):
        httpx.post(eval_server.url + "/v1/chat/completions",
                   json={"model": "echo", "messages": [{"role": "user", "content": text}]}).raise_for_status()
    wait_done(sdk, sdk.evals.create("online-ds", "echo", ["contains"])["id"])  # evaluation's own calls: not scored
    time.sleep(2.6)  # past the rule's lag, so the batched writer has written every span
    out = sdk.evals.online_run(rule["id"])
    assert out["scored_now"] == 3 and out["scored"] == 3
    assert sorted(s["value"] for s in sdk.evals.online_scores("pings")) == [0.0, 1.0, 1.0]
    series = sdk.evals.online_series("pings")
    assert [round(p["mean"], 3) for p in series["contains"]] == [0.667] and series["contains"][0]["n"] == 3
    assert sdk.evals.online_run("pings")["scored_now"] == 0  # nothing new: nothing scored twice
    r = httpx.post(eval_server.url + "/api/evals/online", json={"name": "x", "evaluators": ["contains"],
                                                                "sample_rate": 0})
    assert r.status_code == 400 and "sample_rate" in r.json()["error"]["message"]


def test_cli_gates_for_ci(eval_server: ShipyardServer, tmp_path: Path) -> None:
    url = eval_server.url
    data = tmp_path / "words.jsonl"
    data.write_text("".join(json.dumps({"input": f"word{n}", "ideal": f"word{n}"}) + "\n" for n in range(16)))
    imported = shipyard(url, "datasets", "import", "words", str(data), "--create")
    assert imported.returncode == 0 and "added 16 items" in imported.stdout, imported.stderr

    good = shipyard(url, "eval", "run", "words", "-t", "echo", "-e", "exact_match", "--gate", "accuracy>=0.9",
                    "--name", "echo-baseline", "--report", str(tmp_path / "report.html"))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "PASS accuracy>=0.9: pass_rate = 1 meets >= 0.9" in good.stdout
    assert "<svg" in (tmp_path / "report.html").read_text()

    strict = shipyard(url, "eval", "run", "words", "-t", "echo", "-e", "exact_match", "-e", "latency:max_ms=0.001",
                      "--gate", "latency.pass_rate>=0.5")
    assert strict.returncode == 1 and "FAIL latency.pass_rate>=0.5" in strict.stdout
    assert strict.stderr.strip().splitlines()[-1] == "error: evaluation gate failed"

    worse = shipyard(url, "eval", "run", "words", "-t", "gpt-fake", "-e", "exact_match", "--baseline",
                     "echo-baseline", "--name", "regressed")
    assert worse.returncode == 1
    assert "significantly worse: pass_rate: 0 vs baseline 1" in worse.stdout
    same = shipyard(url, "eval", "run", "words", "-t", "echo", "-e", "exact_match", "--baseline", "echo-baseline")
    assert same.returncode == 0, same.stdout

    cmp = shipyard(url, "eval", "compare", "echo-baseline", "regressed", "--report", str(tmp_path / "cmp.html"))
    assert cmp.returncode == 0 and "worse" in cmp.stdout and "16 of 16 items changed" in cmp.stdout
    assert "Per-item difference" in (tmp_path / "cmp.html").read_text()
    exported = shipyard(url, "datasets", "export", "words", "--format", "csv")
    assert exported.returncode == 0 and exported.stdout.startswith("input,expected,context,metadata")
    bad = shipyard(url, "eval", "run", "words", "-t", "echo", "-e", "regex:pattern=(")
    assert bad.returncode == 1 and bad.stderr.startswith("error: evaluator 'regex': bad pattern")


@pytest.mark.slow
def test_a_killed_server_resumes_its_experiment(tmp_path: Path, upstream: FakeUpstream) -> None:
    config = {"models": eval_models(upstream.url), "evals_online_interval": 0}
    srv = ShipyardServer(tmp_path, config)
    try:
        sdk = Shipyard(srv.url)
        sdk.datasets.create("slow")
        sdk.datasets.add_items("slow", [{"input": f"n{n}", "expected": f"n{n}"} for n in range(10)])
        exp = sdk.evals.create("slow", "slow-echo", ["exact_match"], concurrency=1)
        while sdk.evals.get(exp["id"])["done"] < 3:
            time.sleep(0.05)
        srv.stop(signal.SIGKILL)
        srv = ShipyardServer(tmp_path, config)
        sdk = Shipyard(srv.url)
        partial = sdk.evals.results(exp["id"])
        before = {r["item_id"]: r["trace_id"] for r in partial}
        assert 3 <= len(before) < 10
        done = wait_done(sdk, exp["id"], timeout=60)
        assert done["status"] == "completed" and done["done"] == 10 and done["summary"]["pass_rate"]["mean"] == 1.0
        after = {r["item_id"]: r["trace_id"] for r in sdk.evals.results(exp["id"])}
        assert len(after) == 10 and all(after[k] == v for k, v in before.items())
    finally:
        srv.stop()
