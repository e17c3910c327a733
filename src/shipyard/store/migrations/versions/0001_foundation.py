"""Foundation: traces and spans (every gateway call is a span, so this is the request log too).

Revision ID: 0001_foundation
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "traces",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True)),
        sa.Column("latency_ms", sa.Float),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input", sa.JSON),
        sa.Column("output", sa.JSON),
        sa.Column("session_id", sa.String(200)),
        sa.Column("user_id", sa.String(200)),
        sa.Column("metadata", sa.JSON),
    )
    op.create_index("ix_traces_project_start", "traces", ["project_id", "start_time"])
    op.create_index("ix_traces_session", "traces", ["session_id"])
    op.create_index("ix_traces_user", "traces", ["user_id"])
    op.create_table(
        "spans",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("parent_id", sa.String(32)),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True)),
        sa.Column("latency_ms", sa.Float),
        sa.Column("ttft_ms", sa.Float),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error_type", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("model", sa.String(200)),
        sa.Column("provider", sa.String(64)),
        sa.Column("stream", sa.Boolean),
        sa.Column("input", sa.JSON),
        sa.Column("output", sa.JSON),
        sa.Column("prompt_tokens", sa.Integer),
        sa.Column("completion_tokens", sa.Integer),
        sa.Column("cached_tokens", sa.Integer),
        sa.Column("cost", sa.Float),
        sa.Column("key_id", sa.String(64)),
        sa.Column("session_id", sa.String(200)),
        sa.Column("user_id", sa.String(200)),
        sa.Column("metadata", sa.JSON),
    )
    op.create_index("ix_spans_project_start", "spans", ["project_id", "start_time"])
    op.create_index("ix_spans_trace", "spans", ["trace_id"])
    op.create_index("ix_spans_model_start", "spans", ["model", "start_time"])
    op.create_index("ix_spans_kind_start", "spans", ["kind", "start_time"])


def downgrade() -> None:
    op.drop_table("spans")
    op.drop_table("traces")
