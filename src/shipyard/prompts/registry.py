"""Versions and labels of named specs, one implementation for prompts and chains.

A push adds version N+1 (or, when the content equals the latest version, returns that version: CI can
push the same folder on every build). Labels are movable pointers; `latest` is always the newest
version and cannot be moved. Resolved references are cached in memory, so the gateway's hot path never
queries the database for a prompt it has seen; any change clears the cache here at once and on the other
replicas through the controls bus (Redis pub/sub when configured, polling of `control_versions` always).
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from shipyard.errors import Conflict, InvalidRequest, NotFound
from shipyard.prompts.tables import RegistryLabel, RegistryVersion
from shipyard.store.tables import utcnow

if TYPE_CHECKING:
    from shipyard.platform import Platform

log = logging.getLogger(__name__)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
LATEST = "latest"
TOPIC = "registry"  # the controls-bus topic that tells every replica to drop its cache


@dataclass(frozen=True, slots=True)
class Version:
    kind: str
    name: str
    version: int
    spec: dict[str, Any]
    message: str | None
    author: str | None
    created_at: datetime | None
    labels: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {"object": f"{self.kind}.version", "name": self.name, "version": self.version, "spec": self.spec,
                "message": self.message, "author": self.author, "labels": list(self.labels),
                "created_at": self.created_at.isoformat() if self.created_at else None}


def check_name(name: Any, kind: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidRequest(f"{kind} name must be 1-200 letters, digits, '_', '-', '.' (got {name!r})",
                             param="name")
    return name


def check_label(label: Any) -> str:
    if not isinstance(label, str) or not LABEL.match(label) or label.isdigit():
        raise InvalidRequest(f"a label must be 1-64 letters, digits, '_', '-', '.' and not a number (got {label!r})",
                             param="label")
    if label == LATEST:
        raise InvalidRequest("'latest' always points at the newest version and cannot be moved", param="label")
    return label


def parse_ref(ref: Any) -> int | str:
    """A reference as users write it: None/'latest', a version number (3, '3', 'v3'), or a label."""
    if ref is None or ref == "":
        return LATEST
    if isinstance(ref, bool):
        raise InvalidRequest("a version must be a number or a label", param="version")
    if isinstance(ref, int):
        return ref
    if isinstance(ref, str):
        text = ref[1:] if ref[:1] in ("v", "V") and ref[1:].isdigit() else ref
        return int(text) if text.isdigit() else ref
    raise InvalidRequest("a version must be a number or a label", param="version")


def digest(spec: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()


def dump_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)


def listen(platform: Platform) -> None:
    """Drop every registry's cache when another replica changes something (call once at startup)."""
    from shipyard.controls.service import controls_of

    def clear_all() -> None:
        for registry in platform.services.get("registries", []):
            registry.clear_cache()

    controls_of(platform).bus.register(TOPIC, clear_all)


class Registry:
    """Versions and labels of one kind of spec, scoped by project."""

    def __init__(self, platform: Platform, kind: str, normalize: Callable[[Any], dict[str, Any]],
                 reserved: tuple[str, ...] = ()) -> None:
        self.platform = platform
        self.reserved = reserved  # names taken by the API's own routes
        self.store = platform.store
        self.kind = kind
        self.normalize = normalize
        self._cache: dict[tuple[str, str, int | str], Version] = {}
        self._lock = threading.Lock()
        platform.services.setdefault("registries", []).append(self)

    # -- cache --------------------------------------------------------------------------------------------
    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _changed(self) -> None:
        """After a commit: forget here, and tell the other replicas through the controls bus."""
        self.clear_cache()
        bus = self._bus()
        if bus is not None:
            bus.changed(TOPIC)

    def _bus(self) -> Any:
        controls = self.platform.services.get("controls")
        return controls.bus if controls is not None and getattr(controls, "started", False) else None

    def _bump(self, session: Any) -> None:
        if self._bus() is not None:
            from shipyard.controls.bus import ControlBus

            ControlBus.bump(session, TOPIC)

    # -- reading ------------------------------------------------------------------------------------------
    def _labels(self, session: Any, project_id: str, name: str) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        rows = session.execute(select(RegistryLabel.label, RegistryLabel.version).where(
            RegistryLabel.project_id == project_id, RegistryLabel.kind == self.kind, RegistryLabel.name == name))
        for label, version in rows:
            out.setdefault(version, []).append(label)
        return out

    def _version(self, row: RegistryVersion, labels: dict[int, list[str]], latest: int | None) -> Version:
        names = sorted(labels.get(row.version, []))
        if row.version == latest:
            names = [LATEST, *names]
        return Version(self.kind, row.name, row.version, row.spec, row.message, row.author, row.created_at,
                       tuple(names))

    def _not_found(self, name: str, ref: int | str | None = None) -> NotFound:
        if ref is None:
            return NotFound(f"{self.kind} '{name}' does not exist", param="name", code=f"{self.kind}_not_found")
        what = f"version {ref}" if isinstance(ref, int) else f"label '{ref}'"
        return NotFound(f"{self.kind} '{name}' has no {what}", param="version", code=f"{self.kind}_not_found")

    def peek(self, project_id: str, name: str, ref: Any = None) -> Version | None:
        """The cached version if there is one: no I/O at all (the gateway's hot path tries this first)."""
        return self._cache.get((project_id, name, parse_ref(ref)))

    def get(self, project_id: str, name: str, ref: Any = None, *, cached: bool = False) -> Version:
        """One version by number, label or `latest`. `cached=True` serves it from memory when possible."""
        key = (project_id, name, parse_ref(ref))
        if cached:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
        found = self._load(project_id, name, key[2])
        if cached:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = found
        return found

    def _load(self, project_id: str, name: str, ref: int | str) -> Version:
        base = (RegistryVersion.project_id == project_id, RegistryVersion.kind == self.kind,
                RegistryVersion.name == name)
        with self.store.session() as session:
            latest = session.scalar(select(func.max(RegistryVersion.version)).where(*base))
            if latest is None:
                raise self._not_found(name)
            number = ref
            if isinstance(ref, str) and ref != LATEST:
                number = session.scalar(select(RegistryLabel.version).where(
                    RegistryLabel.project_id == project_id, RegistryLabel.kind == self.kind,
                    RegistryLabel.name == name, RegistryLabel.label == ref))
                if number is None:
                    raise self._not_found(name, ref)
            elif ref == LATEST:
                number = latest
            row = session.scalar(select(RegistryVersion).where(*base, RegistryVersion.version == number))
            if row is None:
                raise self._not_found(name, ref)
            return self._version(row, self._labels(session, project_id, name), latest)

    def versions(self, project_id: str, name: str) -> list[Version]:
        with self.store.session() as session:
            rows = list(session.scalars(select(RegistryVersion).where(
                RegistryVersion.project_id == project_id, RegistryVersion.kind == self.kind,
                RegistryVersion.name == name).order_by(RegistryVersion.version.desc())))
            if not rows:
                raise self._not_found(name)
            labels = self._labels(session, project_id, name)
        return [self._version(r, labels, rows[0].version) for r in rows]

    def list(self, project_id: str, search: str | None = None) -> list[dict[str, Any]]:
        """Every name with its newest version and its labels."""
        with self.store.session() as session:
            newest = (select(RegistryVersion.name, func.max(RegistryVersion.version).label("v"),
                             func.count().label("n"))
                      .where(RegistryVersion.project_id == project_id, RegistryVersion.kind == self.kind)
                      .group_by(RegistryVersion.name).subquery())
            query = (select(RegistryVersion, newest.c.n).join(newest, (RegistryVersion.name == newest.c.name)
                                                             & (RegistryVersion.version == newest.c.v))
                     .where(RegistryVersion.project_id == project_id, RegistryVersion.kind == self.kind)
                     .order_by(RegistryVersion.name))
            if search:
                query = query.where(RegistryVersion.name.contains(search))
            rows = list(session.execute(query))
            labels: dict[str, dict[str, int]] = {}
            for name, label, version in session.execute(select(
                    RegistryLabel.name, RegistryLabel.label, RegistryLabel.version).where(
                    RegistryLabel.project_id == project_id, RegistryLabel.kind == self.kind)):
                labels.setdefault(name, {})[label] = version
        return [{"object": self.kind, "name": r.name, "latest_version": r.version, "versions": n,
                 "labels": {LATEST: r.version, **labels.get(r.name, {})}, "updated_at": r.created_at.isoformat(),
                 "description": (r.spec or {}).get("description"), "model": (r.spec or {}).get("model")}
                for r, n in rows]

    # -- writing ------------------------------------------------------------------------------------------
    def create(self, project_id: str, name: str, spec: Any, *, message: str | None = None,
               author: str | None = None, labels: list[str] | None = None) -> tuple[Version, bool]:
        """Add a version (validated first); returns it and whether it is new."""
        check_name(name, self.kind)
        if name in self.reserved:
            raise InvalidRequest(f"'{name}' is reserved; pick another {self.kind} name", param="name")
        clean = self.normalize(spec)
        for label in labels or []:
            check_label(label)
        fingerprint = digest(clean)
        for _attempt in range(5):
            try:
                with self.store.session() as session:
                    latest = session.scalar(select(RegistryVersion).where(
                        RegistryVersion.project_id == project_id, RegistryVersion.kind == self.kind,
                        RegistryVersion.name == name).order_by(RegistryVersion.version.desc()).limit(1))
                    created = latest is None or latest.digest != fingerprint
                    number = latest.version if not created else (latest.version + 1 if latest else 1)
                    if created:
                        session.add(RegistryVersion(
                            id=uuid.uuid4().hex, project_id=project_id, kind=self.kind, name=name, version=number,
                            spec=clean, digest=fingerprint, message=message, author=author, created_at=utcnow()))
                    for label in labels or []:
                        self._point(session, project_id, name, label, number, author)
                    self._bump(session)
                break
            except IntegrityError:  # someone else took this number a moment ago: read again and retry
                continue
        else:
            raise Conflict(f"could not add a version of {self.kind} '{name}' under concurrent pushes; try again")
        self._changed()
        return self.get(project_id, name, number), created

    def _point(self, session: Any, project_id: str, name: str, label: str, version: int, author: str | None) -> None:
        row = session.get(RegistryLabel, (project_id, self.kind, name, label))
        if row is None:
            session.add(RegistryLabel(project_id=project_id, kind=self.kind, name=name, label=label,
                                      version=version, updated_by=author, updated_at=utcnow()))
        else:
            row.version, row.updated_by, row.updated_at = version, author, utcnow()

    def set_label(self, project_id: str, name: str, label: str, version: Any, author: str | None = None) -> Version:
        """Point a label at a version (a rollback is this, with an older version)."""
        check_label(label)
        target = self.get(project_id, name, version)
        with self.store.session() as session:
            self._point(session, project_id, name, label, target.version, author)
            self._bump(session)
        self._changed()
        return self.get(project_id, name, target.version)

    def remove_label(self, project_id: str, name: str, label: str) -> None:
        check_label(label)
        with self.store.session() as session:
            done = session.execute(delete(RegistryLabel).where(
                RegistryLabel.project_id == project_id, RegistryLabel.kind == self.kind,
                RegistryLabel.name == name, RegistryLabel.label == label))
            if not done.rowcount:  # type: ignore[attr-defined]
                raise self._not_found(name, label)
            self._bump(session)
        self._changed()

    def delete(self, project_id: str, name: str) -> int:
        """Remove a name with all its versions and labels."""
        with self.store.session() as session:
            done = session.execute(delete(RegistryVersion).where(
                RegistryVersion.project_id == project_id, RegistryVersion.kind == self.kind,
                RegistryVersion.name == name))
            session.execute(delete(RegistryLabel).where(
                RegistryLabel.project_id == project_id, RegistryLabel.kind == self.kind, RegistryLabel.name == name))
            count = done.rowcount  # type: ignore[attr-defined]
            if not count:
                raise self._not_found(name)
            self._bump(session)
        self._changed()
        return count

    # -- comparing ----------------------------------------------------------------------------------------
    def diff(self, project_id: str, name: str, a: Any, b: Any) -> dict[str, Any]:
        """What changed from version a to version b: a unified diff of the spec as YAML, and the fields."""
        va, vb = self.get(project_id, name, a), self.get(project_id, name, b)
        left, right = dump_yaml(va.spec), dump_yaml(vb.spec)
        text = "".join(difflib.unified_diff(left.splitlines(keepends=True), right.splitlines(keepends=True),
                                            fromfile=f"{name}@v{va.version}", tofile=f"{name}@v{vb.version}"))
        keys = sorted(set(va.spec) | set(vb.spec))
        changed = {k: {"from": va.spec.get(k), "to": vb.spec.get(k)} for k in keys if va.spec.get(k) != vb.spec.get(k)}
        return {"object": f"{self.kind}.diff", "name": name, "from": va.version, "to": vb.version, "diff": text,
                "changed": changed, "identical": not changed}
