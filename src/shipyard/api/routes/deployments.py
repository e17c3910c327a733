"""`/api/deployments`: model deployments — groups, versions, aliases, canary, shadow, promote, rollback.

Reading is open to every role that reads; changing them is admin business. Changes reach every replica
without a restart (see `controls.bus`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from shipyard.auth import Principal, require
from shipyard.controls import deployments as d

router = APIRouter(prefix="/api/deployments", tags=["deployments"])


class VersionBody(BaseModel):
    version: str = Field(min_length=1, max_length=64)
    models: list[dict[str, Any]] = Field(min_length=1, description="[{model, weight?, timeout?}]")


class AliasBody(BaseModel):
    version: str | None = None


class CanaryBody(BaseModel):
    version: str | None = None
    percent: float = Field(10.0, ge=0, le=100)


class ShadowBody(BaseModel):
    version: str | None = None


class PromoteBody(BaseModel):
    version: str | None = None


def _p(request: Request) -> Any:
    return request.app.state.platform


@router.get("")
def list_deployments(request: Request, principal: Principal = Depends(require("deployments:read"))) -> dict[str, Any]:
    return {"object": "list", "data": d.list_all(_p(request))}


@router.get("/{name}")
def show(name: str, request: Request, principal: Principal = Depends(require("deployments:read"))) -> dict[str, Any]:
    return d.get(_p(request), name)


@router.put("/{name}")
def put(name: str, body: dict[str, Any], request: Request,
        principal: Principal = Depends(require("deployments:write"))) -> dict[str, Any]:
    """Create or replace a deployment: {strategy, models | versions + aliases, fallbacks, retries, ...}."""
    return d.put(_p(request), principal, {**body, "name": name})


@router.delete("/{name}")
def delete(name: str, request: Request, principal: Principal = Depends(require("deployments:write"))) -> dict[str, Any]:
    d.delete(_p(request), principal, name)
    return {"deleted": name}


@router.post("/{name}/versions", status_code=201)
def add_version(name: str, body: VersionBody, request: Request,
                principal: Principal = Depends(require("deployments:write"))) -> dict[str, Any]:
    return d.change(_p(request), principal, name, "version", d.add_version(body.version, body.models))


@router.put("/{name}/aliases/{alias}")
def set_alias(name: str, alias: str, body: AliasBody, request: Request,
              principal: Principal = Depends(require("deployments:write"))) -> dict[str, Any]:
    return d.change(_p(request), principal, name, "alias", d.set_alias(alias, body.version))


@router.put("/{name}/canary")
def set_canary(name: str, body: CanaryBody, request: Request,
               principal: Principal = Depends(require("deployments:write"))) -> dict[str, Any]:
    return d.change(_p(request), principal, name, "canary", d.set_canary(body.version, body.percent))


@router.put("/{name}/shadow")
def set_shadow(name: str, body: ShadowBody, request: Request,
               principal: Principal = Depends(require("deployments:write"))) -> dict[str, Any]:
    return d.change(_p(request), principal, name, "shadow", d.set_shadow(body.version))


@router.post("/{name}/promote")
def promote(name: str, request: Request, body: PromoteBody | None = None,
            principal: Principal = Depends(require("deployments:write"))) -> dict[str, Any]:
    return d.change(_p(request), principal, name, "promote", d.promote(body.version if body else None))


@router.post("/{name}/rollback")
def rollback(name: str, request: Request,
             principal: Principal = Depends(require("deployments:write"))) -> dict[str, Any]:
    return d.change(_p(request), principal, name, "rollback", d.rollback())
