"""The observability pages in real headless Chromium: overview, traces (filter, open, score), scores, drift.
Screenshots land in test-artifacts/."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shipyard.store import Store
from tests.conftest import ARTIFACTS, hosted_models
from tests.helpers import FakeUpstream, ShipyardServer
from tests.observe.factory import span_row, write
from tests.observe.test_drift import COOK_WORDS, COOKING, LEGAL, LEGAL_WORDS, prompts

MARKER = "kraken" + os.urandom(3).hex()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[ShipyardServer]:
    s = ShipyardServer(tmp_path_factory.mktemp("dash"), {"models": hosted_models(upstream.url)})
    for i in range(5):
        httpx.post(s.url + "/v1/chat/completions", timeout=30, json={
            "model": "gpt-fake", "messages": [{"role": "user", "content": f"question {i} about {MARKER}"}]})
    for _ in range(2):
        httpx.post(s.url + "/v1/chat/completions", timeout=30,
                   json={"model": "broken", "messages": [{"role": "user", "content": "fail please"}]})
    now = datetime.now(UTC)
    root, trace_id = os.urandom(8).hex(), os.urandom(16).hex()
    spans = [
        {"id": root, "trace_id": trace_id, "name": "answer question", "kind": "chain", "start_time": now.isoformat(),
         "latency_ms": 900, "input": {"question": "Which ships sail tonight?"}, "output": "The Nautilus.",
         "session_id": "sess-1", "user_id": "ada"},
        {"id": os.urandom(8).hex(), "trace_id": trace_id, "parent_id": root, "name": "search timetable",
         "kind": "retrieval", "start_time": (now + timedelta(milliseconds=10)).isoformat(), "latency_ms": 80,
         "input": "ships tonight", "output": ["Nautilus 21:00", "Argo 23:30"], "metadata": {"top_k": 2}},
        {"id": os.urandom(8).hex(), "trace_id": trace_id, "parent_id": root, "name": "chat.completions",
         "kind": "generation", "model": "gpt-fake", "start_time": (now + timedelta(milliseconds=100)).isoformat(),
         "latency_ms": 700, "prompt_tokens": 40, "completion_tokens": 6,
         "input": [{"role": "system", "content": "Use the timetable."},
                   {"role": "user", "content": "Which ships sail tonight?"}],
         "output": {"role": "assistant", "content": "The Nautilus."}},
    ]
    assert httpx.post(s.url + "/api/traces/ingest", json={"spans": spans}).status_code == 202
    s.chain_trace = trace_id  # type: ignore[attr-defined]
    yield s
    s.stop()


def goto_until(page: object, url: str, selector: str, ready: object, timeout: float = 10.0) -> None:
    """The batched writer stores within a fraction of a second; reload until the data is there."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)  # type: ignore[attr-defined]
        if ready(page) or time.monotonic() > deadline:  # type: ignore[operator]
            return
        time.sleep(0.3)


def test_overview_charts_requests_latency_tokens_cost_errors(srv: ShipyardServer, browser: object) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    goto_until(page, srv.url + "/ui?range=1h", "#total-requests",
               lambda p: int(p.inner_text("#total-requests").replace(",", "")) >= 8)
    assert int(page.inner_text("#total-requests").replace(",", "")) >= 8
    assert int(page.inner_text("#total-errors").split()[0]) >= 2
    captions = page.locator("figure.chart-box figcaption, .chart-empty").all_inner_texts()  # cost: no prices set
    assert any("Requests" in c for c in captions) and any("p95" in c for c in captions)
    assert any("Tokens" in c for c in captions) and any("Cost" in c for c in captions)
    assert any("Errors" in c for c in captions)
    assert page.locator("svg.chart circle").count() > 0
    page.select_option("select[name=model]", "broken")
    page.wait_for_url("**model=broken**")
    assert int(page.inner_text("#total-requests").replace(",", "")) == 2
    page.goto(srv.url + "/ui?range=1h")
    page.screenshot(path=str(ARTIFACTS / "observe-overview.png"), full_page=True)
    page.close()


def test_traces_filter_open_and_score(srv: ShipyardServer, browser: object) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    goto_until(page, srv.url + "/ui/traces", "tr.trace-row", lambda p: p.locator("tr.trace-row").count() >= 8)
    assert page.locator("tr.trace-row").count() >= 8
    page.screenshot(path=str(ARTIFACTS / "observe-traces.png"), full_page=True)
    page.select_option("select[name=status]", "error")
    page.click("#trace-filters button[type=submit]")
    page.wait_for_url("**status=error**")
    badges = page.locator("tr.trace-row td:nth-child(3)").all_inner_texts()
    assert len(badges) == 2 and set(badges) == {"error"}
    page.goto(srv.url + "/ui/traces")
    page.fill("input[name=q]", MARKER)
    page.click("#trace-filters button[type=submit]")
    page.wait_for_url(f"**q={MARKER}**")
    assert page.locator("tr.trace-row").count() == 5
    # open the chain trace from the list
    page.goto(srv.url + "/ui/traces?session_id=sess-1")
    page.click(f"tr[data-trace-id='{srv.chain_trace}'] a >> nth=1")  # type: ignore[attr-defined]
    page.wait_for_url(f"**/ui/traces/{srv.chain_trace}")  # type: ignore[attr-defined]
    tree = page.locator("#span-tree")
    assert tree.locator("li.span-node").count() == 3
    assert tree.locator("ul.tree li.span-node").count() == 2  # two children under the chain
    text = tree.inner_text()
    assert "Use the timetable." in text and "Nautilus 21:00" in text and "top_k" in text
    page.fill("form.score-form input[name=name]", "helpful")
    page.fill("form.score-form input[name=value]", "true")
    page.fill("form.score-form input[name=comment]", "spot on")
    page.click("form.score-form button[type=submit]")
    page.wait_for_selector("#score-table")
    assert "spot on" in page.inner_text("#score-table")
    page.fill("form.score-form input[name=name]", "")
    page.screenshot(path=str(ARTIFACTS / "observe-trace-detail.png"), full_page=True)
    page.goto(srv.url + "/ui/scores")
    assert "helpful" in page.inner_text("#score-summary") and "spot on" in page.inner_text("#score-list")
    page.screenshot(path=str(ARTIFACTS / "observe-scores.png"), full_page=True)
    page.close()


@pytest.mark.slow
def test_drift_page_runs_a_check_and_shows_the_alert(srv: ShipyardServer, browser: object) -> None:
    store = Store(f"sqlite:///{srv.data_dir / 'shipyard.db'}")
    rng = random.Random(3)
    now = datetime.now(UTC)
    rows = [span_row(model="drifty", prompt=t, start=now - timedelta(hours=30, minutes=i))
            for i, t in enumerate(prompts(COOKING, COOK_WORDS, 40, rng))]
    rows += [span_row(model="drifty", prompt=t, start=now - timedelta(hours=1, minutes=i))
             for i, t in enumerate(prompts(LEGAL, LEGAL_WORDS, 40, rng))]
    write(store, rows)
    store.dispose()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.goto(srv.url + "/ui/drift")
    assert page.locator("#no-alerts").count() == 1
    page.fill("#drift-check input[name=model]", "nobody")
    page.click("#drift-check button[type=submit]")
    assert "at least 20" in page.inner_text("#drift-error")
    page.fill("#drift-check input[name=model]", "drifty")
    page.click("#drift-check button[type=submit]")
    page.wait_for_selector("#drift-alerts", timeout=120_000)
    assert "Drift on drifty" in page.inner_text("#drift-alerts")
    assert page.locator("#drift-runs tbody tr").count() == 1
    assert page.locator("svg.chart circle").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "observe-drift.png"), full_page=True)
    page.close()
