"""Collections: list them, search one and read the hits, see its clusters on a 2-D map."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from shipyard.auth import Principal, require
from shipyard.errors import ShipyardError
from shipyard.ui.charts import scatter_chart
from shipyard.ui.frame import render
from shipyard.vectors import analytics, get_service

router = APIRouter(prefix="/ui/collections", include_in_schema=False)
NAV = [("Collections", "/ui/collections")]
ORDER = 40
READ = require("collections:read")


@router.get("", response_class=HTMLResponse)
async def collections(request: Request, principal: Principal = Depends(READ)) -> HTMLResponse:
    rows = get_service(request.app.state.platform).list(principal.project_id)
    return render(request, "collections/list.html", title="Collections", collections=rows)


@router.get("/{name}", response_class=HTMLResponse)
async def collection(request: Request, name: str, q: str = "", mode: str = "hybrid", top_k: int = 10,
                     filters: str = "", mmr: bool = False, principal: Principal = Depends(READ)) -> HTMLResponse:
    svc = get_service(request.app.state.platform)
    info = svc.get(name, principal.project_id)
    hits: list[Any] = []
    error = None
    if q.strip():
        try:
            import json

            parsed = json.loads(filters) if filters.strip() else None
            hits = await svc.search(name, q, top_k=max(1, min(top_k, 100)), mode=mode, filters=parsed, mmr=mmr,
                                    project_id=principal.project_id)
        except ShipyardError as exc:
            error = exc.message
        except ValueError as exc:
            error = f"filters must be JSON: {exc}"
    documents = [] if q.strip() else svc.documents(name, project_id=principal.project_id, limit=20)
    return render(request, "collections/detail.html", title=f"Collection {name}", c=info, q=q, mode=mode,
                  top_k=top_k, filters=filters, mmr=mmr, hits=hits, error=error, documents=documents)


@router.get("/{name}/map", response_class=HTMLResponse)
async def collection_map(request: Request, name: str, method: str = "kmeans", k: int | None = None,
                         principal: Principal = Depends(READ)) -> HTMLResponse:
    svc = get_service(request.app.state.platform)
    info = svc.get(name, principal.project_id)
    error, result, outliers = None, None, None
    try:
        result = await analytics.cluster(svc, name, method=method if method in ("kmeans", "hdbscan") else "kmeans",
                                         k=k, sample=2000, project_id=principal.project_id)
        outliers = await analytics.outliers(svc, name, limit=10, sample=5000, project_id=principal.project_id)
    except ShipyardError as exc:
        error = exc.message
    chart = None
    if result is not None:
        points = [(p["x"], p["y"], f"{p['id']}: {p['text'][:80]}") for p in result["points"]]
        chart = scatter_chart(points, title=f"{name}: documents by meaning (PCA)",
                              groups=[p["cluster_name"] for p in result["points"]])
    return render(request, "collections/map.html", title=f"Map of {name}", c=info, result=result, chart=chart,
                  outliers=outliers, error=error, method=method, k=k)
