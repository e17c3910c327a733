"""Collections and their documents.

The database is the source of truth for everything, vectors included: on SQLite the embedding is a
float32 blob and the approximate-nearest-neighbour index beside the database is a cache rebuilt from
it; on PostgreSQL it is a pgvector `vector` searched through a per-collection HNSW index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, UserDefinedType

from shipyard.store.tables import Base, utcnow


class PgVectorType(UserDefinedType):
    """pgvector's `vector`; the column has no fixed dimension (collections differ), casts to one do."""

    cache_ok = True

    def __init__(self, dimensions: int | None = None) -> None:
        self.dimensions = dimensions

    def get_col_spec(self, **_kw: Any) -> str:
        return "vector" if self.dimensions is None else f"vector({self.dimensions})"


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form; sent as an untyped literal and cast in SQL."""
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


def parse_vector(value: Any) -> np.ndarray:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return np.frombuffer(bytes(value), dtype=np.float32)
    if isinstance(value, str):
        return np.array(value.strip("[]").split(","), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


class Embedding(TypeDecorator):
    """A float32 vector: a blob on SQLite, pgvector on PostgreSQL; numpy arrays on the Python side."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(PgVectorType())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        array = np.asarray(value, dtype=np.float32)
        return vector_literal(array) if dialect.name == "postgresql" else array.tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else parse_vector(value)


class VectorCollection(Base):
    __tablename__ = "vector_collections"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))  # None: vectors are brought by the caller
    dimensions: Mapped[int] = mapped_column(Integer)
    distance: Mapped[str] = mapped_column(String(16))  # cosine | l2 | ip
    description: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[list | None] = mapped_column(JSON)  # metadata keys seen, so filters can be checked
    version: Mapped[int] = mapped_column(Integer, default=0)  # bumped by every write: index freshness
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_vector_collections_project_name"),)


class VectorDocument(Base):
    __tablename__ = "vector_documents"

    pk: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    collection_id: Mapped[str] = mapped_column(String(32))
    doc_id: Mapped[str] = mapped_column(String(512))
    text: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict | None] = mapped_column("metadata", JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    embedding: Mapped[Any] = mapped_column(Embedding)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("collection_id", "doc_id", name="uq_vector_documents_collection_doc"),
        Index("ix_vector_documents_hash", "collection_id", "content_hash"),
        {"sqlite_autoincrement": True},
    )
