"""The registry's tables, shared by prompts and chains (`kind` tells them apart), and the chain runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.tables import Base, utcnow


class RegistryVersion(Base):
    """One immutable version of a prompt or a chain: never updated, only added."""

    __tablename__ = "registry_versions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # prompt | chain
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))  # of the canonical spec: pushing the same content twice is a no-op
    message: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ux_registry_versions", "project_id", "kind", "name", "version", unique=True),)


class RegistryLabel(Base):
    """A movable pointer (production, staging, any name) to one version; rollback moves it back."""

    __tablename__ = "registry_labels"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChainRun(Base):
    """One run of a chain: what went in, every finished step's output, and where it failed if it did."""

    __tablename__ = "chain_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    chain: Mapped[str] = mapped_column(String(200))
    version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # ok | error
    inputs: Mapped[Any | None] = mapped_column(JSON)
    steps: Mapped[Any | None] = mapped_column(JSON)  # step name -> output, for the steps that finished
    output: Mapped[Any | None] = mapped_column(JSON)
    failed_step: Mapped[str | None] = mapped_column(String(200))
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    key_id: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_chain_runs_project_chain", "project_id", "chain", "created_at"),)
