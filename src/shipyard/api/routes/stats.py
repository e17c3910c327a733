"""Traffic over time for the dashboard and `shipyard stats`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from shipyard.auth import Principal, require
from shipyard.observe.stats import stats as compute

router = APIRouter(prefix="/api/stats", tags=["stats"])


@router.get("")
def stats(
    request: Request,
    since: datetime | None = Query(None, description="default: 24 hours before `until`"),
    until: datetime | None = Query(None, description="default: now"),
    bucket: str | None = Query(None, description="minute | hour | day (default: from the range)"),
    model: str | None = None,
    principal: Principal = Depends(require("traces:read")),
) -> dict[str, Any]:
    return compute(request.app.state.platform.store, principal.project_id, since=since, until=until, bucket=bucket,
                   model=model)
