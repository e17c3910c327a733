"""Experiments: run a dataset version against a target, score every item, persist as it goes.

Each item's result is committed the moment it is scored (unique per experiment and item), so an
interrupted run (a crash, a restart, Ctrl-C) resumes by skipping what is done; only items whose
target call failed are tried again. Every item runs inside an `evaluator` span, so its model call,
judge calls and scores form one trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.auth import Principal
from shipyard.errors import InvalidRequest, NotFound
from shipyard.evals import stats
from shipyard.evals.base import Case, Env, Evaluator, Score, build_all, export_scores
from shipyard.evals.datasets import Datasets, new_id
from shipyard.evals.tables import EvalDataset, EvalExperiment, EvalResult
from shipyard.evals.targets import Target, build_target, check_spec
from shipyard.observe.tracing import span

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
ACTIVE = ("queued", "running", "interrupted")


def experiment_dict(e: EvalExperiment, dataset_name: str | None = None) -> dict[str, Any]:
    return {"id": e.id, "object": "experiment", "name": e.name, "dataset_id": e.dataset_id,
            "dataset_name": dataset_name, "dataset_version": e.dataset_version, "target": e.target,
            "evaluators": e.evaluators, "concurrency": e.concurrency, "status": e.status, "total": e.total,
            "done": e.done, "errors": e.errors, "summary": e.summary, "error": e.error, "metadata": e.meta or {},
            "created_at": e.created_at.isoformat(),
            "started_at": e.started_at.isoformat() if e.started_at else None,
            "finished_at": e.finished_at.isoformat() if e.finished_at else None}


def result_dict(r: EvalResult) -> dict[str, Any]:
    return {"item_id": r.item_id, "position": r.position, "output": r.output, "error": r.error,
            "scores": r.scores, "passed": None if r.passed is None else bool(r.passed), "latency_ms": r.latency_ms,
            "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens, "cost": r.cost,
            "trace_id": r.trace_id, "human_label": r.human_label}


def item_passed(target_error: str | None, scores: dict[str, Score], evaluators: list[Evaluator]) -> bool | None:
    """An item passes when every evaluator with a threshold passed; a failed target call fails it; an
    evaluator that could not score leaves it undecided (None) rather than guessing."""
    if target_error:
        return False
    gated = [ev for ev in evaluators if ev.threshold is not None]
    verdicts = [scores[ev.name].passed for ev in gated]
    if any(v is False for v in verdicts):
        return False
    if any(scores[ev.name].error for ev in gated):
        return None
    return True if gated else None


async def run_item(item_id: str, item_input: Any, expected: Any, context: Any, metadata: dict[str, Any] | None,
                   target: Target, evaluators: list[Evaluator], env: Env, label: str,
                   experiment_id: str | None = None) -> dict[str, Any]:
    """One item through the target and every evaluator, traced; never raises for the item's own failures."""
    meta = {"experiment_id": experiment_id, "item_id": item_id}
    async with span("evaluator", label, input=item_input, project_id=env.principal.project_id,
                    metadata=meta) as s:
        out: dict[str, Any] = {"item_id": item_id, "trace_id": s.trace_id, "output": None, "error": None,
                               "scores": {}, "passed": None, "latency_ms": None, "prompt_tokens": None,
                               "completion_tokens": None, "cost": None}
        try:
            result = await target(item_input, env)
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
            out["error"] = message
            out["passed"] = False
            s.update(status="error", error_type=getattr(exc, "type", exc.__class__.__name__), error_message=message)
            return out
        out.update(output=result.output, latency_ms=result.latency_ms, prompt_tokens=result.prompt_tokens,
                   completion_tokens=result.completion_tokens, cost=result.cost)
        case = Case(input=item_input, output=result.output, expected=expected, context=context,
                    metadata=metadata or {}, latency_ms=result.latency_ms, cost=result.cost,
                    prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens)
        scores = dict(zip([e.name for e in evaluators],
                          await asyncio.gather(*(ev.evaluate(case, env) for ev in evaluators)), strict=True))
        out["scores"] = {name: sc.as_dict() for name, sc in scores.items()}
        out["passed"] = item_passed(None, scores, evaluators)
        export_scores(env, s.trace_id, s.id, scores, {"experiment_id": experiment_id, "item_id": item_id})
        s.update(output={"output": result.output, "scores": {n: sc.value for n, sc in scores.items()},
                         "passed": out["passed"]})
    return out


def summarize(results: Iterable[dict[str, Any]], evaluator_names: list[str]) -> dict[str, Any]:
    """Aggregates with 95% bootstrap intervals; evaluator errors are counted, never averaged in."""
    rows = list(results)
    metrics: dict[str, Any] = {}
    for name in evaluator_names:
        scores = [r["scores"].get(name) for r in rows if not r.get("error")]
        values = [sc.get("value") for sc in scores if sc and not sc.get("error")]
        verdicts = [float(sc["passed"]) for sc in scores if sc and sc.get("passed") is not None]
        metrics[name] = {**stats.bootstrap_ci(values).as_dict(),
                         "errors": sum(1 for sc in scores if sc is None or sc.get("error")),
                         "pass_rate": sum(verdicts) / len(verdicts) if verdicts else None}
    passed = [float(r["passed"]) for r in rows if r.get("passed") is not None]
    latencies = [r.get("latency_ms") for r in rows if r.get("latency_ms") is not None]
    costs = [r["cost"] for r in rows if r.get("cost") is not None]
    n_err = sum(1 for r in rows if r.get("error"))
    return {
        "items": len(rows), "errors": n_err, "error_rate": n_err / len(rows) if rows else None,
        "pass_rate": stats.bootstrap_ci(passed).as_dict(), "metrics": metrics,
        "latency_ms": {"mean": sum(latencies) / len(latencies) if latencies else None,
                       "p50": stats.percentile(latencies, 50), "p95": stats.percentile(latencies, 95)},
        "cost": {"total": sum(costs) if costs else None, "mean": sum(costs) / len(costs) if costs else None},
        "tokens": {"prompt": sum(r.get("prompt_tokens") or 0 for r in rows),
                   "completion": sum(r.get("completion_tokens") or 0 for r in rows)},
    }


class Experiments:
    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.store = platform.store
        self.datasets = Datasets(platform.store)
        self.cancel_status: dict[str, str] = {}  # experiment id -> status to record when its task is cancelled

    # -- records --------------------------------------------------------------------------------------
    def create(self, project_id: str, dataset: str, target: Any, evaluators: list[Any], *, name: str | None = None,
               concurrency: int | None = None, metadata: dict[str, Any] | None = None,
               allow_callable: bool = False, key_id: str | None = None) -> dict[str, Any]:
        spec = check_spec(target)
        if spec["type"] == "callable" and not allow_callable:
            raise InvalidRequest("callable targets exist only in-process (run_experiment)", param="target.type")
        build_all(evaluators)  # a bad spec fails now, not after the first model call
        concurrency = concurrency or self.platform.settings.evals_concurrency
        if not 1 <= concurrency <= 256:
            raise InvalidRequest("concurrency is between 1 and 256", param="concurrency")
        with self.store.session() as s:
            d = self.datasets.resolve(s, project_id, dataset)
            total = len(self.datasets.items_at(s, d))
            if total == 0:
                raise InvalidRequest(f"dataset '{d.name}' has no items", param="dataset")
            label = spec.get("model") or spec.get("name") or spec["type"]
            exp = EvalExperiment(
                id=new_id("exp"), project_id=project_id, name=name or f"{d.name}@v{d.version} {label}",
                dataset_id=d.id, dataset_version=d.version, target=spec, evaluators=list(evaluators),
                concurrency=concurrency, status="queued", total=total, done=0, errors=0,
                meta={**(metadata or {}), **({"created_by_key": key_id} if key_id else {})} or None)
            s.add(exp)
            s.flush()
            return experiment_dict(exp, d.name)

    def _load(self, s: Any, project_id: str, ref: str) -> EvalExperiment:
        exp = s.get(EvalExperiment, ref)
        if exp is None or exp.project_id != project_id:
            exp = s.scalars(select(EvalExperiment).where(EvalExperiment.project_id == project_id,
                                                         EvalExperiment.name == ref)
                            .order_by(EvalExperiment.created_at.desc())).first()
        if exp is None:
            raise NotFound(f"no experiment '{ref}'")
        return exp

    def get(self, project_id: str, ref: str) -> dict[str, Any]:
        with self.store.session() as s:
            exp = self._load(s, project_id, ref)
            d = s.get(EvalDataset, exp.dataset_id)
            return experiment_dict(exp, d.name if d else None)

    def list(self, project_id: str, dataset: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with self.store.session() as s:
            q = select(EvalExperiment).where(EvalExperiment.project_id == project_id)
            if dataset:
                q = q.where(EvalExperiment.dataset_id == self.datasets.resolve(s, project_id, dataset).id)
            names = {d.id: d.name for d in s.scalars(select(EvalDataset).where(EvalDataset.project_id == project_id))}
            rows = s.scalars(q.order_by(EvalExperiment.created_at.desc()).limit(limit)).all()
            return [experiment_dict(e, names.get(e.dataset_id)) for e in rows]

    def results(self, project_id: str, ref: str) -> list[dict[str, Any]]:
        """Per-item results with the item's input and reference, in dataset order."""
        with self.store.session() as s:
            exp = self._load(s, project_id, ref)
            d = s.get(EvalDataset, exp.dataset_id)
            items = {i.id: i for i in self.datasets.items_at(s, d, exp.dataset_version)} if d else {}
            rows = s.scalars(select(EvalResult).where(EvalResult.experiment_id == exp.id)
                             .order_by(EvalResult.position)).all()
            out = []
            for r in rows:
                item = items.get(r.item_id)
                label = r.human_label
                if label is None and item is not None and isinstance((item.meta or {}).get("human_label"),
                                                                     (int, float, bool)):
                    label = float(item.meta["human_label"])
                out.append({**result_dict(r), "human_label": label,
                            "input": item.input if item else None, "expected": item.expected if item else None})
            return out

    def set_label(self, project_id: str, ref: str, item_id: str, label: float | None) -> None:
        with self.store.session() as s:
            exp = self._load(s, project_id, ref)
            done = s.execute(update(EvalResult).where(EvalResult.experiment_id == exp.id,
                                                      EvalResult.item_id == item_id).values(human_label=label))
            if done.rowcount == 0:
                raise NotFound(f"experiment '{exp.name}' has no result for item {item_id}")

    def delete(self, project_id: str, ref: str) -> None:
        with self.store.session() as s:
            exp = self._load(s, project_id, ref)
            s.execute(delete(EvalResult).where(EvalResult.experiment_id == exp.id))
            s.delete(exp)

    def _mark(self, exp_id: str, **values: Any) -> None:
        with self.store.session() as s:
            s.execute(update(EvalExperiment).where(EvalExperiment.id == exp_id).values(**values))

    def _save(self, exp: EvalExperiment, position: int, result: dict[str, Any]) -> bool:
        row = {"id": new_id("res"), "experiment_id": exp.id, "item_id": result["item_id"],
               "project_id": exp.project_id, "position": position, "output": result["output"],
               "error": result["error"], "scores": result["scores"],
               "passed": None if result["passed"] is None else int(result["passed"]),
               "latency_ms": result["latency_ms"], "prompt_tokens": result["prompt_tokens"],
               "completion_tokens": result["completion_tokens"], "cost": result["cost"],
               "trace_id": result["trace_id"], "human_label": None, "created_at": datetime.now(UTC)}
        try:
            with self.store.engine.begin() as conn:  # one short transaction per item: the unit of resumption
                conn.execute(EvalResult.__table__.insert(), row)
                conn.execute(update(EvalExperiment).where(EvalExperiment.id == exp.id).values(
                    done=EvalExperiment.done + 1, errors=EvalExperiment.errors + (1 if result["error"] else 0)))
        except IntegrityError:  # another runner finished this item first: its result stands
            return False
        return True

    # -- running --------------------------------------------------------------------------------------
    async def execute(self, ref: str, principal: Principal, *, fn: Callable[[Any], Any] | None = None,
                      progress: Progress | None = None) -> dict[str, Any]:
        """Run (or resume) an experiment to the end and return it with its summary."""
        with self.store.session() as s:
            exp = self._load(s, principal.project_id, ref)
            d = s.get(EvalDataset, exp.dataset_id)
            if d is None:
                raise NotFound("the experiment's dataset was deleted")
            items = self.datasets.items_at(s, d, exp.dataset_version)
            s.execute(delete(EvalResult).where(EvalResult.experiment_id == exp.id, EvalResult.error.is_not(None)))
            done_ids = set(s.scalars(select(EvalResult.item_id).where(EvalResult.experiment_id == exp.id)))
            s.execute(update(EvalExperiment).where(EvalExperiment.id == exp.id).values(
                status="running", error=None, done=len(done_ids), errors=0, total=len(items),
                started_at=exp.started_at or datetime.now(UTC), finished_at=None))
            label = f"experiment {exp.name}"
        env = Env(self.platform, principal)
        evaluators = build_all(exp.evaluators)
        try:
            target = build_target(exp.target, env, fn)
        except Exception as exc:
            self._mark(exp.id, status="failed", error=getattr(exc, "message", None) or str(exc),
                       finished_at=datetime.now(UTC))
            raise
        pending = iter([(n, i) for n, i in enumerate(items) if i.id not in done_ids])
        counter = {"done": len(done_ids)}
        if progress:
            progress(counter["done"], len(items))

        async def worker() -> None:
            for position, item in pending:  # one shared iterator: each item goes to exactly one worker
                result = await run_item(item.id, item.input, item.expected, item.context, item.meta, target,
                                        evaluators, env, label, exp.id)
                if await asyncio.to_thread(self._save, exp, position, result):
                    counter["done"] += 1
                if progress:
                    progress(counter["done"], len(items))

        try:
            await asyncio.gather(*(worker() for _ in range(min(exp.concurrency, max(1, len(items))))))
        except asyncio.CancelledError:
            self._mark(exp.id, status=self.cancel_status.pop(exp.id, "interrupted"))
            raise
        except Exception as exc:
            log.exception("experiment %s failed", exp.id)
            self._mark(exp.id, status="failed", error=f"{exc.__class__.__name__}: {exc}",
                       finished_at=datetime.now(UTC))
            raise
        return await asyncio.to_thread(self.finalize, exp.id)

    def finalize(self, exp_id: str) -> dict[str, Any]:
        with self.store.session() as s:
            exp = s.get(EvalExperiment, exp_id)
            rows = s.scalars(select(EvalResult).where(EvalResult.experiment_id == exp_id)).all()
            names = [ev.name for ev in build_all(exp.evaluators)]
            exp.summary = summarize([result_dict(r) for r in rows], names)
            exp.status, exp.finished_at = "completed", datetime.now(UTC)
            exp.done, exp.errors = len(rows), sum(1 for r in rows if r.error)
            d = s.get(EvalDataset, exp.dataset_id)
            return experiment_dict(exp, d.name if d else None)

    def unfinished(self) -> list[tuple[str, str, str | None]]:
        """(experiment id, project id, creator's key id) of runs a previous process left behind, oldest first."""
        with self.store.session() as s:
            rows = s.scalars(select(EvalExperiment).where(or_(*(EvalExperiment.status == st for st in ACTIVE)))
                             .order_by(EvalExperiment.created_at)).all()
            return [(e.id, e.project_id, (e.meta or {}).get("created_by_key")) for e in rows]
