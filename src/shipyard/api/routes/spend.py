"""`/api/prices` (the price table) and `/api/spend` (cost per key and project, per day and month)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from shipyard.auth import Principal, require
from shipyard.controls.bus import ControlBus
from shipyard.controls.keys import audit
from shipyard.controls.tables import Price
from shipyard.errors import InvalidRequest, NotFound
from shipyard.store.tables import Span

router = APIRouter(prefix="/api", tags=["spend"])


class PriceBody(BaseModel):
    input: float = Field(ge=0, description="USD per million input tokens")
    output: float = Field(ge=0, description="USD per million output tokens")
    cached_input: float | None = Field(None, ge=0, description="USD per million cached input tokens")


def _price_row(p: Price) -> dict[str, Any]:
    return {"model": p.model, "input": p.input, "output": p.output, "cached_input": p.cached_input,
            "updated_at": p.updated_at.isoformat()}


@router.get("/prices")
def list_prices(request: Request, principal: Principal = Depends(require("prices:read"))) -> dict[str, Any]:
    with request.app.state.platform.store.session() as session:
        return {"object": "list", "data": [_price_row(p) for p in session.scalars(select(Price).order_by(Price.model))]}


@router.put("/prices/{model:path}")
def set_price(model: str, body: PriceBody, request: Request,
              principal: Principal = Depends(require("prices:write"))) -> dict[str, Any]:
    platform = request.app.state.platform
    with platform.store.session() as session:
        price = session.get(Price, model) or Price(model=model)
        price.input, price.output, price.cached_input = body.input, body.output, body.cached_input
        price.updated_at = datetime.now(UTC)
        session.add(price)
        audit(session, principal, "price.set", "price", model, **body.model_dump())
        ControlBus.bump(session, "prices")
        out = _price_row(price)
    _changed(platform)
    return out


@router.delete("/prices/{model:path}")
def delete_price(model: str, request: Request,
                 principal: Principal = Depends(require("prices:write"))) -> dict[str, Any]:
    platform = request.app.state.platform
    with platform.store.session() as session:
        price = session.get(Price, model)
        if price is None:
            raise NotFound(f"no price for '{model}'")
        session.delete(price)
        audit(session, principal, "price.delete", "price", model)
        ControlBus.bump(session, "prices")
    _changed(platform)
    return {"deleted": model}


def _changed(platform: Any) -> None:
    controls = platform.services.get("controls")
    if controls is not None:
        controls.bus.changed("prices")


@router.get("/spend")
def spend(request: Request, group_by: str = Query("key", pattern="^(key|project|model|day)$"),
          days: int = Query(30, ge=1, le=366), project: str | None = None,
          principal: Principal = Depends(require("spend:read"))) -> dict[str, Any]:
    """Cost and tokens from the request log, grouped; non-admin keys see their own project only."""
    r = Span
    col = {"key": r.key_id, "project": r.project_id, "model": r.model,
           "day": func.substr(func.cast(r.start_time, _text()), 1, 10)}[group_by]
    since = datetime.now(UTC) - timedelta(days=days)
    query = (select(col, func.count(), func.coalesce(func.sum(r.cost), 0.0),
                    func.coalesce(func.sum(r.prompt_tokens), 0), func.coalesce(func.sum(r.completion_tokens), 0))
             .where(r.start_time >= since, r.kind.in_(("generation", "embedding"))).group_by(col).order_by(col))
    if principal.role != "admin":
        if project and project != principal.project_id:
            raise InvalidRequest("a non-admin key sees its own project's spend only", param="project")
        project = principal.project_id
    if project:
        query = query.where(r.project_id == project)
    with request.app.state.platform.store.session() as session:
        rows = [{group_by: g, "requests": n, "cost": round(float(c), 8), "prompt_tokens": int(pt),
                 "completion_tokens": int(ct)} for g, n, c, pt, ct in session.execute(query)]
    return {"object": "list", "group_by": group_by, "days": days, "data": rows,
            "total": round(sum(x["cost"] for x in rows), 8)}


def _text() -> Any:
    from sqlalchemy import String

    return String()
