"""Shared fixtures: real servers, real databases, fake hosted upstreams (the only fakes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.config import Settings
from shipyard.store import Store
from tests.helpers import FakeUpstream, ShipyardServer, drop_database, postgres_database


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    yield fake
    fake.stop()


def hosted_models(upstream_url: str) -> list[dict[str, object]]:
    """Models served by the fake hosted upstreams, as a user would declare them in shipyard.yaml."""
    return [
        {"name": "gpt-fake", "provider": "openai", "model": "fake-model", "base_url": upstream_url + "/v1",
         "api_key": "sk-test"},
        {"name": "claude-fake", "provider": "anthropic", "model": "claude-test", "base_url": upstream_url + "/v1",
         "api_key": "sk-ant-test"},
        {"name": "broken", "provider": "openai", "model": "fail-500", "base_url": upstream_url + "/v1"},
        {"name": "sleepy", "provider": "openai", "model": "slow", "base_url": upstream_url + "/v1", "timeout": 1},
        {"name": "throttled", "provider": "openai", "model": "rate-limited", "base_url": upstream_url + "/v1"},
        {"name": "nowhere", "provider": "openai", "model": "x", "base_url": "http://127.0.0.1:9/v1"},
    ]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[ShipyardServer]:
    """One platform for the session: bundled local models plus the fake hosted ones."""
    srv = ShipyardServer(tmp_path_factory.mktemp("shipyard"), {"models": hosted_models(upstream.url)})
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url = postgres_database()
    yield url
    drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The store on both backends; every store test runs twice."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shipyard.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = Store(url)
    if not s.is_sqlite:
        with s.engine.begin() as conn:  # a clean schema per test on the shared database
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    s.upgrade()
    yield s
    s.dispose()


ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright; screenshots go to test-artifacts/.

    Module-scoped on purpose: Playwright's sync API runs its own event loop in this thread while open,
    so keep browser tests and `async def` tests in different modules."""
    import shutil

    chromium = shutil.which("chromium")
    if chromium is None:
        from tests.helpers import service_missing

        service_missing("chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield b
        b.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)
