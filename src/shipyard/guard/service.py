"""Policies as the platform keeps them: stored in the database, served from memory.

The gateway asks for the effective policy of every call, so that lookup never touches the database:
rows are loaded at start, after every change made through this process, and every
`guard_policy_refresh` seconds (to see changes made by other workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shipyard.errors import InvalidRequest, NotFound
from shipyard.guard.policy import Policy, build
from shipyard.guard.tables import GuardPolicy
from shipyard.store.tables import utcnow

if TYPE_CHECKING:
    from shipyard.platform import Platform

log = logging.getLogger(__name__)
SCOPES = ("project", "key", "model")


def _row(r: GuardPolicy) -> dict[str, Any]:
    return {"id": r.id, "object": "guard.policy", "project_id": r.project_id, "scope": r.scope,
            "target": r.target or None, "config": r.config, "created_at": r.created_at.isoformat(),
            "updated_at": r.updated_at.isoformat()}


class GuardService:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.store = platform.store
        self._rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._effective: dict[tuple[str, str | None, str | None], Policy] = {}
        self._loaded = False
        self._task: asyncio.Task[None] | None = None

    # -- reading (hot path: memory only once loaded) ----------------------------------------------------
    def load(self) -> None:
        with self.store.session() as session:
            rows = {(r.project_id, r.scope, r.target): _row(r) for r in session.scalars(select(GuardPolicy))}
        self._rows = rows
        self._effective = {}
        self._loaded = True

    def effective(self, project_id: str, key_id: str | None = None, model: str | None = None) -> Policy:
        cache_key = (project_id, key_id, model)
        found = self._effective.get(cache_key)
        if found is not None:
            return found
        if not self._loaded:
            self.load()  # only when the server's startup hook has not run (in-process use)
        layers = [self._rows.get((project_id, "project", "")),
                  self._rows.get((project_id, "key", key_id)) if key_id else None,
                  self._rows.get((project_id, "model", model)) if model else None]
        try:
            policy = build(*(layer["config"] for layer in layers if layer))
        except ValueError:  # a stored policy that no longer validates (a plugin gone): fall back, loudly
            log.exception("guard policy for %s is invalid; using the defaults", cache_key)
            policy = build()
        if len(self._effective) > 10_000:
            self._effective = {}
        self._effective[cache_key] = policy
        return policy

    def redact_storage(self, policy: Policy) -> bool:
        if policy.redact_storage is not None:
            return policy.redact_storage
        return self.platform.settings.guard_redact_storage

    # -- CRUD (API) ---------------------------------------------------------------------------------------
    def list(self, project_id: str) -> list[dict[str, Any]]:
        self.load()
        return sorted((r for r in self._rows.values() if r["project_id"] == project_id),
                      key=lambda r: (SCOPES.index(r["scope"]), r["target"] or ""))

    def get(self, project_id: str, policy_id: str) -> dict[str, Any]:
        with self.store.session() as session:
            row = session.get(GuardPolicy, policy_id)
            if row is None or row.project_id != project_id:
                raise NotFound(f"guard policy '{policy_id}' does not exist", param="id")
            return _row(row)

    def put(self, project_id: str, scope: str, target: str | None, config: dict[str, Any]) -> dict[str, Any]:
        """Create or replace the policy for (scope, target); validated before anything is stored."""
        if scope not in SCOPES:
            raise InvalidRequest(f"scope must be one of {', '.join(SCOPES)}", param="scope", code="invalid_value")
        target = (target or "").strip()
        if scope == "project" and target:
            raise InvalidRequest("a project policy has no target", param="target", code="invalid_value")
        if scope != "project" and not target:
            raise InvalidRequest(f"a {scope} policy needs a target (the {'key id' if scope == 'key' else 'model'})",
                                 param="target", code="missing_required_parameter")
        if not isinstance(config, dict):
            raise InvalidRequest("config must be an object", param="config", code="invalid_type")
        try:
            build(config)
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="config", code="invalid_policy") from None
        now = utcnow()
        with self.store.session() as session:
            row = session.scalars(select(GuardPolicy).where(
                GuardPolicy.project_id == project_id, GuardPolicy.scope == scope, GuardPolicy.target == target)).first()
            if row is None:
                row = GuardPolicy(id=uuid.uuid4().hex, project_id=project_id, scope=scope, target=target,
                                  config=config, created_at=now, updated_at=now)
                session.add(row)
            else:
                row.config, row.updated_at = config, now
            session.flush()
            out = _row(row)
        self.load()
        return out

    def delete(self, project_id: str, policy_id: str) -> None:
        with self.store.session() as session:
            row = session.get(GuardPolicy, policy_id)
            if row is None or row.project_id != project_id:
                raise NotFound(f"guard policy '{policy_id}' does not exist", param="id")
            session.delete(row)
        self.load()

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        from shipyard.guard import classifier

        await asyncio.to_thread(self.load)
        await asyncio.to_thread(classifier.shared)  # load the weights now, not on the first request
        interval = self.platform.settings.guard_policy_refresh
        if interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._refresh(interval), name="guard-policies")
            self.platform.on_shutdown.append(self._stop)

    async def _refresh(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.load)
            except Exception:  # the database is briefly away: keep serving the policies we have
                log.warning("could not reload guard policies; keeping the current ones", exc_info=True)

    async def _stop(self, _platform: Platform) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def service(platform: Platform) -> GuardService:
    return platform.service("guard", GuardService)
