"""Fine-tuning tables: uploaded files, jobs (the queue itself), their events and checkpoints, and the
fine-tuned models a finished job registers.

The job row is the queue: workers claim it atomically and keep it with a lease (`lease_until`, unix
seconds, so SQLite and PostgreSQL compare the same numbers), which is how a job whose worker died is
found and taken up again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.tables import Base, utcnow


class FileRecord(Base):
    """An uploaded file (OpenAI files API). Content lives in the database so every worker can read it."""

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    filename: Mapped[str] = mapped_column(String(300))
    purpose: Mapped[str] = mapped_column(String(40))
    bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="processed")
    status_details: Mapped[str | None] = mapped_column(Text)
    report: Mapped[dict | None] = mapped_column(JSON)  # validation: examples, tokens, estimate
    content: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_files_project_created", "project_id", "created_at"),)


class FineTuningJob(Base):
    __tablename__ = "fine_tuning_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model: Mapped[str] = mapped_column(String(200))  # the base model's public name
    base_ref: Mapped[str] = mapped_column(Text)  # the base GGUF (path or bundled:NAME)
    training_file: Mapped[str] = mapped_column(String(40))
    validation_file: Mapped[str | None] = mapped_column(String(40))
    hyperparameters: Mapped[dict] = mapped_column(JSON)
    suffix: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    metadata_: Mapped[dict | None] = mapped_column("metadata", JSON)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    error: Mapped[dict | None] = mapped_column(JSON)
    fine_tuned_model: Mapped[str | None] = mapped_column(String(300))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger)
    total_steps: Mapped[int | None] = mapped_column(Integer)
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict | None] = mapped_column(JSON)  # throughput, last losses, evaluation
    worker_id: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_ft_jobs_status", "status"),
        Index("ix_ft_jobs_project_created", "project_id", "created_at"),
    )


class JobEvent(Base):
    __tablename__ = "fine_tuning_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(40), ForeignKey("fine_tuning_jobs.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="info")
    type: Mapped[str] = mapped_column(String(20), default="message")  # message | metrics
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_ft_events_job_seq", "job_id", "seq"),)


class JobCheckpoint(Base):
    __tablename__ = "fine_tuning_checkpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(40), ForeignKey("fine_tuning_jobs.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    step: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_ft_ckpt_job_step", "job_id", "step"),)


class FineTunedModel(Base):
    """A registered model version: base + adapter, served by the gateway under `name`.

    Written in the same transaction that marks its job succeeded, so there is never a half-registered
    model. Promotion (aliases, canaries) reads these rows; see docs/finetune.md."""

    __tablename__ = "fine_tuned_models"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    job_id: Mapped[str] = mapped_column(String(40))
    base_model: Mapped[str] = mapped_column(String(200))
    base_ref: Mapped[str] = mapped_column(Text)
    adapter_path: Mapped[str] = mapped_column(Text)  # PEFT adapter directory
    gguf_lora_path: Mapped[str | None] = mapped_column(Text)  # llama.cpp adapter, served by the local provider
    spec: Mapped[dict] = mapped_column(JSON)  # the ModelSpec the gateway serves it with
    evaluation: Mapped[dict | None] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
