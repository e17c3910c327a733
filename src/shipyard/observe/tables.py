"""Observability tables beyond traces and spans: scores on them, and the drift monitor's history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.tables import Base, utcnow


class Score(Base):
    """A judgement attached to a trace (or one span of it): thumbs up from a user, a reviewer's label,
    an evaluator's number. Many scores per trace; the newest with a name is not special."""

    __tablename__ = "scores"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    data_type: Mapped[str] = mapped_column(String(16))  # numeric | boolean | categorical
    value: Mapped[float | None] = mapped_column(Float)  # numeric value; 1/0 for boolean
    string_value: Mapped[str | None] = mapped_column(String(200))  # categorical label; "true"/"false"
    source: Mapped[str] = mapped_column(String(16))  # end-user | reviewer | evaluator
    comment: Mapped[str | None] = mapped_column(Text)
    author_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    meta: Mapped[dict | None] = mapped_column("metadata", JSON)

    __table_args__ = (
        Index("ix_scores_project_created", "project_id", "created_at"),
        Index("ix_scores_trace", "trace_id"),
        Index("ix_scores_project_name_created", "project_id", "name", "created_at"),
    )


class DriftRun(Base):
    """One comparison of a recent window of traffic with a reference window, kept as history."""

    __tablename__ = "drift_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reference_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reference_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    current_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    current_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    n_reference: Mapped[int] = mapped_column(Integer)
    n_current: Mapped[int] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    alert: Mapped[bool] = mapped_column(Boolean, default=False)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_drift_runs_project_model_created", "project_id", "model", "created_at"),)


class DriftAlert(Base):
    """A drift run that crossed its threshold: shown on the dashboard and sent to the webhook."""

    __tablename__ = "drift_alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    message: Mapped[str] = mapped_column(Text)
    webhook_status: Mapped[str | None] = mapped_column(String(200))  # "sent 200", "failed: ...", None: no webhook

    __table_args__ = (Index("ix_drift_alerts_project_created", "project_id", "created_at"),)
