"""Overview: the platform's traffic at a glance (requests, latency, tokens, errors by model)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from shipyard.auth import Principal, require
from shipyard.store.tables import Span
from shipyard.ui.charts import line_chart
from shipyard.ui.frame import render

router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = [("Overview", "/ui")]
ORDER = 0


@router.get("", response_class=HTMLResponse)
def overview(request: Request, hours: int = 24, principal: Principal = Depends(require("traces:read"))) -> HTMLResponse:
    platform = request.app.state.platform
    since = datetime.now(UTC) - timedelta(hours=hours)
    query = (select(Span.start_time, Span.model, Span.latency_ms, Span.status)
             .where(Span.project_id == principal.project_id, Span.kind.in_(("generation", "embedding")),
                    Span.start_time >= since))
    buckets: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    total = errors = 0
    with platform.store.session() as session:
        for start, model, _latency, status in session.execute(query):
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
            buckets[model or "?"][start.replace(minute=0, second=0, microsecond=0)] += 1
            total += 1
            errors += status == "error"
    series = {m: sorted(points.items()) for m, points in buckets.items()}
    return render(request, "overview.html", title="Overview", total=total, errors=errors, hours=hours,
                  requests_chart=line_chart(series, title="Requests per hour", y_label="requests"))
