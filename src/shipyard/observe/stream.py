"""Several replicas, one store: with Redis configured, spans travel through a Redis stream.

Each replica's `StreamWriter` queues rows like the plain `BatchWriter` (no I/O on the request path),
but its flush appends the batch to a Redis stream instead of the database. Every replica also runs a
consumer in one consumer group, so each batch is stored by exactly one of them and acknowledged only
after its transaction commits. A batch left unacknowledged by a replica that died is claimed by
another after `claim_idle` seconds; inserts skip rows already stored, so a redelivery is harmless.
A clean shutdown pushes what is queued locally, then stores every batch not yet taken, so it loses
nothing. The stream is named after the database, so replicas that share a database share a stream
and unrelated installations on one Redis never mix their spans.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import DateTime, MetaData, Table

from shipyard.config import Settings
from shipyard.observe.writer import BatchWriter
from shipyard.store import Store
from shipyard.store.tables import Base

log = logging.getLogger(__name__)
GROUP = "writers"


def stream_name(settings: Settings) -> str:
    if settings.trace_stream:
        return settings.trace_stream
    digest = hashlib.sha1(settings.effective_database_url.encode()).hexdigest()[:12]
    return f"{settings.redis_prefix}spans:{digest}"


class StreamWriter(BatchWriter):
    def __init__(self, store: Store, redis_url: str, stream: str, *, claim_idle: float = 60.0,
                 **kwargs: Any) -> None:
        import redis

        super().__init__(store, **kwargs)
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=10)
        self.stream = stream
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        self.claim_idle_ms = int(claim_idle * 1000)
        self.relayed = 0
        self._consumer: asyncio.Task[None] | None = None
        self._tables: dict[str, Table] = {}
        self._reclaim_every = 0

    # -- producing --------------------------------------------------------------------------------------
    def flush_once(self) -> int:
        batch = self._take(self.batch_size * 10)
        if not batch:
            return 0
        by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for table, row in batch:
            by_table[table.name].append(row)
        try:
            pipe = self.redis.pipeline(transaction=False)
            for name, rows in by_table.items():
                pipe.xadd(self.stream, {"t": name, "r": orjson.dumps(rows, default=str)})
            pipe.execute()
        except Exception:
            self._give_back(batch)
            raise
        self.relayed += len(batch)
        return len(batch)

    # -- consuming --------------------------------------------------------------------------------------
    def start(self) -> None:
        from redis.exceptions import ResponseError

        try:
            self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        super().start()
        self._consumer = asyncio.get_running_loop().create_task(self._consume_loop(), name="shipyard-stream-consumer")

    async def _consume_loop(self) -> None:
        while not self._stopping:
            try:
                await asyncio.to_thread(self.consume_once, 500)
            except Exception:
                self.failures += 1
                log.exception("storing spans from the Redis stream failed; they stay pending and are retried")
                await asyncio.sleep(1.0)

    def _table(self, name: str) -> Table:
        table = self._tables.get(name)
        if table is None:
            table = Base.metadata.tables.get(name)
        if table is None:
            table = Table(name, MetaData(), autoload_with=self.store.engine)
        self._tables[name] = table
        return table

    def _decode(self, fields: dict[bytes, bytes]) -> tuple[Table, list[dict[str, Any]]]:
        table = self._table(fields[b"t"].decode())
        rows = orjson.loads(fields[b"r"])
        times = [c.name for c in table.columns if isinstance(c.type, DateTime)]
        for row in rows:
            for name in times:
                value = row.get(name)
                if isinstance(value, str):
                    row[name] = datetime.fromisoformat(value)
        return table, rows

    def consume_once(self, block_ms: int | None = None, count: int = 20) -> int:
        """Store one read's worth of batches; returns how many rows were stored."""
        entries: list[tuple[bytes, dict[bytes, bytes]]] = []
        self._reclaim_every -= 1
        if self._reclaim_every <= 0:  # batches a dead replica took but never stored
            self._reclaim_every = 20
            claimed = self.redis.xautoclaim(self.stream, GROUP, self.consumer, self.claim_idle_ms, "0-0", count=count)
            entries += claimed[1] if claimed else []
        if not entries:
            answer = self.redis.xreadgroup(GROUP, self.consumer, {self.stream: ">"}, count=count, block=block_ms)
            for _stream, items in answer or []:
                entries += items
        if not entries:
            return 0
        by_table: dict[Table, list[dict[str, Any]]] = defaultdict(list)
        for entry_id, fields in entries:
            if not fields:  # trimmed away already
                continue
            try:
                table, rows = self._decode(fields)
            except Exception:  # a malformed entry would otherwise come back forever
                self.rejected += 1
                log.exception("dropped stream entry %s that could not be decoded", entry_id)
                continue
            by_table[table] += rows
        self.store_rows(by_table)
        self.redis.xack(self.stream, GROUP, *[entry_id for entry_id, _ in entries])
        n = sum(len(rows) for rows in by_table.values())
        self.written += n
        self.notify(by_table)
        return n

    def drain(self) -> None:
        """Store every batch in the stream that no consumer has taken yet."""
        while self.consume_once(None, count=100):
            pass

    def flush_all(self, timeout: float = 30.0) -> None:
        """Push the local queue into the stream, then store what is waiting there: afterwards the rows
        are in the database, as with the plain writer."""
        super().flush_all(timeout)
        try:
            self.drain()
        except Exception:
            log.exception("draining the span stream failed; the batches stay pending for another replica")

    async def stop(self) -> None:
        await super().stop()  # flushes the local queue into the stream and drains it
        if self._consumer is not None:
            await self._consumer
            self._consumer = None
        await asyncio.to_thread(self.drain)  # anything another replica added meanwhile
        self.redis.close()


def make_writer(settings: Settings, store: Store) -> BatchWriter:
    """The plain batched writer, or the stream writer when Redis is configured."""
    kwargs: dict[str, Any] = {"queue_size": settings.writer_queue_size, "batch_size": settings.writer_batch_size,
                              "flush_interval": settings.writer_flush_interval}
    if settings.redis_url:
        return StreamWriter(store, settings.redis_url, stream_name(settings), **kwargs)
    return BatchWriter(store, **kwargs)
