"""Online evaluation: score a sample of production generations with chosen evaluators, continuously.

A rule keeps a cursor on span end time and, each tick, looks at generations that ended since (less
a small lag, so the batched writer has caught up), samples them deterministically by span id (a
span is in or out of a rule's sample for good, so re-runs never double count), and stores one score
per evaluator. Calls made by evaluation itself (experiment targets, judges) are marked and skipped.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.auth import Principal
from shipyard.errors import Conflict, InvalidRequest, NotFound
from shipyard.evals.base import Case, Env, build_all, export_scores
from shipyard.evals.datasets import new_id
from shipyard.evals.tables import OnlineRule, OnlineScore
from shipyard.store.tables import Span

LAG = timedelta(seconds=2)


def rule_dict(r: OnlineRule) -> dict[str, Any]:
    return {"id": r.id, "object": "online_rule", "name": r.name, "evaluators": r.evaluators,
            "sample_rate": r.sample_rate, "model": r.model, "enabled": bool(r.enabled), "scored": r.scored,
            "cursor": r.cursor.isoformat() if r.cursor else None, "created_at": r.created_at.isoformat()}


def sampled(rule_id: str, span_id: str, rate: float) -> bool:
    digest = hashlib.blake2b(f"{rule_id}:{span_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class Online:
    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.store = platform.store

    def create(self, project_id: str, name: str, evaluators: list[Any], sample_rate: float = 0.1,
               model: str | None = None, backfill_hours: float = 0.0) -> dict[str, Any]:
        if not name or len(name) > 200:
            raise InvalidRequest("a rule needs a name of 1 to 200 characters", param="name")
        if not 0 < sample_rate <= 1:
            raise InvalidRequest("sample_rate is in (0, 1]", param="sample_rate")
        build_all(evaluators)
        with self.store.session() as s:
            if s.scalar(select(OnlineRule.id).where(OnlineRule.project_id == project_id, OnlineRule.name == name)):
                raise Conflict(f"an online rule named '{name}' already exists", param="name")
            r = OnlineRule(id=new_id("rule"), project_id=project_id, name=name, evaluators=evaluators,
                           sample_rate=sample_rate, model=model, enabled=1, scored=0,
                           cursor=datetime.now(UTC) - timedelta(hours=max(0.0, backfill_hours)))
            s.add(r)
            s.flush()
            return rule_dict(r)

    def _load(self, s: Any, project_id: str, ref: str) -> OnlineRule:
        r = s.get(OnlineRule, ref)
        if r is None or r.project_id != project_id:
            r = s.scalars(select(OnlineRule).where(OnlineRule.project_id == project_id,
                                                   OnlineRule.name == ref)).first()
        if r is None:
            raise NotFound(f"no online rule '{ref}'")
        return r

    def list(self, project_id: str) -> list[dict[str, Any]]:
        with self.store.session() as s:
            return [rule_dict(r) for r in s.scalars(select(OnlineRule).where(OnlineRule.project_id == project_id)
                                                    .order_by(OnlineRule.created_at))]

    def get(self, project_id: str, ref: str) -> dict[str, Any]:
        with self.store.session() as s:
            return rule_dict(self._load(s, project_id, ref))

    def update(self, project_id: str, ref: str, enabled: bool | None = None,
               sample_rate: float | None = None) -> dict[str, Any]:
        with self.store.session() as s:
            r = self._load(s, project_id, ref)
            if sample_rate is not None:
                if not 0 < sample_rate <= 1:
                    raise InvalidRequest("sample_rate is in (0, 1]", param="sample_rate")
                r.sample_rate = sample_rate
            if enabled is not None:
                r.enabled = int(enabled)
            return rule_dict(r)

    def delete(self, project_id: str, ref: str) -> None:
        with self.store.session() as s:
            r = self._load(s, project_id, ref)
            s.execute(delete(OnlineScore).where(OnlineScore.rule_id == r.id))
            s.delete(r)

    # -- scoring --------------------------------------------------------------------------------------
    async def tick(self, project_id: str | None = None, rule: str | None = None) -> int:
        """Score what arrived since each enabled rule's cursor; returns how many spans were scored."""
        import asyncio

        with self.store.session() as s:
            q = select(OnlineRule).where(OnlineRule.enabled == 1)
            if project_id is not None:
                q = q.where(OnlineRule.project_id == project_id)
            rules = list(s.scalars(q))
            if rule is not None:
                rules = [self._load(s, project_id or "", rule)]
        total = 0
        for r in rules:
            spans = await asyncio.to_thread(self._pending, r)
            total += await self._score(r, spans)
        return total

    def _pending(self, r: OnlineRule) -> tuple[list[Span], datetime | None]:
        horizon = datetime.now(UTC) - LAG
        limit = self.platform.settings.evals_online_batch
        with self.store.session() as s:
            q = (select(Span).where(Span.project_id == r.project_id, Span.kind == "generation",
                                    Span.end_time <= horizon)
                 .order_by(Span.end_time).limit(limit * 20))
            if r.cursor is not None:
                q = q.where(Span.end_time > r.cursor)
            if r.model:
                q = q.where(Span.model == r.model)
            rows = list(s.scalars(q))
        cursor = _aware(rows[-1].end_time) if rows else None
        chosen = [sp for sp in rows if sp.status == "ok" and not (sp.meta or {}).get("shipyard_eval")
                  and sampled(r.id, sp.id, r.sample_rate)]
        return chosen[:limit], cursor if len(chosen) <= limit else _aware(chosen[limit - 1].end_time)

    async def _score(self, r: OnlineRule, pending: tuple[list[Span], datetime | None]) -> int:
        spans, cursor = pending
        if cursor is None:
            return 0
        evaluators = build_all(r.evaluators)
        env = Env(self.platform, Principal(project_id=r.project_id, role="service"), tag="online")
        rows = []
        for sp in spans:
            meta = sp.meta or {}
            case = Case(input=sp.input, output=sp.output, expected=meta.get("expected"), context=meta.get("context"),
                        metadata=meta, latency_ms=sp.latency_ms, cost=sp.cost, prompt_tokens=sp.prompt_tokens,
                        completion_tokens=sp.completion_tokens)
            scored = {}
            for ev in evaluators:
                sc = scored[ev.name] = await ev.evaluate(case, env)
                rows.append(OnlineScore(id=new_id("osc"), rule_id=r.id, project_id=r.project_id, span_id=sp.id,
                                        trace_id=sp.trace_id, evaluator=ev.name, value=sc.value,
                                        passed=None if sc.passed is None else int(sc.passed),
                                        reason=sc.reason, error=sc.error, span_time=_aware(sp.end_time)))
            export_scores(env, sp.trace_id, sp.id, scored, {"online_rule": r.name})
        import asyncio

        await asyncio.to_thread(self._store, r.id, rows, cursor, len(spans))
        return len(spans)

    def _store(self, rule_id: str, rows: list[OnlineScore], cursor: datetime, scored: int) -> None:
        try:
            with self.store.session() as s:
                s.add_all(rows)
                s.execute(update(OnlineRule).where(OnlineRule.id == rule_id)
                          .values(cursor=cursor, scored=OnlineRule.scored + scored))
        except IntegrityError:  # two processes scored the same spans: keep theirs, move the cursor on
            with self.store.session() as s:
                s.execute(update(OnlineRule).where(OnlineRule.id == rule_id).values(cursor=cursor))

    def scores(self, project_id: str, ref: str, limit: int = 200) -> list[dict[str, Any]]:
        with self.store.session() as s:
            r = self._load(s, project_id, ref)
            rows = s.scalars(select(OnlineScore).where(OnlineScore.rule_id == r.id)
                             .order_by(OnlineScore.span_time.desc()).limit(limit))
            return [{"span_id": x.span_id, "trace_id": x.trace_id, "evaluator": x.evaluator, "value": x.value,
                     "passed": None if x.passed is None else bool(x.passed), "reason": x.reason, "error": x.error,
                     "time": _aware(x.span_time).isoformat()} for x in rows]

    def series(self, project_id: str, ref: str, hours: float = 24 * 7,
               bucket_minutes: int = 60) -> dict[str, list[tuple[datetime, float, int]]]:
        """Mean score per evaluator per time bucket: what the dashboard charts."""
        since = datetime.now(UTC) - timedelta(hours=hours)
        with self.store.session() as s:
            r = self._load(s, project_id, ref)
            rows = s.execute(select(OnlineScore.evaluator, OnlineScore.span_time, OnlineScore.value)
                             .where(OnlineScore.rule_id == r.id, OnlineScore.span_time >= since,
                                    OnlineScore.value.is_not(None))).all()
        width = timedelta(minutes=max(1, bucket_minutes)).total_seconds()
        acc: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        for name, t, value in rows:
            ts = _aware(t).timestamp()
            acc[name][ts - ts % width].append(value)
        return {name: [(datetime.fromtimestamp(b, UTC), sum(v) / len(v), len(v)) for b, v in sorted(buckets.items())]
                for name, buckets in acc.items()}
