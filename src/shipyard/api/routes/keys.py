"""`/api/keys`, `/api/projects`, `/api/audit`, `/api/me`: API keys, projects and the audit log.

Keys and projects are admin business; `/api/me` tells any key who it is (the dashboard's login uses
it). Every change is audited and pushed to every replica's key cache through the controls bus.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from shipyard.auth import DEFAULT_PROJECT, Principal, require
from shipyard.controls.bus import ControlBus
from shipyard.controls.keys import (
    audit,
    check_role,
    create_key,
    ensure_project,
    get_key,
    hash_key,
    key_row,
    new_secret,
    project_row,
)
from shipyard.controls.service import Controls, controls_of
from shipyard.controls.tables import ApiKey, AuditEntry, Project
from shipyard.errors import Conflict, NotFound
from shipyard.platform import Platform

router = APIRouter(prefix="/api", tags=["keys"])


async def startup(platform: Platform) -> None:
    await controls_of(platform).start()


def _controls(request: Request) -> Controls:
    return controls_of(request.app.state.platform)


class LimitFields(BaseModel):
    rpm: int | None = Field(None, ge=1, description="requests per minute")
    tpm: int | None = Field(None, ge=1, description="tokens per minute")
    max_concurrent: int | None = Field(None, ge=1)
    budget_daily: float | None = Field(None, ge=0, description="USD per day")
    budget_monthly: float | None = Field(None, ge=0, description="USD per month")


class KeyCreate(LimitFields):
    name: str = Field(min_length=1, max_length=200)
    role: str = "developer"
    project: str = Field(DEFAULT_PROJECT, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    models: list[str] | None = None
    expires_in_days: float | None = Field(None, gt=0)
    expires_at: datetime | None = None
    semantic_cache: bool = False


class KeyUpdate(LimitFields):
    name: str | None = Field(None, min_length=1, max_length=200)
    role: str | None = None
    models: list[str] | None = None
    expires_at: datetime | None = None
    semantic_cache: bool | None = None


class ProjectCreate(LimitFields):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str | None = None


class ProjectUpdate(LimitFields):
    name: str | None = None


def _changed(request: Request, hint: dict[str, Any] | None = None) -> None:
    _controls(request).bus.changed("keys", hint)


@router.post("/keys", status_code=201)
def create(body: KeyCreate, request: Request, principal: Principal = Depends(require("keys:write"))) -> dict[str, Any]:
    """Create a key; the secret is in this answer only."""
    fields = body.model_dump(exclude={"name", "role", "project", "expires_in_days", "expires_at"})
    expires = body.expires_at
    if body.expires_in_days is not None:
        expires = datetime.now(UTC) + timedelta(days=body.expires_in_days)
    with request.app.state.platform.store.session() as session:
        key, secret = create_key(session, principal, name=body.name, role=body.role, project=body.project,
                                 expires_at=expires, **fields)
        ControlBus.bump(session, "keys")
        row = key_row(key)
    _changed(request)
    return {**row, "key": secret}


@router.get("/keys")
def list_keys(request: Request, project: str | None = None, include_revoked: bool = False,
              principal: Principal = Depends(require("keys:read"))) -> dict[str, Any]:
    query = select(ApiKey).order_by(ApiKey.created_at)
    if project:
        query = query.where(ApiKey.project_id == project)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    with request.app.state.platform.store.session() as session:
        return {"object": "list", "data": [key_row(k) for k in session.scalars(query)]}


@router.get("/keys/{key_id}")
def show(key_id: str, request: Request, principal: Principal = Depends(require("keys:read"))) -> dict[str, Any]:
    with request.app.state.platform.store.session() as session:
        return key_row(get_key(session, key_id))


@router.patch("/keys/{key_id}")
def update(key_id: str, body: KeyUpdate, request: Request,
           principal: Principal = Depends(require("keys:write"))) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if "role" in changes:
        check_role(changes["role"])
    with request.app.state.platform.store.session() as session:
        key = get_key(session, key_id)
        if key.revoked_at is not None:
            raise Conflict(f"key '{key_id}' is revoked; create a new one")
        for name, value in changes.items():
            setattr(key, name, value)
        audit(session, principal, "key.update", "api_key", key.id, key.project_id,
              **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in changes.items()})
        ControlBus.bump(session, "keys")
        row = key_row(key)
    _changed(request)
    return row


@router.post("/keys/{key_id}/rotate")
def rotate(key_id: str, request: Request, principal: Principal = Depends(require("keys:write"))) -> dict[str, Any]:
    """A new secret for the same key (id, role, limits, spend); the old secret stops working at once."""
    secret = new_secret()
    with request.app.state.platform.store.session() as session:
        key = get_key(session, key_id)
        if key.revoked_at is not None:
            raise Conflict(f"key '{key_id}' is revoked; create a new one")
        old_hash = key.hash
        key.hash, key.prefix = hash_key(secret), secret[:11]
        audit(session, principal, "key.rotate", "api_key", key.id, key.project_id)
        ControlBus.bump(session, "keys")
        row = key_row(key)
    _changed(request, {"revoked_hash": old_hash})
    return {**row, "key": secret}


@router.delete("/keys/{key_id}")
def revoke(key_id: str, request: Request, principal: Principal = Depends(require("keys:write"))) -> dict[str, Any]:
    """Revoke: the key stops working on every replica at once; the row stays for the audit trail."""
    with request.app.state.platform.store.session() as session:
        key = get_key(session, key_id)
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            audit(session, principal, "key.revoke", "api_key", key.id, key.project_id)
            ControlBus.bump(session, "keys")
        row, digest = key_row(key), key.hash
    _changed(request, {"revoked_hash": digest})
    return row


# -- projects --------------------------------------------------------------------------------------------
@router.post("/projects", status_code=201)
def create_project(body: ProjectCreate, request: Request,
                   principal: Principal = Depends(require("projects:write"))) -> dict[str, Any]:
    with request.app.state.platform.store.session() as session:
        if session.get(Project, body.id) is not None:
            raise Conflict(f"project '{body.id}' exists already")
        project = ensure_project(session, body.id, body.name)
        for name, value in body.model_dump(exclude={"id", "name"}).items():
            setattr(project, name, value)
        audit(session, principal, "project.create", "project", project.id, project.id)
        ControlBus.bump(session, "keys")
        row = project_row(project)
    _changed(request)
    return row


@router.get("/projects")
def list_projects(request: Request, principal: Principal = Depends(require("projects:read"))) -> dict[str, Any]:
    with request.app.state.platform.store.session() as session:
        rows = [project_row(p) for p in session.scalars(select(Project).order_by(Project.id))]
    return {"object": "list", "data": rows}


@router.patch("/projects/{project_id}")
def update_project(project_id: str, body: ProjectUpdate, request: Request,
                   principal: Principal = Depends(require("projects:write"))) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    with request.app.state.platform.store.session() as session:
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound(f"no project '{project_id}'")
        for name, value in changes.items():
            setattr(project, name, value)
        audit(session, principal, "project.update", "project", project.id, project.id, **changes)
        ControlBus.bump(session, "keys")
        row = project_row(project)
    _changed(request)
    return row


# -- audit and identity ------------------------------------------------------------------------------------
@router.get("/audit")
def audit_log(request: Request, limit: int = Query(100, ge=1, le=1000), project: str | None = None,
              action: str | None = None, before: int | None = Query(None, description="id cursor"),
              principal: Principal = Depends(require("audit:read"))) -> dict[str, Any]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if project:
        query = query.where(AuditEntry.project_id == project)
    if action:
        query = query.where(AuditEntry.action == action)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    with request.app.state.platform.store.session() as session:
        rows = [{"id": a.id, "at": a.at.isoformat(), "actor_key_id": a.actor_key_id,
                 "actor_project_id": a.actor_project_id, "action": a.action, "target_type": a.target_type,
                 "target_id": a.target_id, "project_id": a.project_id, "detail": a.detail}
                for a in session.scalars(query)]
    return {"object": "list", "data": rows, "next_before": rows[-1]["id"] if len(rows) == limit else None}


@router.get("/me")
def me(request: Request, principal: Principal = Depends(require("me:read"))) -> dict[str, Any]:
    """Who this key is: the dashboard's login form checks a key with this."""
    keys = _controls(request).keys
    return {"project": principal.project_id, "role": principal.role, "key_id": principal.key_id,
            "models": list(principal.models) if principal.models is not None else None,
            "open": bool(keys is None or keys.open)}
