"""Evaluation: datasets and their versioned items, experiments, per-item results, online rules and scores.

Revision ID: 0007_evals
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_evals"
down_revision = "0001_foundation"
branch_labels = ("evals",)
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "eval_datasets",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("metadata", sa.JSON),
        _ts("created_at", False),
        _ts("updated_at", False),
        sa.UniqueConstraint("project_id", "name", name="uq_eval_datasets_project_name"),
    )
    op.create_table(
        "eval_dataset_items",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("dataset_id", sa.String(40), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("input", sa.JSON),
        sa.Column("expected", sa.JSON),
        sa.Column("context", sa.JSON),
        sa.Column("metadata", sa.JSON),
        sa.Column("source_trace_id", sa.String(32)),
        sa.Column("source_span_id", sa.String(32)),
        sa.Column("added_version", sa.Integer, nullable=False),
        sa.Column("removed_version", sa.Integer),
        _ts("created_at", False),
    )
    op.create_index("ix_eval_items_dataset", "eval_dataset_items", ["dataset_id", "position"])
    op.create_table(
        "eval_experiments",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("dataset_id", sa.String(40), nullable=False),
        sa.Column("dataset_version", sa.Integer, nullable=False),
        sa.Column("target", sa.JSON, nullable=False),
        sa.Column("evaluators", sa.JSON, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("summary", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("metadata", sa.JSON),
        _ts("created_at", False),
        _ts("started_at"),
        _ts("finished_at"),
    )
    op.create_index("ix_eval_experiments_project", "eval_experiments", ["project_id", "created_at"])
    op.create_table(
        "eval_results",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("experiment_id", sa.String(40), nullable=False),
        sa.Column("item_id", sa.String(40), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("output", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("passed", sa.Integer),
        sa.Column("latency_ms", sa.Float),
        sa.Column("prompt_tokens", sa.Integer),
        sa.Column("completion_tokens", sa.Integer),
        sa.Column("cost", sa.Float),
        sa.Column("trace_id", sa.String(32)),
        sa.Column("human_label", sa.Float),
        _ts("created_at", False),
        sa.UniqueConstraint("experiment_id", "item_id", name="uq_eval_results_experiment_item"),
    )
    op.create_index("ix_eval_results_experiment", "eval_results", ["experiment_id", "position"])
    op.create_table(
        "eval_online_rules",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("evaluators", sa.JSON, nullable=False),
        sa.Column("sample_rate", sa.Float, nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("enabled", sa.Integer, nullable=False),
        _ts("cursor"),
        sa.Column("scored", sa.Integer, nullable=False),
        _ts("created_at", False),
        sa.UniqueConstraint("project_id", "name", name="uq_eval_online_rules_project_name"),
    )
    op.create_table(
        "eval_online_scores",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("rule_id", sa.String(40), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("span_id", sa.String(32), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("evaluator", sa.String(200), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("passed", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.Column("error", sa.Text),
        _ts("span_time", False),
        _ts("created_at", False),
        sa.UniqueConstraint("rule_id", "span_id", "evaluator", name="uq_eval_online_scores"),
    )
    op.create_index("ix_eval_online_scores_rule_time", "eval_online_scores", ["rule_id", "span_time"])


def downgrade() -> None:
    for table in ("eval_online_scores", "eval_online_rules", "eval_results", "eval_experiments",
                  "eval_dataset_items", "eval_datasets"):
        op.drop_table(table)
