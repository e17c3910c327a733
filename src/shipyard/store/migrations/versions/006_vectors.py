"""Vectors: collections, documents with embeddings, keyword search.

On PostgreSQL this needs the pgvector extension (scripts/pgvector installs it) and adds a generated
tsvector column with a GIN index; on SQLite an FTS5 table kept in step by triggers. Per-collection
HNSW indexes on PostgreSQL are created with each collection, since their dimension differs.

Revision ID: 006_vectors
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "006_vectors"
down_revision = "0001_foundation"
branch_labels = ("vectors",)
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        available = bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").scalar()
        if not available:
            raise RuntimeError("PostgreSQL lacks the pgvector extension that Shipyard's vector store needs; "
                               "install it with scripts/pgvector (see docs/vectors.md)")
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "vector_collections",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("dimensions", sa.Integer, nullable=False),
        sa.Column("distance", sa.String(16), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("fields", sa.JSON),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_vector_collections_project_name"),
    )
    pk = sa.BigInteger().with_variant(sa.Integer, "sqlite")
    op.create_table(
        "vector_documents",
        sa.Column("pk", pk, primary_key=True, autoincrement=True),
        sa.Column("collection_id", sa.String(32), nullable=False),
        sa.Column("doc_id", sa.String(512), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("metadata", sa.JSON),
        sa.Column("content_hash", sa.String(64), nullable=False),
        *([] if postgres else [sa.Column("embedding", sa.LargeBinary, nullable=False)]),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("collection_id", "doc_id", name="uq_vector_documents_collection_doc"),
        sqlite_autoincrement=True,  # keys are never reused: they label points in the ANN index
    )
    op.create_index("ix_vector_documents_hash", "vector_documents", ["collection_id", "content_hash"])
    if postgres:
        op.execute("ALTER TABLE vector_documents ADD COLUMN embedding vector NOT NULL")
        op.execute("ALTER TABLE vector_documents ADD COLUMN tsv tsvector "
                   "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED")
        op.execute("CREATE INDEX ix_vector_documents_tsv ON vector_documents USING gin (tsv)")
    else:
        op.execute("CREATE VIRTUAL TABLE vector_documents_fts USING fts5("
                   "text, content='vector_documents', content_rowid='pk', tokenize='porter unicode61')")
        op.execute("CREATE TRIGGER vector_documents_ai AFTER INSERT ON vector_documents BEGIN "
                   "INSERT INTO vector_documents_fts(rowid, text) VALUES (new.pk, new.text); END")
        op.execute("CREATE TRIGGER vector_documents_ad AFTER DELETE ON vector_documents BEGIN "
                   "INSERT INTO vector_documents_fts(vector_documents_fts, rowid, text) "
                   "VALUES ('delete', old.pk, old.text); END")
        op.execute("CREATE TRIGGER vector_documents_au AFTER UPDATE OF text ON vector_documents BEGIN "
                   "INSERT INTO vector_documents_fts(vector_documents_fts, rowid, text) "
                   "VALUES ('delete', old.pk, old.text); "
                   "INSERT INTO vector_documents_fts(rowid, text) VALUES (new.pk, new.text); END")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.execute("DROP TRIGGER IF EXISTS vector_documents_au")
        op.execute("DROP TRIGGER IF EXISTS vector_documents_ad")
        op.execute("DROP TRIGGER IF EXISTS vector_documents_ai")
        op.execute("DROP TABLE IF EXISTS vector_documents_fts")
    op.drop_table("vector_documents")
    op.drop_table("vector_collections")
