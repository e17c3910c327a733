"""Evaluation pages in real headless Chromium: datasets, an experiment report, a comparison, online scores."""

from __future__ import annotations

import time

import httpx

from shipyard.client import Shipyard
from tests.conftest import ARTIFACTS
from tests.helpers import ShipyardServer


def test_dashboard_pages_for_datasets_experiments_and_comparisons(eval_server: ShipyardServer,
                                                                  browser: object) -> None:
    sdk = Shipyard(eval_server.url)
    sdk.datasets.create("ui-qa")
    sdk.datasets.add_items("ui-qa", [{"input": f"city{n}", "expected": f"city{n}", "metadata": {"human_label": 1}}
                                     for n in range(12)])
    good = sdk.evals.run("ui-qa", "echo", ["exact_match", {"type": "llm_judge", "model": "judge", "name": "judge"}],
                         name="ui-echo", timeout=60)
    bad = sdk.evals.run("ui-qa", "gpt-fake", ["exact_match", {"type": "llm_judge", "model": "judge", "name": "judge"}],
                        name="ui-fake", timeout=60)
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(eval_server.url + "/ui/evals")
    assert page.locator("#datasets a", has_text="ui-qa").count() == 1
    assert page.locator("nav.sidebar a.active", has_text="Evaluations").count() == 1
    page.click("text=ui-qa")
    assert page.locator("#items tr").count() == 13  # header + 12 items
    page.screenshot(path=str(ARTIFACTS / "evals-dataset.png"), full_page=True)

    page.goto(eval_server.url + f"/ui/evals/experiments/{good['id']}")
    assert page.inner_text("#exp-status") == "completed"
    assert page.inner_text("#pass-rate").startswith("1.000")
    assert page.locator("svg.chart rect").count() > 0
    assert page.locator("#calibration td", has_text="judge").count() == 1  # judge vs the human labels
    assert page.locator("#results .result-row").count() == 12
    page.screenshot(path=str(ARTIFACTS / "evals-experiment.png"), full_page=True)

    page.goto(eval_server.url + "/ui/evals")
    page.check(f"input[value='{good['id']}']")
    page.check(f"input[value='{bad['id']}']")
    page.click("#compare-form button[type=submit]")
    page.wait_for_url("**/ui/evals/compare?**")
    verdicts = page.locator("#overall .verdict").all_inner_texts()
    assert "worse" in verdicts
    assert "12 changed" in page.inner_text("h2:has-text('Items')")
    assert page.locator("figure.chart-box", has_text="Per-item difference").count() == 1
    page.screenshot(path=str(ARTIFACTS / "evals-compare.png"), full_page=True)
    report = httpx.get(eval_server.url + f"/api/evals/compare/report?ids={good['id']}&ids={bad['id']}")
    assert report.status_code == 200 and "<style>" in report.text and "significant" not in report.text[:50]

    rule = sdk.evals.online_create("ui-online", ["json_valid"], sample_rate=1.0, model="echo")
    for text in ('{"a": 1}', "not json"):
        httpx.post(eval_server.url + "/v1/chat/completions",
                   json={"model": "echo", "messages": [{"role": "user", "content": text}]})
    time.sleep(2.6)
    sdk.evals.online_run(rule["id"])
    page.goto(eval_server.url + f"/ui/evals/online/{rule['id']}")
    assert page.locator("svg.chart circle").count() >= 1
    assert page.locator("#scores tr").count() == 3
    page.screenshot(path=str(ARTIFACTS / "evals-online.png"), full_page=True)
    page.close()
