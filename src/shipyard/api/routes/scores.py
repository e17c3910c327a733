"""Scores on traces and spans: feedback from end users, reviewers' labels, evaluators' numbers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request

from shipyard.auth import Principal, require
from shipyard.errors import InvalidRequest, NotFound
from shipyard.observe import search
from shipyard.observe.scores import SOURCES, add_score, list_scores

router = APIRouter(prefix="/api/scores", tags=["scores"])


@router.get("")
def scores(
    request: Request,
    trace_id: str | None = None,
    name: str | None = None,
    source: str | None = Query(None, description=" | ".join(SOURCES)),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(require("traces:read")),
) -> dict[str, Any]:
    rows = list_scores(request.app.state.platform.store, principal.project_id, trace_id=trace_id, name=name,
                       source=source, limit=limit)
    return {"object": "list", "data": rows}


@router.post("", status_code=201)
def create_score(request: Request, body: dict[str, Any] = Body(...),
                 principal: Principal = Depends(require("traces:write"))) -> dict[str, Any]:
    """`{"trace_id", "name", "value", "span_id"?, "data_type"?, "source"?, "comment"?, "metadata"?}`"""
    for required in ("trace_id", "name", "value"):
        if required not in body:
            raise InvalidRequest(f"a score needs '{required}'", param=required)
    store = request.app.state.platform.store
    trace_id = body["trace_id"]
    if not isinstance(trace_id, str) or not search.trace_exists(store, principal.project_id, trace_id):
        raise NotFound(f"trace '{trace_id}' was not found", param="trace_id")
    fields = {k: body[k] for k in ("name", "value", "span_id", "data_type", "source", "comment", "metadata")
              if k in body}
    return add_score(store, trace_id=trace_id, project_id=principal.project_id, author_key=principal.key_id,
                     **fields)
