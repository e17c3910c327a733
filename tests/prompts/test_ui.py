"""The prompt and chain pages in real headless Chromium: list, versions, diff, playground side by side, runs."""

from __future__ import annotations

import uuid

import httpx

from shipyard.client import Shipyard
from tests.conftest import ARTIFACTS
from tests.helpers import ShipyardServer


def test_prompt_pages_diff_and_playground(server: ShipyardServer, browser: object) -> None:
    name = f"ui-{uuid.uuid4().hex[:6]}"
    sdk = Shipyard(server.url)
    sdk.prompts.create(name, messages=[{"role": "user", "content": "Hi {{ who }}, about {{ topic }}"}],
                       variables={"who": "string", "topic": {"type": "string", "default": "tea"}}, model="gpt-fake",
                       labels=["production"], message="first")
    sdk.prompts.create(name, messages=[{"role": "user", "content": "Hello {{ who }}! Topic: {{ topic }}"}],
                       variables={"who": "string", "topic": {"type": "string", "default": "tea"}}, model="gpt-fake",
                       message="friendlier")
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(server.url + "/ui/prompts")
    row = page.locator("#prompt-list tr", has_text=name)
    assert "v2" in row.inner_text() and "production → v1" in row.inner_text()
    row.locator("a").click()
    page.wait_for_url(f"**/ui/prompts/{name}")
    assert page.locator("#versions tbody tr").count() == 2 and "friendlier" in page.inner_text("#versions")

    page.select_option("#diff-form select[name=a]", "1")
    page.select_option("#diff-form select[name=b]", "2")
    page.click("#diff-form button")
    diff = page.locator("#diff")
    assert "-  content: Hi {{ who }}, about {{ topic }}" in diff.inner_text()
    assert diff.locator("span.add").count() >= 1

    page.select_option("#playground select[name=version]", "2")
    page.select_option("#playground select[name=compare]", "1")
    page.fill("input[name=var_who]", "Ann")
    page.click("#run-button")
    results = page.locator("#results .result")
    assert results.count() == 2
    assert "Hello Ann! Topic: tea" in results.nth(0).inner_text() and "Hi Ann, about tea" in results.nth(1).inner_text()
    assert "Hello from the fake upstream." in results.nth(0).inner_text()
    page.screenshot(path=str(ARTIFACTS / "prompts-playground.png"), full_page=True)

    page.fill("input[name=var_who]", "")
    page.fill("input[name=var_topic]", "")
    page.click("#render-button")
    assert "missing variable 'who'" in page.inner_text("#results")
    page.close()


def test_chain_pages_show_runs_and_the_failing_step(server: ShipyardServer, browser: object) -> None:
    name = f"ui-chain-{uuid.uuid4().hex[:6]}"
    sdk = Shipyard(server.url)
    sdk.chains.create(name, {"description": "two steps", "inputs": {"url": "string"}, "steps": [
        {"name": "prep", "type": "python", "function": "join", "args": {"items": ["a", "b"]}},
        {"name": "fetch", "type": "http", "url": "{{ url }}", "allow_hosts": ["example.com"]}]})
    r = httpx.post(server.url + f"/api/chains/{name}/run", json={"inputs": {"url": "http://127.0.0.1:9/"}})
    run_id = r.json()["error"]["run_id"]
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(server.url + f"/ui/chains?chain={name}")
    assert name in page.inner_text("#chain-list") and "summarize" in page.inner_text("#library")
    row = page.locator("#runs tr", has_text=run_id[:12])
    assert "error" in row.inner_text() and "fetch" in row.inner_text()
    row.locator("a").click()
    page.wait_for_url(f"**/ui/chains/runs/{run_id}")
    assert page.inner_text("#run-status") == "error"
    assert "Failed at step fetch" in page.inner_text("#run-error") and "allow-list" in page.inner_text("#run-error")
    assert "prep" in page.inner_text("#steps") and "a\n\nb" in page.inner_text("#steps")
    page.screenshot(path=str(ARTIFACTS / "chain-run.png"), full_page=True)
    page.goto(server.url + f"/ui/chains/{name}")
    assert "type: http" in page.inner_text("#spec")
    page.close()
