"""Servers for the controls tests: real processes, real Redis and PostgreSQL, the fake hosted upstream."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.helpers import REDIS_URL, FakeUpstream, ShipyardServer, service_missing

ADMIN = "sk-shp-test-admin-0123456789"


def models(upstream: FakeUpstream) -> list[dict[str, Any]]:
    base = upstream.url + "/v1"
    return [
        {"name": "a", "provider": "openai", "model": "m-a", "base_url": base},
        {"name": "b", "provider": "openai", "model": "m-b", "base_url": base},
        {"name": "broken", "provider": "openai", "model": "fail-500", "base_url": base},
        {"name": "throttled", "provider": "openai", "model": "rate-limited", "base_url": base},
        {"name": "sleepy", "provider": "openai", "model": "slow", "base_url": base},
    ]


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_key(url: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("name", "test")
    r = httpx.post(url + "/api/keys", json=fields, headers=admin(), timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def chat(url: str, key: str | None, model: str = "a", content: str = "hello", **extra: Any) -> httpx.Response:
    headers = bearer(key) if key else {}
    headers.update(extra.pop("headers", {}))
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=60)


@pytest.fixture(scope="package")
def controlled(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[ShipyardServer]:
    """One server with keys (an admin key from SHIPYARD_ADMIN_KEY), limits in memory, and the cache on."""
    config = {"include_bundled_models": True, "models": models(upstream), "cache_enabled": True,
              "cache_semantic_models": ["a"], "cache_similarity": 0.9, "breaker_cooldown": 30}
    srv = ShipyardServer(tmp_path_factory.mktemp("controls"), config, env={"SHIPYARD_ADMIN_KEY": ADMIN})
    yield srv
    srv.stop()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"shipyard-test-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        service_missing("Redis on 127.0.0.1:6379")
    yield prefix
    for name in client.scan_iter(prefix + "*"):
        client.delete(name)
    client.close()


def new_server(root: Path, name: str, config: dict[str, Any], **env: str) -> ShipyardServer:
    return ShipyardServer(root / name, config, env={"SHIPYARD_ADMIN_KEY": ADMIN, **env})
