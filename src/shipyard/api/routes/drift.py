"""Drift checks, their history, and alerts (see observe/drift.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request

from shipyard.auth import Principal, require
from shipyard.errors import InvalidRequest
from shipyard.observe import drift

router = APIRouter(prefix="/api/drift", tags=["drift"])
_NUMBERS = {"window_hours": float, "reference_hours": float, "sample": int, "permutations": int,
            "min_samples": int, "alpha": float}


@router.post("/check")
async def check(request: Request, body: dict[str, Any] = Body(...),
                principal: Principal = Depends(require("traces:write"))) -> dict[str, Any]:
    """`{"model", "prompt"?, "window_hours"? (24), "reference_hours"? (168), "sample"?, "permutations"?}`"""
    platform = request.app.state.platform
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required", param="model")
    options = drift.Options(alpha=platform.settings.drift_alpha)
    for key, kind in _NUMBERS.items():
        if body.get(key) is not None:
            try:
                setattr(options, key, kind(body[key]))
            except (TypeError, ValueError):
                raise InvalidRequest(f"'{key}' must be a number", param=key) from None
    if not 2 <= options.min_samples <= options.sample <= 5000 or not 10 <= options.permutations <= 10_000:
        raise InvalidRequest("need 2 <= min_samples <= sample <= 5000 and 10 <= permutations <= 10000",
                             param="sample")
    prompt = body.get("prompt") if isinstance(body.get("prompt"), str) else None
    return await drift.check(platform, principal.project_id, model, prompt=prompt, options=options)


@router.get("/runs")
def runs(request: Request, model: str | None = None, limit: int = Query(100, ge=1, le=1000),
         principal: Principal = Depends(require("traces:read"))) -> dict[str, Any]:
    return {"object": "list", "data": drift.list_runs(request.app.state.platform, principal.project_id, model, limit)}


@router.get("/alerts")
def alerts(request: Request, model: str | None = None, limit: int = Query(100, ge=1, le=1000),
           principal: Principal = Depends(require("traces:read"))) -> dict[str, Any]:
    return {"object": "list",
            "data": drift.list_alerts(request.app.state.platform, principal.project_id, model, limit)}
