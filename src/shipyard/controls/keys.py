"""API keys and projects: the in-memory key cache that `auth.authorize` consults, and their management.

Every key row is read into `KeyCache.by_hash` (sha256 of the secret -> KeyEntry) at start and after
any change (see `controls.bus`), so checking a key costs one hash and one dict lookup. Unknown hashes
are refused without asking the database: the cache holds every key there is.
"""

from __future__ import annotations

import hashlib
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shipyard.auth import DEFAULT_PROJECT, ROLES, Principal
from shipyard.controls.tables import ApiKey, AuditEntry, Project
from shipyard.errors import AuthenticationError, Conflict, InvalidRequest, NotFound

if TYPE_CHECKING:
    from shipyard.platform import Platform

KEY_PREFIX = "sk-shp-"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int | None = None
    tpm: int | None = None
    max_concurrent: int | None = None
    budget_daily: float | None = None
    budget_monthly: float | None = None

    @property
    def any_rate(self) -> bool:
        return bool(self.rpm or self.tpm or self.max_concurrent)

    @property
    def any_budget(self) -> bool:
        return self.budget_daily is not None or self.budget_monthly is not None


@dataclass(frozen=True, slots=True)
class KeyEntry:
    principal: Principal
    expires_at: float | None  # epoch seconds
    revoked: bool
    limits: Limits
    semantic_cache: bool


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


class KeyCache:
    """Keys and project limits in memory, swapped whole on reload (safe to read from any thread)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.by_hash: dict[str, KeyEntry] = {}
        self.by_id: dict[str, KeyEntry] = {}
        self.projects: dict[str, Limits] = {}
        self.open = True
        self.reload()

    def reload(self) -> None:
        with self.platform.store.session() as session:
            keys = list(session.scalars(select(ApiKey)))
            projects = list(session.scalars(select(Project)))
        by_hash, by_id = {}, {}
        for k in keys:
            entry = KeyEntry(
                principal=Principal(project_id=k.project_id, role=k.role, key_id=k.id,
                                    models=tuple(k.models) if k.models is not None else None),
                expires_at=_epoch(k.expires_at), revoked=k.revoked_at is not None,
                limits=Limits(k.rpm, k.tpm, k.max_concurrent, k.budget_daily, k.budget_monthly),
                semantic_cache=bool(k.semantic_cache))
            by_hash[k.hash] = entry
            by_id[k.id] = entry
        self.by_hash, self.by_id = by_hash, by_id
        self.projects = {p.id: Limits(p.rpm, p.tpm, p.max_concurrent, p.budget_daily, p.budget_monthly)
                         for p in projects}
        self.open = not keys and self.platform.settings.auth != "on"

    def drop(self, hint: dict[str, Any]) -> None:
        """A key was revoked on some replica: refuse it now, before the reload completes."""
        h = hint.get("revoked_hash")
        if h and h in self.by_hash:
            by_hash = dict(self.by_hash)
            entry = by_hash.pop(h)
            self.by_hash = by_hash
            self.by_id = {k: v for k, v in self.by_id.items() if v is not entry}

    def authenticate(self, request: Request) -> Principal:
        headers = request.headers
        auth = headers.get("authorization")
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError("malformed Authorization header: expected 'Bearer <api key>'")
            token = token.strip()
        else:
            token = headers.get("x-api-key") or request.cookies.get("shipyard_key")
            if not token:
                raise AuthenticationError("missing API key: send 'Authorization: Bearer <api key>'",
                                          code="missing_api_key")
        entry = self.by_hash.get(hash_key(token))
        if entry is None:
            shown = token[:10] + "..." if len(token) > 10 else "<short>"
            raise AuthenticationError(f"invalid API key {shown}: no such key")
        if entry.revoked:
            raise AuthenticationError("this API key was revoked", code="revoked_api_key")
        if entry.expires_at is not None and time.time() >= entry.expires_at:
            raise AuthenticationError("this API key has expired", code="expired_api_key")
        return entry.principal


def keys_of(platform: Platform) -> KeyCache:
    return platform.service("keys", KeyCache)


# -- management (the API's side; runs in worker threads, may use the database freely) ---------------------
def audit(session: Session, actor: Principal, action: str, target_type: str, target_id: str | None,
          project_id: str | None = None, **detail: Any) -> None:
    session.add(AuditEntry(actor_key_id=actor.key_id, actor_project_id=actor.project_id, action=action,
                           target_type=target_type, target_id=target_id, project_id=project_id,
                           detail=detail or None))


def ensure_project(session: Session, project_id: str, name: str | None = None) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        project = Project(id=project_id, name=name or project_id)
        session.add(project)
        session.flush()
    return project


def key_row(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id, "name": k.name, "project": k.project_id, "role": k.role, "prefix": k.prefix,
        "models": k.models, "expires_at": k.expires_at.isoformat() if k.expires_at else None,
        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        "created_at": k.created_at.isoformat(), "created_by": k.created_by,
        "rpm": k.rpm, "tpm": k.tpm, "max_concurrent": k.max_concurrent,
        "budget_daily": k.budget_daily, "budget_monthly": k.budget_monthly, "semantic_cache": k.semantic_cache,
        "status": "revoked" if k.revoked_at else ("expired" if k.expires_at and _epoch(k.expires_at) <= time.time()
                                                  else "active"),
    }


def project_row(p: Project) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "created_at": p.created_at.isoformat(), "rpm": p.rpm, "tpm": p.tpm,
            "max_concurrent": p.max_concurrent, "budget_daily": p.budget_daily, "budget_monthly": p.budget_monthly}


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidRequest(f"unknown role '{role}' (roles: {', '.join(ROLES)})", param="role", code="invalid_value")


def create_key(session: Session, actor: Principal, *, name: str, role: str, project: str,
               secret: str | None = None, **fields: Any) -> tuple[ApiKey, str]:
    check_role(role)
    ensure_project(session, project)
    secret = secret or new_secret()
    digest = hash_key(secret)
    if session.scalar(select(ApiKey.id).where(ApiKey.hash == digest)) is not None:
        raise Conflict("a key with this secret exists already")
    key = ApiKey(id="key_" + secrets.token_hex(8), project_id=project, name=name, role=role, hash=digest,
                 prefix=secret[:len(KEY_PREFIX) + 4] if secret.startswith(KEY_PREFIX) else secret[:6],
                 created_by=actor.key_id, semantic_cache=bool(fields.pop("semantic_cache", False)), **fields)
    session.add(key)
    session.flush()
    audit(session, actor, "key.create", "api_key", key.id, project, name=name, role=role)
    return key, secret


def get_key(session: Session, key_id: str) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key '{key_id}'")
    return key


def bootstrap(platform: Platform) -> str | None:
    """On first start: the default project, and the first admin key when the platform is to be closed.

    Returns the new secret (to print once) when one was generated. Idempotent across worker processes:
    the key row's unique hash decides which worker's key wins when several start at once.
    """
    settings = platform.settings
    with platform.store.session() as session:
        ensure_project(session, DEFAULT_PROJECT, "Default")
    with platform.store.session() as session:
        has_keys = session.scalar(select(func.count()).select_from(ApiKey)) > 0
        admin = Principal(project_id=DEFAULT_PROJECT, role="admin")
        if settings.admin_key:
            if session.scalar(select(ApiKey.id).where(ApiKey.hash == hash_key(settings.admin_key))) is None:
                create_key(session, admin, name="admin (SHIPYARD_ADMIN_KEY)", role="admin", project=DEFAULT_PROJECT,
                           secret=settings.admin_key)
            return None
        if has_keys or not (settings.auth == "on" or settings.host not in _LOOPBACK):
            return None
        _key, secret = create_key(session, admin, name="admin (first start)", role="admin", project=DEFAULT_PROJECT)
    return secret


def announce(secret: str) -> None:
    print(f"\nShipyard created the first admin API key. It is shown only this once; keep it safe:\n\n"
          f"    {secret}\n\nUse it as 'Authorization: Bearer <key>' or SHIPYARD_API_KEY for the CLI.\n",
          file=sys.stderr, flush=True)
