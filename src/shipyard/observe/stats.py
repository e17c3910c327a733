"""Traffic over time: requests, errors, latency percentiles, tokens and cost per bucket and model.

Read from the rollups (observe/rollups.py), never from the spans: per-minute rows for minute buckets,
per-hour rows for hour and day buckets (a month is 720 rows per model), so the overview costs the same
on a million spans as on ten. Hour and day buckets start on whole hours.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal_column, select

from shipyard.errors import InvalidRequest
from shipyard.observe.rollups import HIST, ROLLUPS, ROLLUPS_HOURLY, percentile, truncate
from shipyard.observe.search import iso, utc
from shipyard.store import Store

BUCKETS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_SQLITE_PREFIX = {"minute": 16, "hour": 13, "day": 10}  # 'YYYY-MM-DD HH:MM' is 16 characters
_SUMMED = ["requests", "errors", "prompt_tokens", "completion_tokens", "cost", "latency_sum", "latency_count",
           "ttft_sum", "ttft_count", *HIST]


def _bucket_expr(store: Store, table: Any, bucket: str) -> Any:
    if store.is_sqlite:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC: a prefix is a truncation
        return func.substr(table.c.start, 1, _SQLITE_PREFIX[bucket])
    return func.date_trunc(bucket, func.timezone("UTC", table.c.start))


def _parse_bucket(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = str(value)
    text = text + {10: " 00:00", 13: ":00"}.get(len(text), "")
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def default_bucket(since: datetime, until: datetime) -> str:
    span = until - since
    return "minute" if span <= timedelta(hours=3) else "hour" if span <= timedelta(days=4) else "day"


def _row(bucket: datetime | None, model: str, sums: dict[str, Any]) -> dict[str, Any]:
    hist = [int(sums[h] or 0) for h in HIST]
    return {
        "bucket": iso(bucket) if bucket else None, "model": model or "unknown", "requests": int(sums["requests"]),
        "errors": int(sums["errors"]), "prompt_tokens": int(sums["prompt_tokens"]),
        "completion_tokens": int(sums["completion_tokens"]), "cost": float(sums["cost"]) if sums["cost"] else None,
        "latency_avg_ms": sums["latency_sum"] / sums["latency_count"] if sums["latency_count"] else None,
        "latency_p50_ms": percentile(hist, 0.50), "latency_p95_ms": percentile(hist, 0.95),
        "ttft_avg_ms": sums["ttft_sum"] / sums["ttft_count"] if sums["ttft_count"] else None,
    }


def stats(store: Store, project_id: str, *, since: datetime | None = None, until: datetime | None = None,
          bucket: str | None = None, model: str | None = None) -> dict[str, Any]:
    until = utc(until) or datetime.now(UTC)
    since = utc(since) or until - timedelta(hours=24)
    if since >= until:
        raise InvalidRequest("since must be before until", param="since")
    bucket = bucket or default_bucket(since, until)
    if bucket not in BUCKETS:
        raise InvalidRequest(f"bucket must be one of {', '.join(BUCKETS)}", param="bucket")
    if (until - since) / BUCKETS[bucket] > 5000:
        raise InvalidRequest("that range has more than 5,000 buckets; use a coarser bucket", param="bucket")
    grain = "minute" if bucket == "minute" else "hour"
    table = ROLLUPS if grain == "minute" else ROLLUPS_HOURLY
    b = _bucket_expr(store, table, bucket).label("b")
    where = [table.c.project_id == project_id, table.c.start >= truncate(since, grain), table.c.start < until]
    if model:
        where.append(table.c.model == model)
    query = (select(b, table.c.model, *[func.sum(table.c[c]).label(c) for c in _SUMMED])
             .where(*where).group_by(literal_column("b"), table.c.model))
    series = []
    total: dict[str, Any] = defaultdict(float)
    with store.session() as session:
        for r in session.execute(query):
            m = r._mapping
            sums = {c: float(m[c] or 0) for c in _SUMMED}  # PostgreSQL sums bigints as numeric
            series.append(_row(_parse_bucket(m["b"]), m["model"], sums))
            for c in _SUMMED:
                total[c] += sums[c]
    series.sort(key=lambda r: (r["bucket"], r["model"]))
    overall = _row(None, "", {c: total.get(c, 0) for c in _SUMMED})
    overall["cost"] = overall["cost"] or 0.0
    for key in ("bucket", "model"):
        overall.pop(key)
    return {"object": "stats", "since": iso(since), "until": iso(until), "bucket": bucket, "series": series,
            "total": overall, "models": sorted({r["model"] for r in series})}
