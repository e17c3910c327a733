"""Vector tests run on both stores: SQLite with the embedded hnswlib index, PostgreSQL with pgvector.

The embedding model is loaded once per session (a real all-MiniLM-L6-v2) and shared by the
platforms each test builds on its own fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shipyard.config import Settings
from shipyard.gateway.core import Gateway
from shipyard.gateway.registry import ModelRegistry
from shipyard.platform import Platform
from shipyard.vectors import get_service
from shipyard.vectors.service import VectorService

TOPICS = {
    "cooking": [
        "Simmer the tomato sauce with garlic and basil for twenty minutes.",
        "Knead the bread dough until it is smooth, then let it rise for an hour.",
        "Roast the chicken at 200 degrees and baste it with butter.",
        "Whisk eggs and sugar before folding in the flour for a sponge cake.",
        "Fry the onions slowly in olive oil until they caramelize.",
        "Season the soup with salt, pepper and a little lemon juice.",
    ],
    "databases": [
        "PostgreSQL uses write-ahead logging to make transactions durable.",
        "An index on the customer column makes the query planner choose an index scan.",
        "SQLite stores the whole database in a single file on disk.",
        "Vacuum reclaims storage occupied by dead tuples in PostgreSQL tables.",
        "A foreign key constraint keeps rows in two tables consistent.",
        "Replication streams the write-ahead log to a standby database server.",
    ],
}


def topic_documents() -> list[dict[str, object]]:
    return [{"id": f"{topic}-{i}", "text": text, "metadata": {"topic": topic, "n": i, "even": i % 2 == 0}}
            for topic, texts in TOPICS.items() for i, text in enumerate(texts)]


@pytest.fixture(scope="session")
def shared_registry() -> Iterator[ModelRegistry]:
    registry = ModelRegistry(Settings())
    yield registry
    for provider in registry.providers.values():
        executor = getattr(provider, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


@pytest.fixture(params=["sqlite", "postgres"])
async def platform(request: pytest.FixtureRequest, tmp_path: Path, shared_registry: ModelRegistry,
                   ) -> AsyncIterator[Platform]:
    url = None
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    settings = Settings(data_dir=tmp_path, database_url=url, vector_index_save_interval=0.0)
    p = Platform.build(settings)
    if url:
        with p.store.engine.begin() as conn:  # a clean schema per test on the shared database
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    p.registry = shared_registry
    p.gateway = Gateway(p)
    await p.start()
    yield p
    p.registry = ModelRegistry(Settings(include_bundled_models=False))  # the shared one outlives this platform
    await p.stop()


@pytest.fixture
def vectors(platform: Platform) -> VectorService:
    return get_service(platform)


@pytest.fixture
async def topics(vectors: VectorService) -> VectorService:
    await vectors.create("topics")
    await vectors.upsert("topics", topic_documents())
    return vectors
