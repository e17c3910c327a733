"""The metrics stage: counts every gateway call into the Prometheus series in `observe.metrics`.

It runs last so `finish()` sees what earlier stages decided (the cost, a cache hit). The label
children are looked up once per (model, project) and kept, so a call costs a dict lookup and a few
lock-free increments, not a `.labels()` resolution per metric.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.gateway.stages import Stage
from shipyard.observe import metrics

if TYPE_CHECKING:
    from shipyard.gateway.context import CallContext
    from shipyard.platform import Platform

MAX_CACHED = 10_000  # distinct raw (model, project) pairs remembered; beyond, the cache starts over


class _Series:
    __slots__ = ("ok", "error", "latency", "ttft", "tokens_in", "tokens_out", "tokens_cached", "cost",
                 "cache_hits", "refusals", "labels")

    def __init__(self, model: str | None, project: str | None) -> None:
        lab = self.labels = metrics.labels(model, project)
        self.ok = metrics.REQUESTS.labels(status="ok", **lab)
        self.error = metrics.REQUESTS.labels(status="error", **lab)
        self.latency = metrics.LATENCY.labels(**lab)
        self.ttft = metrics.TTFT.labels(**lab)
        self.tokens_in = metrics.TOKENS.labels(direction="input", **lab)
        self.tokens_out = metrics.TOKENS.labels(direction="output", **lab)
        self.tokens_cached = metrics.TOKENS.labels(direction="cached", **lab)
        self.cost = metrics.COST.labels(**lab)
        self.cache_hits = metrics.CACHE_HITS.labels(**lab)
        self.refusals = metrics.RATELIMIT_REFUSALS.labels(**lab)


class MetricsStage(Stage):
    name = "metrics"

    def __init__(self) -> None:
        self._series: dict[tuple[str | None, str], _Series] = {}

    def finish(self, ctx: CallContext) -> None:
        key = (ctx.model, ctx.principal.project_id)
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= MAX_CACHED:
                self._series.clear()
            series = self._series[key] = _Series(*key)
        status = ctx.status_code
        if status < 400:
            series.ok.inc()
        else:
            series.error.inc()
            if status == 429 and ctx.provider is None:
                series.refusals.inc()  # refused by our own limits, before any provider was asked
            elif ctx.error_type == "upstream_error" or status in (502, 504) or (status >= 500 and ctx.provider):
                metrics.UPSTREAM_ERRORS.labels(type=ctx.error_type or "server_error", **series.labels).inc()
        series.latency.observe(ctx.latency_ms / 1000.0)
        first = ctx.first_token_at
        if first is not None and ctx.stream:
            series.ttft.observe(first - ctx.started)
        if ctx.prompt_tokens:
            series.tokens_in.inc(ctx.prompt_tokens)
        if ctx.completion_tokens:
            series.tokens_out.inc(ctx.completion_tokens)
        cached: Any = ctx.cached_tokens or ctx.extra.get("cached_tokens")
        if cached:
            series.tokens_cached.inc(cached)
        if ctx.cost:
            series.cost.inc(ctx.cost)
        if ctx.extra.get("cache") in ("hit", "semantic"):
            series.cache_hits.inc()


def metrics_stage(platform: Platform) -> Stage | None:
    return MetricsStage() if platform.settings.metrics_enabled else None
