"""Traces: a filterable list, and one trace as a span tree with inputs, outputs and scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from shipyard.auth import Principal, require
from shipyard.errors import ShipyardError
from shipyard.observe import search
from shipyard.observe.scores import SOURCES, add_score
from shipyard.observe.stats import stats
from shipyard.ui.frame import render

router = APIRouter(prefix="/ui/traces", include_in_schema=False)
NAV = [("Traces", "/ui/traces")]
ORDER = 10
RANGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30),
          "all": None}
FILTER_FIELDS = ("range", "model", "status", "q", "session_id", "user_id", "name", "metadata")


@router.get("", response_class=HTMLResponse)
def traces(
    request: Request,
    range: str = "7d",
    model: str = "",
    status: str = "",
    q: str = "",
    session_id: str = "",
    user_id: str = "",
    name: str = "",
    metadata: str = Query("", description="key=value"),
    cursor: str | None = None,
    principal: Principal = Depends(require("traces:read")),
) -> HTMLResponse:
    store = request.app.state.platform.store
    window = RANGES.get(range, RANGES["7d"])
    since = datetime.now(UTC) - window if window else None
    error = None
    page: dict[str, Any] = {"data": [], "next_cursor": None}
    try:
        f = search.Filters(since=since, model=model or None, status=status or None, q=q or None,
                           session_id=session_id or None, user_id=user_id or None, name=name or None,
                           metadata=search.parse_metadata_filters([metadata] if metadata else None))
        page = search.list_traces(store, principal.project_id, f, cursor=cursor, limit=50)
    except ShipyardError as exc:
        error = exc.message
    params = {k: v for k, v in {"range": range, "model": model, "status": status, "q": q, "session_id": session_id,
                                "user_id": user_id, "name": name, "metadata": metadata}.items() if v}
    older = "/ui/traces?" + urlencode({**params, "cursor": page["next_cursor"]}) if page["next_cursor"] else None
    known = stats(store, principal.project_id, since=datetime.now(UTC) - timedelta(days=7))["models"]
    return render(request, "traces/list.html", title="Traces", traces=page["data"], older=older, error=error,
                  f=params, range=range, ranges=list(RANGES), models=known, paged=bool(cursor))


@router.get("/{trace_id}", response_class=HTMLResponse)
def trace(request: Request, trace_id: str, principal: Principal = Depends(require("traces:read"))) -> HTMLResponse:
    t = search.get_trace(request.app.state.platform.store, principal.project_id, trace_id)
    return render(request, "traces/detail.html", title=f"Trace {t['name']}", trace=t, sources=SOURCES)


@router.post("/{trace_id}/scores", response_model=None)
def score(request: Request, trace_id: str, name: str = Form(...), value: str = Form(...),
          source: str = Form("reviewer"), comment: str = Form(""), span_id: str = Form(""),
          principal: Principal = Depends(require("traces:write"))) -> RedirectResponse | HTMLResponse:
    store = request.app.state.platform.store
    search.get_trace(store, principal.project_id, trace_id)  # 404 for someone else's trace
    parsed: Any = value.strip()
    if parsed.lower() in ("true", "false", "up", "down", "👍", "👎"):
        parsed = parsed.lower() in ("true", "up", "👍")
    else:
        try:
            parsed = float(parsed)
        except ValueError:
            pass
    try:
        add_score(store, trace_id=trace_id, name=name, value=parsed, source=source, comment=comment or None,
                  span_id=span_id or None, project_id=principal.project_id, author_key=principal.key_id)
    except ShipyardError as exc:
        t = search.get_trace(store, principal.project_id, trace_id)
        return render(request, "traces/detail.html", status_code=exc.status, title=f"Trace {t['name']}", trace=t,
                      sources=SOURCES, score_error=exc.message)
    return RedirectResponse(f"/ui/traces/{trace_id}#scores", status_code=303)
