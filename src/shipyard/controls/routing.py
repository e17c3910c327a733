"""Routing: a public model name served by a deployment — versions of groups of models — with
strategies, retries with backoff, fallbacks, per-member timeouts and a circuit breaker.

`Router` is consulted by `ModelRegistry` for every model call. Names without a deployment go straight
to their provider, as before (plus `retries` from the settings). Deployments are read from the
database into memory and swapped whole when `controls.bus` reports a change, so a promote or a
rollback takes effect on every replica without a restart, and requests in flight finish on the
version they started with.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from shipyard.controls.tables import Deployment
from shipyard.errors import Overloaded, RateLimited, ShipyardError, UpstreamError, UpstreamTimeout
from shipyard.observe import tracing
from shipyard.observe.tracing import span
from shipyard.providers.base import Provider

if TYPE_CHECKING:
    from shipyard.gateway.context import CallContext
    from shipyard.platform import Platform

log = logging.getLogger(__name__)
T = Any
Op = Callable[[Provider, dict[str, Any]], Awaitable[Any]]


class Member(BaseModel):
    model: str  # a model the registry serves (a name from `models:` in shipyard.yaml)
    weight: float = Field(1.0, gt=0)
    timeout: float | None = Field(None, gt=0)  # seconds; for streams, until the first chunk


class Canary(BaseModel):
    version: str
    percent: float = Field(ge=0, le=100)


class DeploymentSpec(BaseModel):
    name: str
    strategy: Literal["weighted", "least-busy", "lowest-latency"] = "weighted"
    versions: dict[str, list[Member]] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)  # production, staging, ... -> version
    canary: Canary | None = None
    shadow: str | None = None  # a version that gets a copy of every call; its answers are only recorded
    fallbacks: list[str] = Field(default_factory=list)  # other model names, tried in order
    retries: int = Field(2, ge=0, le=10)
    backoff: float = Field(0.25, ge=0)
    breaker_failures: int | None = Field(None, ge=1)
    breaker_cooldown: float | None = Field(None, gt=0)
    history: list[str] = Field(default_factory=list)  # earlier production versions, newest last

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """`models: [...]` is a deployment with one version, `v1`, in production."""
        if isinstance(data, dict) and "models" in data:
            data = dict(data)
            models = [m if isinstance(m, dict) else {"model": m} for m in data.pop("models")]
            data.setdefault("versions", {})["v1"] = models
            data.setdefault("aliases", {}).setdefault("production", "v1")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> DeploymentSpec:
        if not self.versions:
            raise ValueError("a deployment needs at least one version")
        for version, members in self.versions.items():
            if not members:
                raise ValueError(f"version '{version}' has no models")
        refs = list(self.aliases.values()) + ([self.canary.version] if self.canary else [])
        refs += [self.shadow] if self.shadow else []
        for ref in refs:
            if ref not in self.versions:
                raise ValueError(f"unknown version '{ref}' (versions: {', '.join(self.versions)})")
        return self

    @property
    def production(self) -> str:
        return self.aliases.get("production") or next(iter(self.versions))


class Health:
    """What one member's recent calls say: load, latency, and the breaker's state."""

    __slots__ = ("ewma", "failures", "inflight", "open_until", "trial")

    def __init__(self) -> None:
        self.inflight = 0
        self.ewma: float | None = None
        self.failures = 0
        self.open_until = 0.0
        self.trial = False

    def available(self, now: float) -> bool:
        if not self.open_until:
            return True
        if now >= self.open_until and not self.trial:
            return True
        return False

    def ok(self, seconds: float) -> None:
        self.failures, self.open_until, self.trial = 0, 0.0, False
        self.ewma = seconds if self.ewma is None else 0.8 * self.ewma + 0.2 * seconds

    def fail(self, threshold: int, cooldown: float) -> None:
        self.failures += 1
        if self.trial or self.failures >= threshold:
            self.open_until = time.monotonic() + cooldown
        self.trial = False


def retryable(exc: BaseException) -> bool:
    """Worth another try elsewhere: upstream 429s and 5xx, timeouts, unreachable or resting upstreams."""
    if isinstance(exc, (UpstreamError, Overloaded)):
        return True
    return isinstance(exc, RateLimited) and "upstream_status" in exc.extra


class Router:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.registry = platform.registry
        self.deployments: dict[str, DeploymentSpec] = {}
        self.health: dict[str, Health] = {}
        self._shadows: set[asyncio.Task[Any]] = set()

    # -- configuration ---------------------------------------------------------------------------------
    def seed(self) -> None:
        """Deployments from shipyard.yaml go into the database once; from then on the database rules."""
        with self.platform.store.session() as session:
            have = set(session.scalars(select(Deployment.name)))
            for raw in self.settings.deployments:
                spec = DeploymentSpec.model_validate(raw)
                if spec.name not in have:
                    session.add(Deployment(name=spec.name, spec=spec.model_dump(), revision=1,
                                           updated_at=datetime.now(UTC)))

    def reload(self) -> None:
        with self.platform.store.session() as session:
            rows = list(session.scalars(select(Deployment)))
        found = {}
        for row in rows:
            try:
                found[row.name] = DeploymentSpec.model_validate(row.spec)
            except ValueError:
                log.exception("deployment %s in the database is invalid; ignored", row.name)
        self.deployments = found

    def lookup(self, name: str) -> tuple[DeploymentSpec | None, str | None]:
        """`name`, `name@alias` or `name@version` -> (deployment, version); (None, None) for plain models."""
        dep = self.deployments.get(name)
        if dep is not None:
            canary = dep.canary
            if canary is not None and canary.percent and random.random() * 100 < canary.percent:
                return dep, canary.version
            return dep, dep.production
        base, sep, ref = name.rpartition("@")
        if sep and (dep := self.deployments.get(base)) is not None:
            version = dep.aliases.get(ref, ref)
            if version in dep.versions:
                return dep, version
        return None, None

    def _health(self, model: str) -> Health:
        h = self.health.get(model)
        if h is None:
            h = self.health[model] = Health()
        return h

    def choose(self, dep: DeploymentSpec, members: list[Member], tried: set[str]) -> Member:
        now = time.monotonic()
        ready = [m for m in members if m.model not in tried and self._health(m.model).available(now)]
        if not ready:
            ready = [m for m in members if self._health(m.model).available(now)]
        if not ready:
            raise Overloaded(f"every model of deployment '{dep.name}' is resting after failures (circuit open)",
                             code="circuit_open")
        if len(ready) == 1:
            pick = ready[0]
        elif dep.strategy == "least-busy":
            low = min(self._health(m.model).inflight for m in ready)
            pick = random.choice([m for m in ready if self._health(m.model).inflight == low])
        elif dep.strategy == "lowest-latency":
            unknown = [m for m in ready if self._health(m.model).ewma is None]
            if unknown:
                pick = random.choice(unknown)
            elif random.random() < 0.05:  # keep measuring the others now and then
                pick = random.choice(ready)
            else:
                pick = min(ready, key=lambda m: self._health(m.model).ewma or 0.0)
        else:
            pick = random.choices(ready, weights=[m.weight for m in ready])[0]
        health = self._health(pick.model)
        if health.open_until:
            health.trial = True  # half-open: this call decides whether the breaker closes
        return pick

    # -- calls ---------------------------------------------------------------------------------------------
    async def call(self, ctx: CallContext, body: dict[str, Any], op: Op) -> Any:
        name = body["model"]
        dep, version = self.lookup(name) if self.deployments else (None, None)
        if dep is None:
            return await self._plain(ctx, body, name, op)
        try:
            result = await self._group(ctx, body, dep, version, op)  # type: ignore[arg-type]
        except ShipyardError as exc:
            if not dep.fallbacks or not retryable(exc):
                raise
            result = await self._fallback(ctx, body, dep, exc, op)
        if dep.shadow and ctx.endpoint == "chat.completions":
            self._start_shadow(ctx, dep, body)
        return result

    async def _fallback(self, ctx: CallContext, body: dict[str, Any], dep: DeploymentSpec, exc: ShipyardError,
                        op: Op) -> Any:
        for name in dep.fallbacks:
            ctx.extra["fallback"] = name
            fbody = {**body, "model": name}
            fdep, fversion = self.lookup(name)
            try:
                if fdep is None:
                    return await self._plain(ctx, fbody, name, op)
                return await self._group(ctx, fbody, fdep, fversion, op)  # type: ignore[arg-type]
            except ShipyardError as err:
                if not retryable(err):
                    raise
                exc = err
        raise exc

    async def _plain(self, ctx: CallContext, body: dict[str, Any], name: str, op: Op) -> Any:
        provider = self.registry.resolve(name)
        ctx.provider = provider.kind
        retries = self.settings.retries
        for attempt in range(retries + 1):
            try:
                return await op(provider, body)
            except ShipyardError as exc:
                if attempt >= retries or not retryable(exc):
                    raise
                await asyncio.sleep(self._backoff(self.settings.retry_backoff, attempt))
        raise AssertionError("unreachable")

    @staticmethod
    def _backoff(base: float, attempt: int) -> float:
        return base * (2 ** attempt) * (0.5 + random.random() / 2)

    async def _group(self, ctx: CallContext, body: dict[str, Any], dep: DeploymentSpec, version: str,
                     op: Op) -> Any:
        members = dep.versions[version]
        tried: set[str] = set()
        threshold = dep.breaker_failures or self.settings.breaker_failures
        cooldown = dep.breaker_cooldown or self.settings.breaker_cooldown
        last: ShipyardError | None = None
        for attempt in range(dep.retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff(dep.backoff, attempt - 1))
            try:
                member = self.choose(dep, members, tried)
            except Overloaded as exc:
                raise last or exc from None
            provider = self.registry.resolve(member.model)
            health = self._health(member.model)
            health.inflight += 1
            started = time.perf_counter()
            try:
                if member.timeout:
                    try:
                        result = await asyncio.wait_for(op(provider, body), member.timeout)
                    except TimeoutError:
                        raise UpstreamTimeout(f"'{member.model}' did not answer within {member.timeout:g}s") from None
                else:
                    result = await op(provider, body)
            except ShipyardError as exc:
                health.inflight -= 1
                if not retryable(exc):
                    health.trial = False
                    raise
                health.fail(threshold, cooldown)
                tried.add(member.model)
                last = exc
                continue
            except BaseException:
                health.inflight -= 1
                health.trial = False
                raise
            health.ok(time.perf_counter() - started)
            ctx.provider = provider.kind
            ctx.extra["deployment"] = f"{dep.name}@{version}"
            ctx.extra["served_by"] = member.model
            ctx.response_headers["x-shipyard-deployment"] = f"{dep.name}@{version}"
            ctx.response_headers["x-shipyard-served-by"] = member.model
            if isinstance(result, tuple):  # a stream: count it busy until it ends
                first, batches = result
                return first, _tracked(batches, health)
            health.inflight -= 1
            return result
        assert last is not None
        raise last

    # -- shadow traffic -----------------------------------------------------------------------------------
    def _start_shadow(self, ctx: CallContext, dep: DeploymentSpec, body: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._shadow(ctx.id, ctx, dep, body))
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    async def _shadow(self, of: str, ctx: CallContext, dep: DeploymentSpec, body: dict[str, Any]) -> None:
        """Call the shadow version with the same request and record its answer beside the real one: a
        generation span under the real call, never returned to the caller."""
        version = dep.shadow
        assert version is not None
        member = random.choice(dep.versions[version])
        shadow_body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        meta = {"shadow_of": of, "deployment": f"{dep.name}@{version}", "served_by": member.model}
        try:
            with span("generation", "chat.completions", trace_id=ctx.trace_id or tracing.new_trace_id(),
                      parent_id=of, project_id=ctx.principal.project_id, input=body.get("messages"),
                      metadata=meta, model=dep.name, key_id=ctx.principal.key_id) as s:
                provider = self.registry.resolve(member.model)
                s.update(provider=provider.kind)
                answer = await provider.chat(shadow_body)
                usage = answer.get("usage") or {}
                choice = (answer.get("choices") or [{}])[0]
                s.update(output=choice.get("message"), status_code=200, prompt_tokens=usage.get("prompt_tokens"),
                         completion_tokens=usage.get("completion_tokens"))
        except Exception:  # recorded on the span; a shadow never affects the caller
            log.debug("shadow call to %s failed", member.model, exc_info=True)

    async def aclose(self) -> None:
        for task in list(self._shadows):
            task.cancel()

    def describe(self) -> list[dict[str, Any]]:
        return [{"id": name, "object": "model", "created": 0, "owned_by": "deployment"} for name in self.deployments]


async def _tracked(batches: AsyncIterator[T], health: Health) -> AsyncIterator[T]:
    try:
        async for batch in batches:
            yield batch
    finally:
        health.inflight -= 1
        aclose = getattr(batches, "aclose", None)
        if aclose is not None:
            await aclose()
