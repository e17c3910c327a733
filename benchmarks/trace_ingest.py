"""Trace ingest: spans per second written through the batched writer, on SQLite and PostgreSQL.

Spans shaped like gateway calls (chat messages in, an answer out, tokens, metadata) are queued with
`writer.put()` as the gateway does, and the clock stops when the writer has stored the last one. The
baseline, measured in the same run on the same database, is one plain multi-row INSERT per 5,000
rows with no writer around it: the ratio shows what the writer's batching costs or saves. Every index
of the spans table is in place, including full-text search (FTS5 triggers / GIN tsvector).

    .venv/bin/python benchmarks/trace_ingest.py [--spans 50000] [--backend sqlite postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import drop_database, postgres_database
from tests.observe.factory import span_row

from shipyard.observe import tracing
from shipyard.observe.writer import BatchWriter
from shipyard.store import Store

WORDS = "ship harbour anchor tide sail crew cargo port storm compass lighthouse voyage".split()


def make_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        text = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(25))
        rows.append(span_row(prompt=f"Question {i}: {text}?", answer=f"Answer {i}: {text}.", model=f"m{i % 5}",
                             metadata={"env": "prod", "n": i}))
    return rows


async def through_writer(store: Store, rows: list[dict]) -> float:
    writer = BatchWriter(store, queue_size=2 * len(rows) + 1, batch_size=500, flush_interval=0.05)
    writer.start()
    t0 = time.perf_counter()
    for i, row in enumerate(rows):
        writer.put(tracing.SPANS, row)
        if row["parent_id"] is None:
            writer.put(tracing.TRACES, tracing.trace_row_for(row))
        if i % 1000 == 999:
            await asyncio.sleep(0)  # producers are request handlers: they yield to the loop
    while writer.written < 2 * len(rows):
        if writer.dropped or writer.rejected:
            raise RuntimeError(f"writer lost rows: dropped {writer.dropped}, rejected {writer.rejected}")
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - t0
    await writer.stop()
    return elapsed


def direct(store: Store, rows: list[dict]) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(rows), 5000):
        chunk = rows[start:start + 5000]
        with store.engine.begin() as conn:
            conn.execute(tracing.SPANS.insert(), chunk)
            conn.execute(tracing.TRACES.insert(), [tracing.trace_row_for(r) for r in chunk])
    return time.perf_counter() - t0


def fresh(url: str) -> Store:
    store = Store(url)
    store.upgrade()
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    args = parser.parse_args()
    print(f"{args.spans:,} spans (+ one trace row each), every index and full-text search in place")
    print(f"{'backend':<10}{'writer spans/s':>16}{'direct spans/s':>16}{'ratio':>8}{'target':>10}")
    for backend in args.backend:
        results = {}
        for mode in ("direct", "writer"):
            rows = make_rows(args.spans)  # fresh ids for every run
            if backend == "sqlite":
                url = f"sqlite:///{tempfile.mkdtemp(prefix='shipyard-ingest-')}/{mode}.db"
            else:
                url = postgres_database()
            store = fresh(url)
            try:
                elapsed = asyncio.run(through_writer(store, rows)) if mode == "writer" else direct(store, rows)
            finally:
                store.dispose()
                if backend == "postgres":
                    drop_database(url)
                else:
                    for suffix in ("", "-wal", "-shm"):
                        Path(url.split("///", 1)[1] + suffix).unlink(missing_ok=True)
            results[mode] = args.spans / elapsed
        target = ">= 5,000" if backend == "sqlite" else ""
        ok = "" if backend != "sqlite" else (" ok" if results["writer"] >= 5000 else " MISS")
        print(f"{backend:<10}{results['writer']:>16,.0f}{results['direct']:>16,.0f}"
              f"{results['writer'] / results['direct']:>8.2f}{target:>10}{ok}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("SHIPYARD_LOG_LEVEL", "warning")
    main()
