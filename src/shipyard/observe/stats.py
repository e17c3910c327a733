"""Traffic over time: requests, errors, latency percentiles, tokens and cost per bucket and model.

Computed from the spans of model calls with two grouped queries, never by fetching spans: one for
counts and sums, one for a latency histogram on a log scale (bins about 6% wide) from which the
percentiles are read. Both walk the (project, start time) index range only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, literal_column, select

from shipyard.errors import InvalidRequest
from shipyard.observe.search import iso, utc
from shipyard.store import Store
from shipyard.store.tables import Span

BUCKETS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_SQLITE_PREFIX = {"minute": 16, "hour": 13, "day": 10}  # 'YYYY-MM-DD HH:MM' is 16 characters
BINS_PER_E = 16  # histogram resolution: bin edges grow by e^(1/16), about 6.5%
MODEL_KINDS = ("generation", "embedding")


def _bucket_expr(store: Store, bucket: str) -> Any:
    if store.is_sqlite:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC: a prefix is a truncation
        return func.substr(Span.start_time, 1, _SQLITE_PREFIX[bucket])
    return func.date_trunc(bucket, func.timezone("UTC", Span.start_time))


def _parse_bucket(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = str(value)
    text = text + {10: " 00:00", 13: ":00"}.get(len(text), "")
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def default_bucket(since: datetime, until: datetime) -> str:
    span = until - since
    return "minute" if span <= timedelta(hours=3) else "hour" if span <= timedelta(days=4) else "day"


def _percentile(hist: dict[int, int], total: int, q: float) -> float | None:
    if total == 0:
        return None
    target = q * total
    seen = 0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= target:
            return math.exp((b + 0.5) / BINS_PER_E)  # the bin's geometric middle
    return None


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
    b = _bucket_expr(store, bucket).label("b")
    where = [Span.project_id == project_id, Span.start_time >= since, Span.start_time < until,
             Span.kind.in_(MODEL_KINDS)]
    if model:
        where.append(Span.model == model)
    errors = func.sum(case((Span.status == "error", 1), else_=0))
    totals_q = (select(b, Span.model, func.count(), errors, func.sum(Span.prompt_tokens),
                       func.sum(Span.completion_tokens), func.sum(Span.cost), func.avg(Span.latency_ms))
                .where(*where).group_by(literal_column("b"), Span.model))
    ln = func.ln(func.max(Span.latency_ms, 0.01)) if store.is_sqlite else func.ln(func.greatest(Span.latency_ms, 0.01))
    bin_ = cast(func.floor(ln * BINS_PER_E), Integer).label("bin")
    hist_q = (select(b, Span.model, bin_, func.count()).where(and_(*where, Span.latency_ms.is_not(None)))
              .group_by(literal_column("b"), Span.model, literal_column("bin")))
    rows: dict[tuple[datetime, str], dict[str, Any]] = {}
    hists: dict[tuple[datetime, str], dict[int, int]] = defaultdict(dict)
    with store.session() as session:
        for raw, m, n, err, p, c, cost, avg in session.execute(totals_q):
            key = (_parse_bucket(raw), m or "unknown")
            rows[key] = {"bucket": iso(key[0]), "model": key[1], "requests": n, "errors": err or 0,
                         "prompt_tokens": p or 0, "completion_tokens": c or 0, "cost": cost,
                         "latency_avg_ms": avg}
        for raw, m, bin_value, n in session.execute(hist_q):
            hist = hists[(_parse_bucket(raw), m or "unknown")]
            hist[bin_value] = hist.get(bin_value, 0) + n
    overall: dict[int, int] = defaultdict(int)
    for key, row in rows.items():
        hist = hists.get(key, {})
        n = sum(hist.values())
        row["latency_p50_ms"] = _percentile(hist, n, 0.50)
        row["latency_p95_ms"] = _percentile(hist, n, 0.95)
        for k, v in hist.items():
            overall[k] += v
    series = sorted(rows.values(), key=lambda r: (r["bucket"], r["model"]))
    n_all = sum(overall.values())
    total = {
        "requests": sum(r["requests"] for r in series), "errors": sum(r["errors"] for r in series),
        "prompt_tokens": sum(r["prompt_tokens"] for r in series),
        "completion_tokens": sum(r["completion_tokens"] for r in series),
        "cost": sum(r["cost"] or 0.0 for r in series),
        "latency_p50_ms": _percentile(overall, n_all, 0.50), "latency_p95_ms": _percentile(overall, n_all, 0.95),
    }
    return {"object": "stats", "since": iso(since), "until": iso(until), "bucket": bucket, "series": series,
            "total": total, "models": sorted({r["model"] for r in series})}
