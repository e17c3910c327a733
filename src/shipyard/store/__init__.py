"""The store: one engine and session factory per process, SQLite by default, PostgreSQL by URL."""

from shipyard.store.db import Store

__all__ = ["Store"]
