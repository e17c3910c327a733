"""Guardrails: per-project, per-key and per-model scanner policies.

Revision ID: 0008_guard
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_guard"
down_revision = "0001_foundation"
branch_labels = ("guard",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guard_policies",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ux_guard_policies_scope", "guard_policies", ["project_id", "scope", "target"], unique=True)


def downgrade() -> None:
    op.drop_table("guard_policies")
