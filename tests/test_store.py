"""The store and the batched writer, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, inspect, select

from shipyard.observe.writer import BatchWriter
from shipyard.store import Store
from shipyard.store.tables import Span


def _row(i: int) -> dict[str, object]:
    return {"id": uuid.uuid4().hex[:16], "trace_id": uuid.uuid4().hex, "parent_id": None, "project_id": "default",
            "kind": "generation", "name": "chat.completions", "start_time": datetime.now(UTC), "end_time": None,
            "latency_ms": 1.0, "ttft_ms": None, "status": "ok", "status_code": 200, "error_type": None,
            "error_message": None, "model": f"m{i % 3}", "provider": "local", "stream": False,
            "input": [{"role": "user", "content": f"q{i}"}], "output": None, "prompt_tokens": i,
            "completion_tokens": 1, "cached_tokens": None, "cost": None, "key_id": None, "session_id": None,
            "user_id": None, "metadata": {"i": i}}


def count(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Span))


def test_migrations_create_tables_and_are_idempotent(store: Store) -> None:
    assert {"traces", "spans"} <= set(inspect(store.engine).get_table_names())
    store.upgrade()  # a second start applies nothing and breaks nothing
    assert store.ping()


async def test_writer_batches_concurrent_producers_and_drains_on_stop(store: Store) -> None:
    writer = BatchWriter(store, batch_size=200, flush_interval=0.05)
    writer.start()

    async def produce(offset: int) -> None:
        for i in range(500):
            writer.put(Span.__table__, _row(offset + i))
            if i % 50 == 0:
                await asyncio.sleep(0)

    await asyncio.gather(*(produce(k * 1000) for k in range(8)))
    await writer.stop()
    assert writer.dropped == 0
    assert count(store) == 4000
    with store.session() as s:
        assert s.scalar(select(Span.meta).where(Span.prompt_tokens == 7005)) == {"i": 7005}


def test_writer_drops_only_the_row_the_database_refuses(store: Store) -> None:
    writer = BatchWriter(store, batch_size=10, flush_interval=0.05)
    writer.put(Span.__table__, _row(1))
    writer.put(Span.__table__, _row(2) | {"id": None})  # violates NOT NULL: this row alone is refused
    writer.put(Span.__table__, _row(3))
    writer.flush_all()
    assert count(store) == 2 and writer.rejected == 1 and writer.depth == 0


def test_writer_keeps_rows_while_the_store_is_unreachable() -> None:
    writer = BatchWriter(Store("postgresql://postgres@127.0.0.1:1/nowhere"), batch_size=10)
    writer.put(Span.__table__, _row(1))
    writer.put(Span.__table__, _row(2))
    try:
        writer.flush_once()
    except Exception:
        pass
    assert writer.depth == 2  # nothing thrown away: written once the database is back


def test_writer_bound_counts_what_it_drops(store: Store) -> None:
    writer = BatchWriter(store, queue_size=3)
    for i in range(5):
        writer.put(Span.__table__, _row(i))
    assert writer.depth == 3 and writer.dropped == 2
    writer.flush_all()
    assert count(store) == 3
