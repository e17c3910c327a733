"""Changing deployments: versions, aliases, canary, shadow, promote and roll back.

Each change is one transaction: the deployment's spec (validated whole), its revision, the audit entry
and the `deployments` control version. Then every replica's router reloads (see `controls.bus`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import select

from shipyard.auth import Principal
from shipyard.controls.bus import ControlBus
from shipyard.controls.keys import audit
from shipyard.controls.routing import Canary, DeploymentSpec, Member
from shipyard.controls.tables import Deployment
from shipyard.errors import Conflict, InvalidRequest, NotFound

if TYPE_CHECKING:
    from shipyard.platform import Platform


def row(d: Deployment) -> dict[str, Any]:
    spec = DeploymentSpec.model_validate(d.spec)
    return {**spec.model_dump(), "production": spec.production, "revision": d.revision,
            "updated_at": d.updated_at.isoformat()}


def _validated(platform: Platform, data: dict[str, Any]) -> DeploymentSpec:
    try:
        spec = DeploymentSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidRequest(f"invalid deployment: {where + ': ' if where else ''}{first['msg']}",
                             code="invalid_value") from None
    known = platform.registry.providers
    for version, members in spec.versions.items():
        for m in members:
            if m.model not in known:
                raise InvalidRequest(f"version '{version}': no model named '{m.model}' (models: "
                                     f"{', '.join(sorted(known))})", param="model", code="model_not_found")
    if spec.name in known:
        raise InvalidRequest(f"'{spec.name}' is a model already; a deployment needs a name of its own", param="name")
    return spec


def list_all(platform: Platform) -> list[dict[str, Any]]:
    with platform.store.session() as session:
        return [row(d) for d in session.scalars(select(Deployment).order_by(Deployment.name))]


def get(platform: Platform, name: str) -> dict[str, Any]:
    with platform.store.session() as session:
        found = session.get(Deployment, name)
        if found is None:
            raise NotFound(f"no deployment '{name}'")
        return row(found)


def put(platform: Platform, actor: Principal, data: dict[str, Any]) -> dict[str, Any]:
    spec = _validated(platform, data)
    with platform.store.session() as session:
        found = session.get(Deployment, spec.name)
        if found is None:
            found = Deployment(name=spec.name, spec=spec.model_dump(), revision=1, updated_at=datetime.now(UTC))
            session.add(found)
            audit(session, actor, "deployment.create", "deployment", spec.name)
        else:
            found.spec, found.revision, found.updated_at = spec.model_dump(), found.revision + 1, datetime.now(UTC)
            audit(session, actor, "deployment.replace", "deployment", spec.name)
        ControlBus.bump(session, "deployments")
        out = row(found)
    _announce(platform)
    return out


def change(platform: Platform, actor: Principal, name: str, action: str,
           mutate: Callable[[DeploymentSpec], dict[str, Any]]) -> dict[str, Any]:
    """Apply `mutate` to the stored spec (it returns the audit detail) and store it if still valid."""
    with platform.store.session() as session:
        found = session.get(Deployment, name)
        if found is None:
            raise NotFound(f"no deployment '{name}'")
        spec = DeploymentSpec.model_validate(found.spec)
        detail = mutate(spec)
        spec = _validated(platform, spec.model_dump())
        found.spec, found.revision, found.updated_at = spec.model_dump(), found.revision + 1, datetime.now(UTC)
        audit(session, actor, f"deployment.{action}", "deployment", name, **detail)
        ControlBus.bump(session, "deployments")
        out = row(found)
    _announce(platform)
    return out


def delete(platform: Platform, actor: Principal, name: str) -> None:
    with platform.store.session() as session:
        found = session.get(Deployment, name)
        if found is None:
            raise NotFound(f"no deployment '{name}'")
        session.delete(found)
        audit(session, actor, "deployment.delete", "deployment", name)
        ControlBus.bump(session, "deployments")
    _announce(platform)


def _announce(platform: Platform) -> None:
    controls = platform.services.get("controls")
    if controls is not None:
        controls.bus.changed("deployments")


# -- the mutations -----------------------------------------------------------------------------------------
def add_version(version: str, models: list[dict[str, Any]]) -> Callable[[DeploymentSpec], dict[str, Any]]:
    def mutate(spec: DeploymentSpec) -> dict[str, Any]:
        if version in spec.versions:
            raise Conflict(f"version '{version}' exists already; versions do not change once made")
        spec.versions[version] = [Member.model_validate(m) for m in models]
        return {"version": version, "models": [m["model"] for m in models]}

    return mutate


def set_alias(alias: str, version: str | None) -> Callable[[DeploymentSpec], dict[str, Any]]:
    def mutate(spec: DeploymentSpec) -> dict[str, Any]:
        if version is None:
            spec.aliases.pop(alias, None)
            return {"alias": alias, "version": None}
        if version not in spec.versions:
            raise InvalidRequest(f"no version '{version}' (versions: {', '.join(spec.versions)})", param="version")
        if alias == "production" and spec.production != version:
            spec.history.append(spec.production)
        spec.aliases[alias] = version
        return {"alias": alias, "version": version}

    return mutate


def set_canary(version: str | None, percent: float) -> Callable[[DeploymentSpec], dict[str, Any]]:
    def mutate(spec: DeploymentSpec) -> dict[str, Any]:
        spec.canary = None if version is None else Canary(version=version, percent=percent)
        return {"version": version, "percent": percent}

    return mutate


def set_shadow(version: str | None) -> Callable[[DeploymentSpec], dict[str, Any]]:
    def mutate(spec: DeploymentSpec) -> dict[str, Any]:
        spec.shadow = version
        return {"version": version}

    return mutate


def promote(version: str | None) -> Callable[[DeploymentSpec], dict[str, Any]]:
    """Production becomes `version` (default: the canary's); the canary, if it was that version, ends."""

    def mutate(spec: DeploymentSpec) -> dict[str, Any]:
        target = version or (spec.canary.version if spec.canary else None)
        if target is None:
            raise InvalidRequest("nothing to promote: name a version or start a canary first", param="version")
        if target not in spec.versions:
            raise InvalidRequest(f"no version '{target}' (versions: {', '.join(spec.versions)})", param="version")
        before = spec.production
        if before != target:
            spec.history.append(before)
        spec.aliases["production"] = target
        if spec.canary and spec.canary.version == target:
            spec.canary = None
        return {"from": before, "to": target}

    return mutate


def rollback() -> Callable[[DeploymentSpec], dict[str, Any]]:
    """End a running canary; without one, put the previous production version back."""

    def mutate(spec: DeploymentSpec) -> dict[str, Any]:
        if spec.canary is not None:
            dropped = spec.canary.version
            spec.canary = None
            return {"canary_ended": dropped, "production": spec.production}
        if not spec.history:
            raise Conflict(f"deployment '{spec.name}' has no earlier production version to roll back to")
        before = spec.production
        spec.aliases["production"] = spec.history.pop()
        return {"from": before, "to": spec.aliases["production"]}

    return mutate
