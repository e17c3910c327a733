"""Observability: search indexes on spans and traces (incl. full-text), scores, drift history and alerts.

Full-text search over span inputs and outputs is a contentless FTS5 table kept by triggers on SQLite
(`detail=none`: word lookups only, which is all the search needs, at a fraction of the write cost)
and a GIN index over a stored generated `tsvector` column on PostgreSQL; both match whole words. Indexes on
columns that are usually empty (session, user, key) are partial, so spans without them cost nothing.

Revision ID: 0004_observe
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_observe"
down_revision = "0001_foundation"
branch_labels = ("observe",)
depends_on = None

TZ = sa.DateTime(timezone=True)
PG_TSVECTOR = "to_tsvector('simple'::regconfig, coalesce(input::text, '') || ' ' || coalesce(output::text, ''))"


def _body(row: str) -> str:
    return f"coalesce({row}.input, '') || ' ' || coalesce({row}.output, '')"


def _partial(column: str) -> dict[str, object]:
    where = sa.text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


def upgrade() -> None:
    op.create_table(
        "scores",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(32)),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("data_type", sa.String(16), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("string_value", sa.String(200)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("author_key", sa.String(64)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("metadata", sa.JSON),
    )
    op.create_index("ix_scores_project_created", "scores", ["project_id", "created_at"])
    op.create_index("ix_scores_trace", "scores", ["trace_id"])
    op.create_index("ix_scores_project_name_created", "scores", ["project_id", "name", "created_at"])
    op.create_table(
        "drift_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("prompt", sa.String(200)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("reference_start", TZ, nullable=False),
        sa.Column("reference_end", TZ, nullable=False),
        sa.Column("current_start", TZ, nullable=False),
        sa.Column("current_end", TZ, nullable=False),
        sa.Column("n_reference", sa.Integer, nullable=False),
        sa.Column("n_current", sa.Integer, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("p_value", sa.Float),
        sa.Column("alert", sa.Boolean, nullable=False),
        sa.Column("metrics", sa.JSON),
    )
    op.create_index("ix_drift_runs_project_model_created", "drift_runs", ["project_id", "model", "created_at"])
    op.create_table(
        "drift_alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("prompt", sa.String(200)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("webhook_status", sa.String(200)),
    )
    op.create_index("ix_drift_alerts_project_created", "drift_alerts", ["project_id", "created_at"])
    from shipyard.observe import rollups

    for table in ("span_rollups", "span_rollups_hourly"):
        op.create_table(
            table,
            sa.Column("project_id", sa.String(64), primary_key=True),
            sa.Column("start", TZ, primary_key=True),
            sa.Column("model", sa.String(200), primary_key=True),
            *[sa.Column(name, sa.BigInteger if "tokens" in name else sa.Float
                        if name in ("cost", "latency_sum", "ttft_sum") else sa.Integer,
                        nullable=False, server_default="0")
              for name in rollups.SUMS],
        )
        op.create_index(f"ix_{table}_start", table, ["start"])  # retention
    rollups.rebuild(op.get_bind())  # spans recorded before this migration count too

    # Search: every list filter leads with the project and ends with time, so pages are index range scans.
    op.create_index("ix_spans_project_status_start", "spans", ["project_id", "status", "start_time"])
    op.create_index("ix_spans_project_model_start", "spans", ["project_id", "model", "start_time"])
    op.create_index("ix_spans_project_key_start", "spans", ["project_id", "key_id", "start_time"],
                    **_partial("key_id"))
    op.create_index("ix_spans_session", "spans", ["session_id"], **_partial("session_id"))
    op.create_index("ix_spans_user", "spans", ["user_id"], **_partial("user_id"))
    op.create_index("ix_traces_project_status_start", "traces", ["project_id", "status", "start_time"])
    op.create_index("ix_traces_start", "traces", ["start_time"])  # retention deletes by age alone

    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE spans_fts USING fts5(body, content='', detail=none, columnsize=0)")
        op.execute("CREATE TRIGGER spans_fts_ai AFTER INSERT ON spans BEGIN "
                   f"INSERT INTO spans_fts(rowid, body) VALUES (new.rowid, {_body('new')}); END")
        op.execute("CREATE TRIGGER spans_fts_ad AFTER DELETE ON spans BEGIN "
                   f"INSERT INTO spans_fts(spans_fts, rowid, body) VALUES ('delete', old.rowid, {_body('old')}); END")
        op.execute(f"INSERT INTO spans_fts(rowid, body) SELECT rowid, {_body('spans')} FROM spans")
    else:
        # A stored column, not an expression index: probing a span costs no re-parse of its JSON, and
        # ANALYZE gathers word frequencies, so the planner knows a rare word from a common one.
        op.execute(f"ALTER TABLE spans ADD COLUMN search tsvector GENERATED ALWAYS AS ({PG_TSVECTOR}) STORED")
        op.execute("CREATE INDEX ix_spans_search ON spans USING gin (search)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS spans_fts_ai")
        op.execute("DROP TRIGGER IF EXISTS spans_fts_ad")
        op.execute("DROP TABLE IF EXISTS spans_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_spans_search")
        op.execute("ALTER TABLE spans DROP COLUMN IF EXISTS search")
    for name, table in [("ix_spans_project_status_start", "spans"), ("ix_spans_project_model_start", "spans"),
                        ("ix_spans_project_key_start", "spans"), ("ix_spans_session", "spans"),
                        ("ix_spans_user", "spans"), ("ix_traces_project_status_start", "traces"),
                        ("ix_traces_start", "traces")]:
        op.drop_index(name, table_name=table)
    op.drop_table("span_rollups_hourly")
    op.drop_table("span_rollups")
    op.drop_table("drift_alerts")
    op.drop_table("drift_runs")
    op.drop_table("scores")
