"""The collections pages in real headless Chromium: search a collection, see hits, see the cluster map."""

from __future__ import annotations

import uuid

from shipyard.client import Shipyard
from tests.conftest import ARTIFACTS
from tests.helpers import ShipyardServer
from tests.vectors.conftest import topic_documents


def test_search_page_and_cluster_map(server: ShipyardServer, browser: object) -> None:
    name = f"ui-{uuid.uuid4().hex[:8]}"
    with Shipyard(base_url=server.url) as sdk:
        sdk.collections.create(name)
        sdk.collections.upsert(name, topic_documents())
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(server.url + "/ui/collections")
    page.click(f"text={name}")
    assert page.inner_text("#doc-count") == "12"
    page.fill("input[name=q]", "caramelized onions in olive oil")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#hits")
    first = page.locator("#hits tr.hit").first.inner_text()
    assert "cooking-4" in first and "caramelize" in first
    page.screenshot(path=str(ARTIFACTS / "collections-search.png"), full_page=True)
    page.fill("input[name=filters]", '{"author": "x"}')
    page.click("#search-form button[type=submit]")
    assert "author" in page.inner_text("#search-error")
    page.goto(f"{server.url}/ui/collections/{name}/map?k=2")
    assert page.locator("#cluster-map svg.chart circle").count() == 12
    assert page.locator("#clusters tbody tr").count() == 2
    assert page.locator("#outliers tbody tr").count() == 10
    page.screenshot(path=str(ARTIFACTS / "collections-map.png"), full_page=True)
    page.close()
