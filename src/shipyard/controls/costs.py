"""Prices, spend and budgets.

A request's cost is computed in the stage's `finish()` from the price table (USD per million input,
output and cached input tokens), kept in memory and refreshed on change. Spend per key and per project
per day and per month is counted in memory, or in Redis when configured (so replicas share it); the
durable record is the `cost` column of each request row, written by the batched writer, from which the
in-memory counters are rebuilt at start. Budgets refuse requests once the period's spend reaches them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from shipyard.controls.keys import Limits
from shipyard.controls.tables import Price
from shipyard.errors import RateLimited
from shipyard.store.tables import Span

if TYPE_CHECKING:
    from shipyard.platform import Platform

log = logging.getLogger(__name__)

# USD per million tokens (input, output, cached input). Local models cost nothing; hosted ones at list price.
DEFAULT_PRICES: dict[str, tuple[float, float, float | None]] = {
    "smollm2": (0.0, 0.0, None),
    "all-minilm-l6-v2": (0.0, 0.0, None),
    "gpt-4o": (2.5, 10.0, 1.25),
    "gpt-4o-mini": (0.15, 0.6, 0.075),
    "gpt-4.1": (2.0, 8.0, 0.5),
    "gpt-4.1-mini": (0.4, 1.6, 0.1),
    "text-embedding-3-small": (0.02, 0.0, None),
    "text-embedding-3-large": (0.13, 0.0, None),
    "claude-sonnet-4-5": (3.0, 15.0, 0.3),
    "claude-haiku-4-5": (1.0, 5.0, 0.1),
    "claude-opus-4-1": (15.0, 75.0, 1.5),
}


class PriceTable:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.prices: dict[str, tuple[float, float, float | None]] = {}
        # public model name -> the upstream name its spec calls, to find a price by either
        self.upstream = {s.name: s.model for s in platform.settings.model_specs if s.model}

    def seed(self) -> None:
        with self.platform.store.session() as session:
            have = set(session.scalars(select(Price.model)))
            for model, (i, o, c) in DEFAULT_PRICES.items():
                if model not in have:
                    session.add(Price(model=model, input=i, output=o, cached_input=c))

    def reload(self) -> None:
        with self.platform.store.session() as session:
            self.prices = {p.model: (p.input, p.output, p.cached_input) for p in session.scalars(select(Price))}

    def price(self, model: str | None) -> tuple[float, float, float | None] | None:
        if model is None:
            return None
        found = self.prices.get(model)
        if found is None and model in self.upstream:
            found = self.prices.get(self.upstream[model])  # type: ignore[arg-type]
        return found

    def cost(self, model: str | None, prompt: int | None, completion: int | None, cached: int = 0) -> float | None:
        p = self.price(model)
        if p is None:
            return None
        inp, out, cached_price = p
        prompt, completion = prompt or 0, completion or 0
        cached = min(cached, prompt)
        rate_cached = inp if cached_price is None else cached_price
        return ((prompt - cached) * inp + cached * rate_cached + completion * out) / 1_000_000


def periods(now: datetime | None = None) -> tuple[str, str]:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%d"), now.strftime("%Y%m")


def until_reset(period: str, now: datetime | None = None) -> float:
    now = now or datetime.now(UTC)
    if period == "day":
        nxt = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        nxt = (now.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (nxt - now).total_seconds()


class Spend:
    """Spend counters: `(scope, id, 'd'|'m', period) -> USD`, in memory or in Redis."""

    def __init__(self, platform: Platform, redis: Any = None) -> None:
        self.platform = platform
        self.redis = redis
        self.prefix = platform.settings.redis_prefix + "spend:"
        self.local: dict[tuple[str, str, str, str], float] = {}
        self._pending: set[asyncio.Task[Any]] = set()

    def load(self) -> None:
        """Rebuild this month's counters from the request log (memory mode; Redis keeps its own)."""
        day, month = periods()
        now = datetime.now(UTC)
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        r = Span
        with self.platform.store.session() as session:
            for scope, col in (("key", r.key_id), ("project", r.project_id)):
                for since, kind, period in ((month_start, "m", month), (day_start, "d", day)):
                    rows = session.execute(select(col, func.sum(r.cost)).where(r.start_time >= since, col.is_not(None),
                                                                               r.cost.is_not(None)).group_by(col))
                    for ident, total in rows:
                        self.local[(scope, ident, kind, period)] = float(total or 0.0)

    def add(self, key_id: str | None, project_id: str, cost: float) -> None:
        if not cost:
            return
        day, month = periods()
        targets = [("project", project_id)] + ([("key", key_id)] if key_id else [])
        for scope, ident in targets:
            for kind, period in (("d", day), ("m", month)):
                k = (scope, ident, kind, period)
                self.local[k] = self.local.get(k, 0.0) + cost
        if self.redis is not None:
            task = asyncio.get_running_loop().create_task(self._redis_add(targets, day, month, cost))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _redis_add(self, targets: list[tuple[str, str]], day: str, month: str, cost: float) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            for scope, ident in targets:
                for kind, period, ttl in (("d", day, 3 * 86400), ("m", month, 40 * 86400)):
                    name = f"{self.prefix}{scope}:{ident}:{kind}:{period}"
                    pipe.incrbyfloat(name, cost)
                    pipe.expire(name, ttl)
            await pipe.execute()
        except Exception:
            log.warning("could not add spend in Redis", exc_info=True)

    async def spent(self, scope: str, ident: str) -> tuple[float, float]:
        """(today, this month) in USD."""
        day, month = periods()
        if self.redis is not None:
            d, m = await self.redis.mget(f"{self.prefix}{scope}:{ident}:d:{day}",
                                         f"{self.prefix}{scope}:{ident}:m:{month}")
            return float(d or 0.0), float(m or 0.0)
        return self.local.get((scope, ident, "d", day), 0.0), self.local.get((scope, ident, "m", month), 0.0)

    async def check(self, scope: str, ident: str, limits: Limits) -> None:
        today, month = await self.spent(scope, ident)
        for period, budget, spent in (("day", limits.budget_daily, today), ("month", limits.budget_monthly, month)):
            adjective = "daily" if period == "day" else "monthly"
            if budget is not None and spent >= budget:
                wait = until_reset(period)
                raise RateLimited(
                    f"Budget exceeded for {scope} {ident}: spent ${spent:.4f} of the ${budget:.4f} {adjective} budget"
                    f" (resets in {wait / 3600:.1f} h).", code="budget_exceeded",
                    headers={"retry-after": str(int(wait) + 1)})
