"""Metric labels stay bounded, and the metrics stage counts what a call did."""

from __future__ import annotations

import time

from prometheus_client import REGISTRY

from shipyard.auth import LOCAL_ADMIN
from shipyard.gateway.context import CallContext
from shipyard.observe import metrics
from shipyard.observe.stage import MetricsStage


def test_label_values_are_capped_and_the_rest_is_other() -> None:
    bounded = metrics.Bounded(3)
    assert [bounded(v) for v in ("a", "b", "c", "d", "a", "e", None)] == ["a", "b", "c", "other", "a", "other", "none"]


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_stage_counts_requests_tokens_refusals_cache_hits_and_upstream_errors() -> None:
    stage = MetricsStage()
    model = "metrics-test-model"
    labels = {"model": model, "project": "default"}
    before = {k: _value(k, **labels) for k in ("shipyard_cache_hits_total", "shipyard_ratelimit_refusals_total")}
    ok = CallContext(endpoint="chat.completions", body={}, principal=LOCAL_ADMIN, model=model, stream=True,
                     prompt_tokens=7, completion_tokens=3, cost=0.5, provider="openai")
    ok.first_token_at = ok.started + 0.01
    ok.extra["cache"] = "hit"
    refused = CallContext(endpoint="chat.completions", body={}, principal=LOCAL_ADMIN, model=model,
                          status_code=429, error_type="rate_limit_error")
    upstream = CallContext(endpoint="chat.completions", body={}, principal=LOCAL_ADMIN, model=model,
                           status_code=502, error_type="upstream_error", provider="openai")
    t0 = time.perf_counter()
    for ctx in (ok, refused, upstream):
        stage.finish(ctx)
    assert (time.perf_counter() - t0) < 0.05
    assert _value("shipyard_requests_total", status="ok", **labels) >= 1
    assert _value("shipyard_requests_total", status="error", **labels) >= 2
    assert _value("shipyard_tokens_total", direction="input", **labels) >= 7
    assert _value("shipyard_cost_usd_total", **labels) >= 0.5
    assert _value("shipyard_time_to_first_token_seconds_count", **labels) >= 1
    assert _value("shipyard_cache_hits_total", **labels) == before["shipyard_cache_hits_total"] + 1
    assert _value("shipyard_ratelimit_refusals_total", **labels) == before["shipyard_ratelimit_refusals_total"] + 1
    assert _value("shipyard_upstream_errors_total", type="upstream_error", **labels) >= 1
