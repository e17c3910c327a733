"""Response caching: exact (a hash of the normalized request) and semantic (a similar enough prompt).

The exact key covers the model, the messages and every parameter that changes the output; stream
flags, `user` and metadata do not count, so a streamed request is served from a cached non-streamed
answer and the other way round. The semantic cache is opt-in per model (`cache_semantic_models`) or per
key; it embeds the prompt with the local embedding model and answers from the most similar earlier
prompt of the same model and parameters when the cosine similarity reaches `cache_similarity`.

Stores: `memory` (a bounded LRU), `sqlite` (the same LRU, persisted to `<data_dir>/cache.sqlite` from a
background thread and loaded at start, the default), or `redis` (shared by replicas, the default when
`SHIPYARD_REDIS_URL` is set). Lookups never wait on a disk; semantic vectors live in memory in every mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import orjson

log = logging.getLogger(__name__)

# Parameters that change what a model answers; everything else (stream, user, metadata) does not.
OUTPUT_PARAMS = ("model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "seed",
                 "stop", "tools", "tool_choice", "response_format", "presence_penalty", "frequency_penalty",
                 "logit_bias", "logprobs", "top_logprobs", "parallel_tool_calls", "reasoning_effort")


def exact_key(body: dict[str, Any]) -> str:
    picked = {k: body[k] for k in OUTPUT_PARAMS if body.get(k) is not None}
    return hashlib.sha256(orjson.dumps(picked, option=orjson.OPT_SORT_KEYS)).hexdigest()


def partition_key(body: dict[str, Any]) -> str:
    picked = {k: body[k] for k in OUTPUT_PARAMS if k != "messages" and body.get(k) is not None}
    return hashlib.sha256(orjson.dumps(picked, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def prompt_text(messages: list[dict[str, Any]]) -> str:
    parts = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        parts.append(f"{m.get('role')}: {content or ''}")
    return "\n".join(parts)


class MemoryStore:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> dict[str, Any] | None:
        item = self.data.get(key)
        if item is None:
            return None
        if item[0] < time.time():
            self.data.pop(key, None)
            return None
        self.data.move_to_end(key)
        return orjson.loads(item[1])

    def _keep(self, key: str, expires: float, raw: bytes) -> None:
        self.data[key] = (expires, raw)
        self.data.move_to_end(key)
        while len(self.data) > self.max_entries:
            self.data.popitem(last=False)

    async def put(self, key: str, answer: dict[str, Any], ttl: float) -> None:
        self._keep(key, time.time() + ttl, orjson.dumps(answer))

    async def load_semantic(self) -> list[tuple[str, str, bytes, float]]:
        return []

    def put_semantic(self, partition: str, key: str, vector: np.ndarray, expires: float) -> None:
        """Memory only: the index in `SemanticIndex` is the whole story."""

    async def aclose(self) -> None:
        """Nothing to release."""


class SqliteStore(MemoryStore):
    """The LRU above, written through to a SQLite file by one background thread, reloaded at start."""

    def __init__(self, max_entries: int, path: Path) -> None:
        super().__init__(max_entries)
        self.path = path
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="shipyard-cache")
        self.lock = threading.Lock()
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, expires REAL, answer BLOB)")
            db.execute("CREATE TABLE IF NOT EXISTS semantic (key TEXT PRIMARY KEY, part TEXT, vector BLOB,"
                       " expires REAL)")
            db.execute("DELETE FROM cache WHERE expires < ?", (time.time(),))
            db.execute("DELETE FROM semantic WHERE expires < ?", (time.time(),))
            rows = db.execute("SELECT key, expires, answer FROM cache ORDER BY expires DESC LIMIT ?",
                              (max_entries,)).fetchall()
        for key, expires, raw in reversed(rows):
            self._keep(key, expires, bytes(raw))

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        try:
            with self.lock, self._connect() as db:
                db.execute(sql, args)
        except sqlite3.Error:
            log.warning("cache write to %s failed", self.path, exc_info=True)

    async def put(self, key: str, answer: dict[str, Any], ttl: float) -> None:
        expires, raw = time.time() + ttl, orjson.dumps(answer)
        self._keep(key, expires, raw)
        self.pool.submit(self._write, "INSERT OR REPLACE INTO cache VALUES (?, ?, ?)", (key, expires, raw))

    async def load_semantic(self) -> list[tuple[str, str, bytes, float]]:
        def read() -> list[tuple[str, str, bytes, float]]:
            with self._connect() as db:
                return db.execute("SELECT part, key, vector, expires FROM semantic WHERE expires >= ?",
                                  (time.time(),)).fetchall()

        return await asyncio.to_thread(read)

    def put_semantic(self, partition: str, key: str, vector: np.ndarray, expires: float) -> None:
        self.pool.submit(self._write, "INSERT OR REPLACE INTO semantic VALUES (?, ?, ?, ?)",
                         (key, partition, vector.astype(np.float32).tobytes(), expires))

    async def aclose(self) -> None:
        await asyncio.to_thread(self.pool.shutdown, True)


class RedisStore:
    """Shared by every replica; semantic vectors are also kept in a Redis list to rebuild the index."""

    def __init__(self, redis: Any, prefix: str, max_entries: int) -> None:
        self.redis = redis
        self.prefix = prefix + "cache:"
        self.max_entries = max_entries
        self._pending: set[asyncio.Task[Any]] = set()

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.prefix + key)
        return None if raw is None else orjson.loads(raw)

    async def put(self, key: str, answer: dict[str, Any], ttl: float) -> None:
        await self.redis.set(self.prefix + key, orjson.dumps(answer), px=int(ttl * 1000))

    def put_semantic(self, partition: str, key: str, vector: np.ndarray, expires: float) -> None:
        item = orjson.dumps({"p": partition, "k": key, "v": vector.astype(np.float32).tobytes().hex(), "e": expires})

        async def push() -> None:
            try:
                name = self.prefix + "semantic"
                await self.redis.rpush(name, item)
                await self.redis.ltrim(name, -self.max_entries, -1)
            except Exception:
                log.warning("could not store a semantic cache entry in Redis", exc_info=True)

        task = asyncio.get_running_loop().create_task(push())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def load_semantic(self) -> list[tuple[str, str, bytes, float]]:
        rows = []
        now = time.time()
        for raw in await self.redis.lrange(self.prefix + "semantic", 0, -1):
            item = orjson.loads(raw)
            if item["e"] >= now:
                rows.append((item["p"], item["k"], bytes.fromhex(item["v"]), item["e"]))
        return rows

    async def aclose(self) -> None:
        """The Redis client belongs to the controls bus."""


class SemanticIndex:
    """Normalized prompt embeddings per partition (model + parameters); a dot product finds the nearest."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.parts: dict[str, tuple[np.ndarray, list[str], list[float]]] = {}

    def add(self, partition: str, key: str, vector: np.ndarray, expires: float) -> None:
        matrix, keys, expiry = self.parts.get(partition, (np.zeros((0, vector.shape[0]), np.float32), [], []))
        if key in keys:
            return
        matrix = np.vstack([matrix, vector[None, :]])[-self.max_entries:]
        keys, expiry = (keys + [key])[-self.max_entries:], (expiry + [expires])[-self.max_entries:]
        self.parts[partition] = (matrix, keys, expiry)

    def search(self, partition: str, vector: np.ndarray) -> tuple[str, float] | None:
        found = self.parts.get(partition)
        if found is None or not found[1]:
            return None
        matrix, keys, expiry = found
        sims = matrix @ vector
        now = time.time()
        for i in np.argsort(-sims)[:8]:
            if expiry[i] >= now:
                return keys[i], float(sims[i])
        return None
