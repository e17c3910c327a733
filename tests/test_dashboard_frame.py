"""The dashboard frame in real headless Chromium: it loads, navigates, and charts real traffic."""

from __future__ import annotations

import httpx

from shipyard.ui.charts import bar_chart, line_chart, scatter_chart
from tests.conftest import ARTIFACTS
from tests.helpers import ShipyardServer


def test_overview_charts_real_requests(server: ShipyardServer, browser: object) -> None:
    for _ in range(3):
        httpx.post(server.url + "/v1/chat/completions",
                   json={"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]})
    page = browser.new_page()  # type: ignore[attr-defined]
    import time

    deadline = time.monotonic() + 10
    while True:  # the batched writer flushes within a fraction of a second
        page.goto(server.url + "/ui")
        total = int(page.inner_text("#total-requests").replace(",", ""))
        if total >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert total >= 3
    assert page.locator("svg.chart polyline, svg.chart circle").count() > 0
    assert page.locator("nav.sidebar a", has_text="Overview").count() == 1
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
    page.close()


def test_login_sets_the_cookie_and_returns(server: ShipyardServer, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(server.url + "/ui/login?next=/ui")
    page.fill("input[name=api_key]", "sk-anything")
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/ui")
    assert any(c["name"] == "shipyard_key" for c in page.context.cookies())
    page.close()


def test_charts_render_values_as_hover_titles() -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    svg = str(line_chart({"a": [(t0, 1.0), (t0 + timedelta(hours=1), 3.0)], "b": [(t0, 2.0)]}, title="T"))
    assert svg.count("<polyline") == 1 and "a 01-01" in svg and ": 3</title>" in svg
    assert "no data yet" in str(line_chart({}, title="Empty"))
    bars = str(bar_chart(["x", "y"], [1, 4], title="B"))
    assert bars.count("<rect") == 2 and "y: 4</title>" in bars
    dots = str(scatter_chart([(0, 0, "p1"), (1, 1, "p2")], groups=["c0", "c1"]))
    assert dots.count("<circle") == 2 and "c1" in dots
