"""Drift: the score of every check over time per model, the alerts, and a button to check now."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from shipyard.auth import Principal, require
from shipyard.errors import ShipyardError
from shipyard.observe import drift
from shipyard.ui.charts import line_chart
from shipyard.ui.frame import render

router = APIRouter(prefix="/ui/drift", include_in_schema=False)
NAV = [("Drift", "/ui/drift")]
ORDER = 14


def _page(request: Request, principal: Principal, model: str | None, error: str | None = None,
          status_code: int = 200) -> HTMLResponse:
    platform = request.app.state.platform
    runs = drift.list_runs(platform, principal.project_id, model or None, limit=500)
    alerts = drift.list_alerts(platform, principal.project_id, model or None, limit=50)
    series: dict[str, list[tuple[datetime, float | None]]] = defaultdict(list)
    pvalues: dict[str, list[tuple[datetime, float | None]]] = defaultdict(list)
    for r in reversed(runs):
        label = r["model"] + (f" / {r['prompt']}" if r["prompt"] else "")
        series[label].append((datetime.fromisoformat(r["created_at"]), r["score"]))
        pvalues[label].append((datetime.fromisoformat(r["created_at"]), r["p_value"]))
    charts = [line_chart(dict(series), title="Drift score (MMD²) over time", y_label="MMD²"),
              line_chart(dict(pvalues), title="p-value over time (alert below alpha)", y_label="p")]
    models = sorted({r["model"] for r in drift.list_runs(platform, principal.project_id, None, limit=1000)})
    return render(request, "drift/index.html", status_code=status_code, title="Drift", runs=runs[:100],
                  alerts=alerts, charts=charts, model=model or "", models=models, error=error,
                  alpha=platform.settings.drift_alpha)


@router.get("", response_class=HTMLResponse)
def index(request: Request, model: str = "", principal: Principal = Depends(require("traces:read"))) -> HTMLResponse:
    return _page(request, principal, model)


@router.post("/check", response_model=None)
async def check(request: Request, model: str = Form(...), prompt: str = Form(""), window_hours: float = Form(24),
                reference_hours: float = Form(168),
                principal: Principal = Depends(require("traces:write"))) -> Any:
    platform = request.app.state.platform
    options = drift.Options(alpha=platform.settings.drift_alpha, window_hours=window_hours,
                            reference_hours=reference_hours)
    try:
        await drift.check(platform, principal.project_id, model, prompt=prompt or None, options=options)
    except ShipyardError as exc:
        return _page(request, principal, model, error=exc.message, status_code=exc.status)
    return RedirectResponse(f"/ui/drift?model={model}", status_code=303)
