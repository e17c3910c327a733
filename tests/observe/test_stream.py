"""Replicas hand spans to the store through a Redis stream (consumer group): nothing lost on a clean
shutdown, batches a dead replica took are claimed by a live one, and real server processes agree."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from shipyard.observe import tracing
from shipyard.observe.stream import GROUP, StreamWriter
from shipyard.store import Store
from shipyard.store.tables import Span
from tests.conftest import hosted_models
from tests.helpers import REDIS_URL, FakeUpstream, ShipyardServer, drop_database, postgres_database, service_missing
from tests.observe.factory import span_row

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_stream() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        service_missing("Redis on 127.0.0.1:6379")
    name = f"shipyard-test:{uuid.uuid4().hex}:spans"
    yield name
    client.delete(name)
    client.close()


def count(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Span)) or 0


def writer(store: Store, stream: str, **kw: object) -> StreamWriter:
    return StreamWriter(store, REDIS_URL, stream, batch_size=50, flush_interval=0.05, **kw)  # type: ignore[arg-type]


async def test_two_replicas_one_store_nothing_lost(tmp_path: Path, redis_stream: str) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.upgrade()
    a, b = writer(store, redis_stream), writer(store, redis_stream, claim_idle=5)
    a.start()
    b.start()
    for _ in range(300):
        a.put(tracing.SPANS, span_row())
        b.put(tracing.SPANS, span_row())
    await asyncio.sleep(0.5)
    late = writer(store, redis_stream)  # rows queued just before shutdown, with no time to flush
    late.start()
    for _ in range(100):
        late.put(tracing.SPANS, span_row())
    await late.stop()
    await a.stop()
    await b.stop()
    assert count(store) == 700
    assert a.relayed + b.relayed + late.relayed == 700
    assert a.written + b.written + late.written == 700  # each batch stored once, by whichever replica took it
    info = a.redis.__class__.from_url(REDIS_URL).xpending(redis_stream, GROUP)
    assert info["pending"] == 0


async def test_batches_of_a_dead_replica_are_claimed(tmp_path: Path, redis_stream: str) -> None:
    import redis

    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.upgrade()
    producer = writer(store, redis_stream)
    producer.redis.xgroup_create(redis_stream, GROUP, id="0", mkstream=True)
    for _ in range(40):
        producer.put(tracing.SPANS, span_row())
    producer.flush_once()  # into the stream only
    ghost = redis.Redis.from_url(REDIS_URL)
    taken = ghost.xreadgroup(GROUP, "crashed-replica", {redis_stream: ">"}, count=100)
    assert taken and count(store) == 0  # taken by a replica that then died without storing them
    await asyncio.sleep(0.3)
    survivor = writer(store, redis_stream, claim_idle=0.2)
    survivor.start()
    await survivor.stop()
    ghost.close()
    assert count(store) == 40 and survivor.written == 40


@pytest.mark.postgres
def test_two_server_processes_share_one_database_through_redis(tmp_path: Path, upstream: FakeUpstream,
                                                               redis_stream: str) -> None:
    url = postgres_database()
    try:
        config = {"models": hosted_models(upstream.url), "include_bundled_models": False, "database_url": url}
        env = {"SHIPYARD_REDIS_URL": REDIS_URL, "SHIPYARD_TRACE_STREAM": redis_stream,
               "SHIPYARD_REDIS_PREFIX": f"shipyard-test:{uuid.uuid4().hex}:", "SHIPYARD_WRITER_FLUSH_INTERVAL": "5"}
        replicas = [ShipyardServer(tmp_path / name, config, env=env) for name in ("r1", "r2")]
        ids = []
        for i in range(40):
            r = httpx.post(replicas[i % 2].url + "/v1/chat/completions", timeout=30,
                           json={"model": "gpt-fake", "messages": [{"role": "user", "content": f"n{i}"}]})
            assert r.status_code == 200
            ids.append(r.headers["x-request-id"])
        for replica in replicas:  # SIGTERM long before the 5 s flush interval: the drain must do it
            assert replica.stop() in (0, -15), replica.logs()  # uvicorn re-raises SIGTERM once shut down
            assert "Traceback" not in replica.logs()
        store = Store(url)
        with store.session() as s:
            stored = set(s.scalars(select(Span.id).where(Span.id.in_(ids))))
        store.dispose()
        assert stored == set(ids)
    finally:
        drop_database(url)
