"""Fine-tuning: files, jobs (the queue), events, checkpoints, fine-tuned models.

Revision ID: 0009_finetune
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_finetune"
down_revision = "0001_foundation"
branch_labels = ("finetune",)
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        _ts("created_at", False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_details", sa.Text),
        sa.Column("report", sa.JSON),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_files_project_created", "files", ["project_id", "created_at"])
    op.create_table(
        "fine_tuning_jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        _ts("created_at", False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("base_ref", sa.Text, nullable=False),
        sa.Column("training_file", sa.String(40), nullable=False),
        sa.Column("validation_file", sa.String(40)),
        sa.Column("hyperparameters", sa.JSON, nullable=False),
        sa.Column("suffix", sa.String(64)),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("metadata", sa.JSON),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.JSON),
        sa.Column("fine_tuned_model", sa.String(300)),
        _ts("started_at"),
        _ts("finished_at"),
        sa.Column("trained_tokens", sa.BigInteger),
        sa.Column("total_steps", sa.Integer),
        sa.Column("current_step", sa.Integer, nullable=False),
        sa.Column("metrics", sa.JSON),
        sa.Column("worker_id", sa.String(100)),
        sa.Column("lease_until", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False),
    )
    op.create_index("ix_ft_jobs_status", "fine_tuning_jobs", ["status"])
    op.create_index("ix_ft_jobs_project_created", "fine_tuning_jobs", ["project_id", "created_at"])
    op.create_table(
        "fine_tuning_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(40), sa.ForeignKey("fine_tuning_jobs.id", ondelete="CASCADE"), nullable=False),
        _ts("created_at", False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("data", sa.JSON),
    )
    op.create_index("ix_ft_events_job_seq", "fine_tuning_events", ["job_id", "seq"])
    op.create_table(
        "fine_tuning_checkpoints",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("job_id", sa.String(40), sa.ForeignKey("fine_tuning_jobs.id", ondelete="CASCADE"), nullable=False),
        _ts("created_at", False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("metrics", sa.JSON),
    )
    op.create_index("ix_ft_ckpt_job_step", "fine_tuning_checkpoints", ["job_id", "step"])
    op.create_table(
        "fine_tuned_models",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        _ts("created_at", False),
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("base_model", sa.String(200), nullable=False),
        sa.Column("base_ref", sa.Text, nullable=False),
        sa.Column("adapter_path", sa.Text, nullable=False),
        sa.Column("gguf_lora_path", sa.Text),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("evaluation", sa.JSON),
        sa.Column("active", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    for table in ("fine_tuned_models", "fine_tuning_checkpoints", "fine_tuning_events", "fine_tuning_jobs", "files"):
        op.drop_table(table)
