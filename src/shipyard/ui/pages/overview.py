"""Overview: the platform's traffic at a glance: requests, latency p50/p95, tokens, cost and errors
over time, by model (from the same aggregates as `GET /api/stats`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from shipyard.auth import Principal, require
from shipyard.observe.stats import stats
from shipyard.ui.charts import line_chart
from shipyard.ui.frame import render

router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = [("Overview", "/ui")]
ORDER = 0
RANGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def _series(rows: list[dict[str, Any]], field: str) -> dict[str, list[tuple[datetime, float | None]]]:
    out: dict[str, list[tuple[datetime, float | None]]] = defaultdict(list)
    for r in rows:
        out[r["model"]].append((datetime.fromisoformat(r["bucket"]), r[field]))
    return dict(out)


@router.get("", response_class=HTMLResponse)
def overview(request: Request, range: str = "24h", model: str | None = None,
             principal: Principal = Depends(require("traces:read"))) -> HTMLResponse:
    platform = request.app.state.platform
    window = RANGES.get(range, RANGES["24h"])
    until = datetime.now(UTC)
    out = stats(platform.store, principal.project_id, since=until - window, until=until, model=model or None)
    rows, total, unit = out["series"], out["total"], out["bucket"]
    p95 = {f"{m} p95": pts for m, pts in _series(rows, "latency_p95_ms").items()}
    p50 = {f"{m} p50": pts for m, pts in _series(rows, "latency_p50_ms").items()}
    tokens = [{**r, "tokens": r["prompt_tokens"] + r["completion_tokens"]} for r in rows]
    charts = [
        line_chart(_series(rows, "requests"), title=f"Requests per {unit}", y_label="requests"),
        line_chart({**p50, **p95}, title="Latency p50 / p95", y_label="ms"),
        line_chart(_series(tokens, "tokens"), title=f"Tokens per {unit}", y_label="tokens"),
        line_chart(_series(rows, "cost"), title=f"Cost per {unit}", y_label="USD"),
        line_chart(_series(rows, "errors"), title=f"Errors per {unit}", y_label="errors"),
    ]
    error_rate = total["errors"] / total["requests"] if total["requests"] else None
    return render(request, "overview.html", title="Overview", total=total, errors=total["errors"],
                  error_rate=error_rate, charts=charts, range=range, ranges=list(RANGES), models=out["models"],
                  model=model, hours=window.total_seconds() / 3600, rows=rows)
