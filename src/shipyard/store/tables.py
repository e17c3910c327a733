"""Tables. Capabilities may keep their own table modules; all share this `Base`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Trace(Base):
    """One unit of work as a person sees it: a gateway request, a chain run, an SDK-traced function.

    Written once, when its root span ends; the spans below it carry the detail.
    """

    __tablename__ = "traces"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    input: Mapped[Any | None] = mapped_column(JSON)
    output: Mapped[Any | None] = mapped_column(JSON)
    session_id: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(200))
    meta: Mapped[dict | None] = mapped_column("metadata", JSON)

    __table_args__ = (
        Index("ix_traces_project_start", "project_id", "start_time"),
        Index("ix_traces_session", "session_id"),
        Index("ix_traces_user", "user_id"),
    )


class Span(Base):
    """One step of a trace; every gateway call is a span (kind generation or embedding), which makes
    this table the request log too."""

    __tablename__ = "spans"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[str | None] = mapped_column(String(32))
    project_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    status_code: Mapped[int | None] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(64))
    stream: Mapped[bool | None] = mapped_column(Boolean)
    input: Mapped[Any | None] = mapped_column(JSON)
    output: Mapped[Any | None] = mapped_column(JSON)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cached_tokens: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[float | None] = mapped_column(Float)
    key_id: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(200))
    meta: Mapped[dict | None] = mapped_column("metadata", JSON)

    __table_args__ = (
        Index("ix_spans_project_start", "project_id", "start_time"),
        Index("ix_spans_trace", "trace_id"),
        Index("ix_spans_model_start", "model", "start_time"),
        Index("ix_spans_kind_start", "kind", "start_time"),
    )


def _load_capability_tables() -> None:
    """Import every `shipyard.<capability>.tables`, so `Base.metadata` always knows every table
    (e.g. for tests that drop the whole schema), whichever capability modules were imported so far."""
    import importlib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for path in sorted(root.glob("*/tables.py")):
        if path.parent.name != "store":
            importlib.import_module(f"shipyard.{path.parent.name}.tables")


_load_capability_tables()
