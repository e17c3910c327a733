"""Tables of the gateway controls. Read into memory at start and on change, never on the request path."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.tables import Base, utcnow


class Project(Base):
    """A team's space: keys, records and spend belong to one."""

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rpm: Mapped[int | None] = mapped_column(Integer)
    tpm: Mapped[int | None] = mapped_column(Integer)
    max_concurrent: Mapped[int | None] = mapped_column(Integer)
    budget_daily: Mapped[float | None] = mapped_column(Float)
    budget_monthly: Mapped[float | None] = mapped_column(Float)


class ApiKey(Base):
    """An API key. Only the sha256 of the secret is stored; `prefix` is what people see again."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(32))
    models: Mapped[list | None] = mapped_column(JSON)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(32))
    rpm: Mapped[int | None] = mapped_column(Integer)
    tpm: Mapped[int | None] = mapped_column(Integer)
    max_concurrent: Mapped[int | None] = mapped_column(Integer)
    budget_daily: Mapped[float | None] = mapped_column(Float)
    budget_monthly: Mapped[float | None] = mapped_column(Float)
    semantic_cache: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_api_keys_project", "project_id"),)


class AuditEntry(Base):
    """Who created, changed or deleted what. Written in the same transaction as the change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_key_id: Mapped[str | None] = mapped_column(String(32))
    actor_project_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))  # e.g. key.create, deployment.promote
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(200))
    project_id: Mapped[str | None] = mapped_column(String(64))  # the project the target belongs to
    detail: Mapped[dict | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_log_at", "at"),)


class Price(Base):
    """USD per million tokens for one model (public or upstream name)."""

    __tablename__ = "prices"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    input: Mapped[float] = mapped_column(Float, default=0.0)
    output: Mapped[float] = mapped_column(Float, default=0.0)
    cached_input: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Deployment(Base):
    """A public model name served by a group of models, with versions, aliases, canary and shadow."""

    __tablename__ = "deployments"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    spec: Mapped[dict] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ControlVersion(Base):
    """A counter per kind of control; replicas poll it to notice changes made elsewhere."""

    __tablename__ = "control_versions"

    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)
