"""Tables. Capabilities may keep their own table modules; all share this `Base`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class RequestRecord(Base):
    """One gateway request, written by the batched writer, never on the request path."""

    __tablename__ = "requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    endpoint: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(64))
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    status_code: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    project_id: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(64))
    extra: Mapped[dict | None] = mapped_column(JSON)
    cost: Mapped[float | None] = mapped_column(Float)  # USD, from the price table (gateway controls)

    __table_args__ = (
        Index("ix_requests_created_at", "created_at"),
        Index("ix_requests_model_created_at", "model", "created_at"),
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
