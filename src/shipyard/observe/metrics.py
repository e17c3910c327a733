"""Prometheus metrics: the one module that defines every metric object, so all capabilities count
into the same series.

    from shipyard.observe import metrics
    metrics.CACHE_HITS.labels(**metrics.labels(model, project)).inc()       # or the helpers below
    metrics.count_cache_hit(model, project)

Label values that come from users (model names, project ids) go through `Bounded`: the first
`limit` distinct values are kept, the rest are reported as "other", so a caller sending random model
names cannot blow up Prometheus' memory. Served at `GET /metrics` (see api/routes/metrics.py).
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, float("inf"))
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, float("inf"))


class Bounded:
    """A label's value set capped at `limit` distinct values; later newcomers become "other"."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if value is None:
            return "none"
        if value in self.seen:
            return value
        with self._lock:
            if len(self.seen) < self.limit:
                self.seen.add(value)
                return value
        return "other"


MODELS = Bounded(50)
PROJECTS = Bounded(100)


def labels(model: str | None, project: str | None) -> dict[str, str]:
    return {"model": MODELS(model), "project": PROJECTS(project)}


def _get_or_create(cls: type, name: str, doc: str, labelnames: list[str], **kwargs: Any) -> Any:
    """Reuse a collector already registered under this name (module reloads, two import paths)."""
    existing: Collector | None = REGISTRY._names_to_collectors.get(name)
    if existing is None and name.endswith("_total"):
        existing = REGISTRY._names_to_collectors.get(name[:-6])
    if existing is not None:
        return existing
    return cls(name, doc, labelnames, **kwargs)


_ML = ["model", "project"]
REQUESTS = _get_or_create(Counter, "shipyard_requests_total", "Gateway calls, by model, project and status",
                          [*_ML, "status"])
LATENCY = _get_or_create(Histogram, "shipyard_request_latency_seconds", "Gateway call latency", _ML,
                         buckets=LATENCY_BUCKETS)
TTFT = _get_or_create(Histogram, "shipyard_time_to_first_token_seconds", "Time to the first streamed token", _ML,
                      buckets=TTFT_BUCKETS)
TOKENS = _get_or_create(Counter, "shipyard_tokens_total", "Tokens, by direction (input, output, cached)",
                        [*_ML, "direction"])
COST = _get_or_create(Counter, "shipyard_cost_usd_total", "Cost of gateway calls in US dollars", _ML)
UPSTREAM_ERRORS = _get_or_create(Counter, "shipyard_upstream_errors_total",
                                 "Calls that failed upstream (bad gateway, timeout, upstream 5xx)", [*_ML, "type"])
CACHE_HITS = _get_or_create(Counter, "shipyard_cache_hits_total", "Calls answered from the cache", _ML)
RATELIMIT_REFUSALS = _get_or_create(Counter, "shipyard_ratelimit_refusals_total",
                                    "Calls refused by a rate or budget limit", _ML)
GUARD_DECISIONS = _get_or_create(Counter, "shipyard_guard_decisions_total",
                                 "Guard scanner decisions, by scanner and action taken", ["scanner", "action"])
WRITER_QUEUE = _get_or_create(Gauge, "shipyard_writer_queue_depth", "Rows waiting in the batched writer", [])
WRITER_DROPPED = _get_or_create(Gauge, "shipyard_writer_dropped_rows", "Rows the batched writer dropped (queue full)",
                                [])
WRITER_WRITTEN = _get_or_create(Gauge, "shipyard_writer_written_rows", "Rows the batched writer has stored", [])
EXPORT_DROPPED = _get_or_create(Gauge, "shipyard_export_dropped_spans", "Spans the OTLP exporter dropped", [])


def count_cache_hit(model: str | None, project: str | None) -> None:
    CACHE_HITS.labels(**labels(model, project)).inc()


def count_ratelimit_refusal(model: str | None, project: str | None) -> None:
    RATELIMIT_REFUSALS.labels(**labels(model, project)).inc()


def count_guard_decision(scanner: str, action: str) -> None:
    GUARD_DECISIONS.labels(scanner=scanner, action=action).inc()
