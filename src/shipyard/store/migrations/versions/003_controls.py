"""Gateway controls: projects, API keys, audit log, prices, deployments, control versions; request cost.

Revision ID: 0003_controls
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_controls"
down_revision = "0001_foundation"
branch_labels = ("controls",)
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("rpm", sa.Integer), sa.Column("tpm", sa.Integer), sa.Column("max_concurrent", sa.Integer),
        sa.Column("budget_daily", sa.Float), sa.Column("budget_monthly", sa.Float),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(64), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("models", sa.JSON),
        sa.Column("expires_at", TZ), sa.Column("revoked_at", TZ),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(32)),
        sa.Column("rpm", sa.Integer), sa.Column("tpm", sa.Integer), sa.Column("max_concurrent", sa.Integer),
        sa.Column("budget_daily", sa.Float), sa.Column("budget_monthly", sa.Float),
        sa.Column("semantic_cache", sa.Boolean, nullable=False),
    )
    op.create_index("ix_api_keys_project", "api_keys", ["project_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor_key_id", sa.String(32)), sa.Column("actor_project_id", sa.String(64)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(64), nullable=False),
        sa.Column("target_id", sa.String(200)),
        sa.Column("project_id", sa.String(64)),
        sa.Column("detail", sa.JSON),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "prices",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("input", sa.Float, nullable=False),
        sa.Column("output", sa.Float, nullable=False),
        sa.Column("cached_input", sa.Float),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "control_versions",
        sa.Column("topic", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("note", sa.Text),
    )


def downgrade() -> None:
    for table in ("control_versions", "deployments", "prices", "audit_log", "api_keys", "projects"):
        op.drop_table(table)
