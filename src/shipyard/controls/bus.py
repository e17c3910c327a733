"""Keeping every replica's in-memory controls in step with the database, without a query per request.

A change (a key revoked, a deployment promoted) is written to the database together with a bump of
its topic's counter in `control_versions`. The replica that made it reloads at once; the others hear
of it through Redis pub/sub when `SHIPYARD_REDIS_URL` is set (milliseconds), and in any case by
polling `control_versions` every `control_poll_interval` seconds from a background task. Messages may
carry a hint applied before the reload (e.g. the hash of a revoked key, dropped immediately).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shipyard.controls.tables import ControlVersion

if TYPE_CHECKING:
    from shipyard.platform import Platform

log = logging.getLogger(__name__)
Reload = Callable[[], None]
Hint = Callable[[dict[str, Any]], None]


class ControlBus:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.channel = self.settings.redis_prefix + "controls"
        self.reloads: dict[str, Reload] = {}
        self.hints: dict[str, Hint] = {}
        self.versions: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._redis_sync: Any = None
        self._redis: Any = None

    # -- wiring ----------------------------------------------------------------------------------------
    def register(self, topic: str, reload: Reload, hint: Hint | None = None) -> None:
        self.reloads[topic] = reload
        if hint is not None:
            self.hints[topic] = hint

    def redis(self) -> Any:
        """The asyncio Redis client shared by the controls (limits, spend, cache), or None."""
        if self._redis is None and self.settings.redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(self.settings.redis_url, max_connections=256)
        return self._redis

    def start(self) -> None:
        self.versions = self._read_versions()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._poll(), name="shipyard-controls-poll"))
        if self.settings.redis_url:
            self._tasks.append(loop.create_task(self._listen(), name="shipyard-controls-listen"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self._redis is not None:
            await self._redis.aclose()
        if self._redis_sync is not None:
            self._redis_sync.close()

    # -- making a change -------------------------------------------------------------------------------
    @staticmethod
    def bump(session: Session, topic: str) -> None:
        """Count a change of `topic` inside the caller's transaction."""
        done = session.execute(update(ControlVersion).where(ControlVersion.topic == topic)
                               .values(version=ControlVersion.version + 1))
        if not done.rowcount:  # type: ignore[attr-defined]
            session.add(ControlVersion(topic=topic, version=1))

    def changed(self, topic: str, hint: dict[str, Any] | None = None) -> None:
        """After the commit: apply here at once, then tell the other replicas."""
        if hint and topic in self.hints:
            self.hints[topic](hint)
        self._reload(topic)
        if self.settings.redis_url:
            try:
                if self._redis_sync is None:
                    import redis

                    self._redis_sync = redis.Redis.from_url(self.settings.redis_url)
                self._redis_sync.publish(self.channel, orjson.dumps({"topic": topic, "hint": hint}))
            except Exception:
                log.warning("could not publish a controls change; other replicas will poll it", exc_info=True)

    # -- hearing of changes ------------------------------------------------------------------------------
    def _reload(self, topic: str) -> None:
        reload = self.reloads.get(topic)
        if reload is not None:
            try:
                reload()
            except Exception:
                log.exception("reloading %s failed; keeping the previous copy", topic)

    def _read_versions(self) -> dict[str, int]:
        with self.platform.store.session() as session:
            return {t: v for t, v in session.execute(select(ControlVersion.topic, ControlVersion.version))}

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.control_poll_interval)
            try:
                versions = await asyncio.to_thread(self._read_versions)
            except Exception:
                log.warning("could not read control versions", exc_info=True)
                continue
            for topic, version in versions.items():
                if self.versions.get(topic) != version:
                    self.versions[topic] = version
                    await asyncio.to_thread(self._reload, topic)

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self.redis().pubsub()
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    data = orjson.loads(message["data"])
                    topic, hint = data.get("topic"), data.get("hint")
                    if hint and topic in self.hints:
                        self.hints[topic](hint)
                    await asyncio.to_thread(self._reload, topic)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("controls pub/sub dropped; reconnecting", exc_info=True)
                await asyncio.sleep(1.0)
