"""Guard policies as stored: one row per (project, scope, target)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.tables import Base, utcnow


class GuardPolicy(Base):
    __tablename__ = "guard_policies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))  # project | key | model
    target: Mapped[str] = mapped_column(String(200), default="")  # key id or model name; "" for the project
    config: Mapped[dict] = mapped_column(JSON)  # a partial policy, layered on the defaults
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ux_guard_policies_scope", "project_id", "scope", "target", unique=True),)
