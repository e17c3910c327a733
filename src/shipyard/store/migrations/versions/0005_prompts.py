"""Prompt and chain registry (versions, labels) and chain runs.

Revision ID: 0005_prompts
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_prompts"
down_revision = "0001_foundation"
branch_labels = ("prompts",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_versions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("author", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ux_registry_versions", "registry_versions", ["project_id", "kind", "name", "version"],
                    unique=True)
    op.create_table(
        "registry_labels",
        sa.Column("project_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("label", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "chain_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("chain", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("inputs", sa.JSON),
        sa.Column("steps", sa.JSON),
        sa.Column("output", sa.JSON),
        sa.Column("failed_step", sa.String(200)),
        sa.Column("error_type", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("trace_id", sa.String(32)),
        sa.Column("key_id", sa.String(64)),
        sa.Column("latency_ms", sa.Float),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_chain_runs_project_chain", "chain_runs", ["project_id", "chain", "created_at"])


def downgrade() -> None:
    op.drop_table("chain_runs")
    op.drop_table("registry_labels")
    op.drop_table("registry_versions")
