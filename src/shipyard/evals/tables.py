"""Evaluation tables: datasets (versioned items), experiments with per-item results, online rules and scores.

Dataset versioning is by validity interval: an item is visible in version v when
`added_version <= v` and (`removed_version` is null or `> v`). Editing an item retires it and adds a
new one, so an experiment that records the version it ran on can always see exactly its inputs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.tables import Base, utcnow


class EvalDataset(Base):
    __tablename__ = "eval_datasets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=0)
    meta: Mapped[dict | None] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_eval_datasets_project_name"),)


class EvalItem(Base):
    __tablename__ = "eval_dataset_items"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    input: Mapped[Any] = mapped_column(JSON)
    expected: Mapped[Any | None] = mapped_column(JSON)
    context: Mapped[Any | None] = mapped_column(JSON)
    meta: Mapped[dict | None] = mapped_column("metadata", JSON)
    source_trace_id: Mapped[str | None] = mapped_column(String(32))
    source_span_id: Mapped[str | None] = mapped_column(String(32))
    added_version: Mapped[int] = mapped_column(Integer)
    removed_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_eval_items_dataset", "dataset_id", "position"),)


class EvalExperiment(Base):
    __tablename__ = "eval_experiments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[str] = mapped_column(String(40))
    dataset_version: Mapped[int] = mapped_column(Integer)
    target: Mapped[dict] = mapped_column(JSON)
    evaluators: Mapped[list] = mapped_column(JSON)
    concurrency: Mapped[int] = mapped_column(Integer, default=4)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|completed|failed|cancelled
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict | None] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_eval_experiments_project", "project_id", "created_at"),)


class EvalResult(Base):
    """One item's outcome in one experiment; the unique key is what makes a re-run skip done items."""

    __tablename__ = "eval_results"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(String(40))
    item_id: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    output: Mapped[Any | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)  # the target failed; scores are then empty
    scores: Mapped[dict] = mapped_column(JSON)  # evaluator name -> {"value", "passed", "reason", "error"}
    passed: Mapped[int | None] = mapped_column(Integer)  # 1 when every evaluator passed, 0 otherwise
    latency_ms: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[float | None] = mapped_column(Float)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    human_label: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("experiment_id", "item_id", name="uq_eval_results_experiment_item"),
                      Index("ix_eval_results_experiment", "experiment_id", "position"))


class OnlineRule(Base):
    """Score a sample of production generations with chosen evaluators, as they arrive."""

    __tablename__ = "eval_online_rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    evaluators: Mapped[list] = mapped_column(JSON)
    sample_rate: Mapped[float] = mapped_column(Float, default=0.1)
    model: Mapped[str | None] = mapped_column(String(200))  # only spans of this model; None: all
    enabled: Mapped[int] = mapped_column(Integer, default=1)
    cursor: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # spans up to here were considered
    scored: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_eval_online_rules_project_name"),)


class OnlineScore(Base):
    __tablename__ = "eval_online_scores"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[str] = mapped_column(String(64))
    span_id: Mapped[str] = mapped_column(String(32))
    trace_id: Mapped[str] = mapped_column(String(32))
    evaluator: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    span_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_eval_online_scores_rule_time", "rule_id", "span_time"),
                      UniqueConstraint("rule_id", "span_id", "evaluator", name="uq_eval_online_scores"))
