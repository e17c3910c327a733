"""Trace queries on a large store: the traces list page and the overview aggregates with 1,000,000 spans.

The rows are generated inside the database (a recursive CTE on SQLite, generate_series on PostgreSQL)
so a million spans take seconds, not minutes: 7 days of traffic, 600,000 traces (gateway calls, and
chains with a retrieval and a generation below them), 7 models, 2% errors, sessions, users, metadata
and chat content in every span, every index and the full-text index maintained as in production.
Each query runs once to warm up, then `--repeat` times; the median is printed. The baseline is a
full count of the spans table in the same run, i.e. what one scan costs without any index help.

    .venv/bin/python benchmarks/trace_queries.py [--spans 1000000] [--backend sqlite postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text
from tests.helpers import drop_database, postgres_database

from shipyard.observe import rollups, search
from shipyard.observe.stats import stats
from shipyard.store import Store

WORDS = ["anchor", "harbour", "tide", "sail", "crew", "cargo", "storm", "compass", "voyage", "keel", "mast", "buoy"]
TARGET_MS = 300.0


def _word(i: str) -> str:
    return "CASE " + " ".join(f"WHEN {i} % 12 = {k} THEN '{w}'" for k, w in enumerate(WORDS)) + " END"


def generate_sqlite(store: Store, n: int, now: datetime) -> None:
    end = now.timestamp()
    step = 7 * 86400 / n
    root = "(i - i % 5 + 1)"
    sql = f"""
    WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n - 1})
    INSERT INTO spans (id, trace_id, parent_id, project_id, kind, name, start_time, end_time, latency_ms, ttft_ms,
        status, status_code, error_type, error_message, model, provider, stream, input, output, prompt_tokens,
        completion_tokens, cached_tokens, cost, key_id, session_id, user_id, metadata)
    SELECT printf('%016x', i),
        printf('%032x', CASE WHEN i % 5 IN (2, 3) THEN {root} ELSE i END),
        CASE WHEN i % 5 IN (2, 3) THEN printf('%016x', {root}) END,
        'default',
        CASE i % 5 WHEN 1 THEN 'chain' WHEN 2 THEN 'retrieval' ELSE 'generation' END,
        CASE i % 5 WHEN 1 THEN 'answer question' WHEN 2 THEN 'search' ELSE 'chat.completions' END,
        strftime('%Y-%m-%d %H:%M:%S', {end} - i * {step}, 'unixepoch') || '.' || printf('%06d', (i * 7919) % 1000000),
        strftime('%Y-%m-%d %H:%M:%S', {end} - i * {step} + 1, 'unixepoch') || '.000000',
        50 + (i * 37) % 2000, 10 + (i * 13) % 300,
        CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END, CASE WHEN i % 50 = 0 THEN 502 ELSE 200 END,
        CASE WHEN i % 50 = 0 THEN 'upstream_error' END, CASE WHEN i % 50 = 0 THEN 'upstream answered 500' END,
        CASE WHEN i % 5 IN (1, 2) THEN NULL ELSE 'model-' || (i % 7) END, 'openai', 0,
        '[{{"role": "user", "content": "question ' || i || ' about the ' || {_word('i')} || ' and the '
            || {_word('(i / 12)')} || '"}}]',
        '{{"role": "assistant", "content": "the ' || {_word('(i / 7)')} || ' is ready"}}',
        10 + i % 90, 5 + i % 40, NULL, (15 + i % 130) * 0.000001, NULL,
        CASE WHEN i % 2 = 0 THEN 'sess-' || (i % 10000) END, CASE WHEN i % 3 = 0 THEN 'user-' || (i % 500) END,
        CASE WHEN i % 4 = 0 THEN '{{"env": "prod"}}' ELSE '{{"env": "dev"}}' END
    FROM s"""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(sql)
        conn.exec_driver_sql("""INSERT INTO traces (id, project_id, name, start_time, end_time, latency_ms, status,
            input, output, session_id, user_id, metadata)
            SELECT trace_id, project_id, name, start_time, end_time, latency_ms, status, input, output, session_id,
                   user_id, metadata FROM spans WHERE parent_id IS NULL""")
        conn.exec_driver_sql("ANALYZE")


def generate_postgres(store: Store, n: int, now: datetime) -> None:
    step = 7 * 86400 / n
    root = "(i - i % 5 + 1)"
    word = lambda e: f"(ARRAY{WORDS})[({e}) % 12 + 1]"  # noqa: E731
    sql = f"""
    INSERT INTO spans (id, trace_id, parent_id, project_id, kind, name, start_time, end_time, latency_ms, ttft_ms,
        status, status_code, error_type, error_message, model, provider, stream, input, output, prompt_tokens,
        completion_tokens, cached_tokens, cost, key_id, session_id, user_id, metadata)
    SELECT lpad(to_hex(i), 16, '0'),
        lpad(to_hex(CASE WHEN i % 5 IN (2, 3) THEN {root} ELSE i END), 32, '0'),
        CASE WHEN i % 5 IN (2, 3) THEN lpad(to_hex({root}), 16, '0') END,
        'default',
        CASE i % 5 WHEN 1 THEN 'chain' WHEN 2 THEN 'retrieval' ELSE 'generation' END,
        CASE i % 5 WHEN 1 THEN 'answer question' WHEN 2 THEN 'search' ELSE 'chat.completions' END,
        :now - make_interval(secs => i * {step}), :now - make_interval(secs => i * {step} - 1),
        50 + (i * 37) % 2000, 10 + (i * 13) % 300,
        CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END, CASE WHEN i % 50 = 0 THEN 502 ELSE 200 END,
        CASE WHEN i % 50 = 0 THEN 'upstream_error' END, CASE WHEN i % 50 = 0 THEN 'upstream answered 500' END,
        CASE WHEN i % 5 IN (1, 2) THEN NULL ELSE 'model-' || (i % 7) END, 'openai', false,
        json_build_array(json_build_object('role', 'user', 'content',
            'question ' || i || ' about the ' || {word('i')} || ' and the ' || {word('i / 12')})),
        json_build_object('role', 'assistant', 'content', 'the ' || {word('i / 7')} || ' is ready'),
        10 + i % 90, 5 + i % 40, NULL, (15 + i % 130) * 0.000001, NULL,
        CASE WHEN i % 2 = 0 THEN 'sess-' || (i % 10000) END, CASE WHEN i % 3 = 0 THEN 'user-' || (i % 500) END,
        CASE WHEN i % 4 = 0 THEN '{{"env": "prod"}}'::json ELSE '{{"env": "dev"}}'::json END
    FROM generate_series(0, {n - 1}) AS i"""
    with store.engine.begin() as conn:
        conn.execute(text(sql), {"now": now})
        conn.exec_driver_sql("""INSERT INTO traces (id, project_id, name, start_time, end_time, latency_ms, status,
            input, output, session_id, user_id, metadata)
            SELECT trace_id, project_id, name, start_time, end_time, latency_ms, status, input, output, session_id,
                   user_id, metadata FROM spans WHERE parent_id IS NULL""")
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE spans")
        conn.exec_driver_sql("VACUUM ANALYZE traces")


def timed(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def run(backend: str, n: int, repeat: int) -> None:
    url = (f"sqlite:///{tempfile.mkdtemp(prefix='shipyard-queries-')}/q.db" if backend == "sqlite"
           else postgres_database())
    store = Store(url)
    try:
        store.upgrade()
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        (generate_sqlite if backend == "sqlite" else generate_postgres)(store, n, now)
        t1 = time.perf_counter()
        with store.engine.begin() as conn:  # generated in SQL, past the writer: build their rollups
            rollups.rebuild(conn)
        print(f"\n{backend}: generated {n:,} spans in {t1 - t0:.0f} s, "
              f"rolled up in {time.perf_counter() - t1:.0f} s")
        F = search.Filters
        p = "default"
        first = search.list_traces(store, p, F(), limit=50)
        one = first["data"][0]["id"]
        chain = search.list_traces(store, p, F(name="answer question"), limit=1)["data"][0]["id"]
        cases: list[tuple[str, Callable[[], Any], bool]] = [
            ("baseline: count(*) over spans", lambda: _count(store), False),
            ("traces list, first page (50)", lambda: search.list_traces(store, p, F(), limit=50), True),
            ("traces list, next page (cursor)",
             lambda: search.list_traces(store, p, F(), cursor=first["next_cursor"], limit=50), True),
            ("traces list, last 24 h", lambda: search.list_traces(store, p, F(since=now - timedelta(hours=24))), True),
            ("traces list, model=model-3", lambda: search.list_traces(store, p, F(model="model-3")), True),
            ("traces list, status=error", lambda: search.list_traces(store, p, F(status="error")), True),
            ("traces list, session", lambda: search.list_traces(store, p, F(session_id="sess-42")), True),
            ("traces list, metadata env=prod", lambda: search.list_traces(store, p, F(metadata={"env": "prod"})),
             True),
            ("traces list, text 'compass keel'", lambda: search.list_traces(store, p, F(q="compass keel")), True),
            ("traces list, text 'question 123457'", lambda: search.list_traces(store, p, F(q="question 123457")),
             True),
            ("spans list, kind=generation", lambda: search.list_spans(store, p, F(kind="generation")), True),
            ("trace with its span tree", lambda: search.get_trace(store, p, chain), False),
            ("trace (gateway call)", lambda: search.get_trace(store, p, one), False),
            ("overview aggregates, 1 h by minute", lambda: stats(store, p, since=now - timedelta(hours=1)), True),
            ("overview aggregates, 24 h by hour", lambda: stats(store, p, since=now - timedelta(hours=24)), True),
            ("overview aggregates, 7 d by day",
             lambda: stats(store, p, since=now - timedelta(days=7), until=now + timedelta(minutes=1)), False),
        ]
        print(f"{'query':<40}{'median ms':>11}{'vs scan':>9}  target < {TARGET_MS:.0f} ms")
        base = None
        for name, fn, gated in cases:
            ms = timed(fn, repeat)
            base = base or ms
            verdict = ("ok" if ms < TARGET_MS else "SLOW") if gated else ""
            print(f"{name:<40}{ms:>11.1f}{ms / base:>9.3f}  {verdict}", flush=True)
    finally:
        store.dispose()
        if backend == "postgres":
            drop_database(url)
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(url.split("///", 1)[1] + suffix).unlink(missing_ok=True)


def _count(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM spans").scalar_one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    args = parser.parse_args()
    for backend in args.backend:
        run(backend, args.spans, args.repeat)


if __name__ == "__main__":
    main()
