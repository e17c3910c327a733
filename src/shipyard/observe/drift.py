"""Drift: is a model's recent traffic still like the traffic it had before?

For one model (and one prompt, when spans name it in their metadata as `prompt`), a recent window of
generation spans is compared with the reference window just before it:

- prompts and responses are embedded (the bundled all-MiniLM-L6-v2 by default) and compared with the
  squared maximum mean discrepancy (MMD², RBF kernel, median-distance bandwidth); its p-value comes
  from a permutation test, so no distribution is assumed;
- prompt and response lengths and token counts with two-sample Kolmogorov-Smirnov tests;
- refusal and error rates with two-proportion z-tests (error rates over every call in the windows).

The run's `score` is the larger MMD² of prompts and responses and its `p_value` the smaller of their
two p-values, Bonferroni-corrected. An alert is raised when that p-value is under `drift_alpha` and
the effect is not negligible, or when the error or refusal rate moved significantly by more than 5
points. Every run is kept (the history the dashboard charts); alerts are stored and POSTed to
`drift_webhook_url` when set.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import case, distinct, func, select

from shipyard.errors import InvalidRequest
from shipyard.observe.search import iso, utc
from shipyard.observe.tables import DriftAlert, DriftRun
from shipyard.store.tables import Span

if TYPE_CHECKING:
    from shipyard.platform import Platform

log = logging.getLogger(__name__)
REFUSAL = re.compile(r"\b(I can(?:no|')t|I cannot|I'm (?:sorry|unable)|I am (?:sorry|unable)|as an AI|"
                     r"I (?:won't|will not) (?:help|assist|provide))", re.IGNORECASE)
MIN_EFFECT = 0.002  # MMD² below this is a difference nobody would act on, however significant
RATE_SHIFT = 0.05


@dataclass
class Options:
    window_hours: float = 24.0
    reference_hours: float = 168.0
    sample: int = 200  # spans per window that are embedded
    permutations: int = 500
    min_samples: int = 20
    alpha: float = 0.01
    seed: int = 0


def text_of(value: Any) -> str:
    """The words of a prompt (the last user message) or an answer, whatever shape it was stored in."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return text_of(value.get("content", "")) if "content" in value else " ".join(map(text_of, value.values()))
    if isinstance(value, list):
        users = [m for m in value if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return text_of(users[-1].get("content"))
        parts = [text_of(v.get("text") if isinstance(v, dict) and "text" in v else v) for v in value]
        return " ".join(p for p in parts if p)
    return str(value)


def mmd_permutation(x: np.ndarray, y: np.ndarray, permutations: int, rng: np.random.Generator
                    ) -> tuple[float, float]:
    """Unbiased MMD² between samples x and y with an RBF kernel, and its permutation-test p-value."""
    z = np.vstack([x, y]).astype(np.float64)
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0)
    upper = d2[np.triu_indices_from(d2, k=1)]
    median = float(np.median(upper[upper > 0])) if np.any(upper > 0) else 1.0
    k = np.exp(-d2 / median)
    np.fill_diagonal(k, 0.0)
    n, m = len(x), len(y)

    def stat(idx: np.ndarray) -> float:
        a, b = idx[:n], idx[n:]
        kxx = k[np.ix_(a, a)].sum() / (n * (n - 1))
        kyy = k[np.ix_(b, b)].sum() / (m * (m - 1))
        kxy = k[np.ix_(a, b)].sum() / (n * m)
        return float(kxx + kyy - 2.0 * kxy)

    base = np.arange(n + m)
    observed = stat(base)
    exceed = sum(stat(rng.permutation(base)) >= observed for _ in range(permutations))
    return observed, (1 + exceed) / (1 + permutations)


def _ks(a: list[float], b: list[float]) -> dict[str, Any]:
    from scipy.stats import ks_2samp

    if len(a) < 2 or len(b) < 2:
        return {"reference_mean": None, "current_mean": None, "p_value": None}
    result = ks_2samp(a, b)
    return {"reference_mean": float(np.mean(a)), "current_mean": float(np.mean(b)),
            "statistic": float(result.statistic), "p_value": float(result.pvalue)}


def _proportions(k1: int, n1: int, k2: int, n2: int) -> dict[str, Any]:
    if n1 == 0 or n2 == 0:
        return {"reference": None, "current": None, "p_value": None}
    p1, p2 = k1 / n1, k2 / n2
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        p = 1.0
    else:
        p = math.erfc(abs(p1 - p2) / se / math.sqrt(2))
    return {"reference": p1, "current": p2, "p_value": p}


def _load(platform: Platform, project_id: str, model: str, prompt: str | None, start: datetime, end: datetime,
          limit: int) -> tuple[list[Span], int, int]:
    where = [Span.project_id == project_id, Span.model == model, Span.kind == "generation",
             Span.start_time >= start, Span.start_time < end]
    if prompt:
        where.append(Span.meta["prompt"].as_string() == prompt)
    with platform.store.session() as session:
        rows = list(session.scalars(select(Span).where(*where, Span.status == "ok")
                                    .order_by(Span.start_time.desc()).limit(limit)))
        total, errors = session.execute(select(func.count(), func.sum(case((Span.status == "error", 1), else_=0)))
                                        .where(*where)).one()
    return rows, total or 0, errors or 0


async def check(platform: Platform, project_id: str, model: str, *, prompt: str | None = None,
                options: Options | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Compare the windows, store the run (and an alert when it drifted), and return the run."""
    o = options or Options(alpha=platform.settings.drift_alpha)
    if o.window_hours <= 0 or o.reference_hours <= 0:
        raise InvalidRequest("window_hours and reference_hours must be positive", param="window_hours")
    now = utc(now) or datetime.now(UTC)
    cur_start = now - timedelta(hours=o.window_hours)
    ref_start = cur_start - timedelta(hours=o.reference_hours)
    ref, ref_total, ref_errors = await asyncio.to_thread(_load, platform, project_id, model, prompt, ref_start,
                                                         cur_start, o.sample)
    cur, cur_total, cur_errors = await asyncio.to_thread(_load, platform, project_id, model, prompt, cur_start,
                                                         now, o.sample)
    if len(ref) < o.min_samples or len(cur) < o.min_samples:
        raise InvalidRequest(
            f"drift needs at least {o.min_samples} successful calls of '{model}' in each window; found "
            f"{len(ref)} in the reference window and {len(cur)} in the recent one", code="insufficient_data")
    embedder = platform.registry.resolve(platform.settings.drift_embedding_model)
    rng = np.random.default_rng(o.seed)
    metrics: dict[str, Any] = {}
    p_values, scores = [], []
    for side, column in (("prompt", "input"), ("response", "output")):
        a = [text_of(getattr(s, column)) for s in ref]
        b = [text_of(getattr(s, column)) for s in cur]
        if sum(1 for t in a if t) < o.min_samples or sum(1 for t in b if t) < o.min_samples:
            metrics[f"{side}_embeddings"] = {"skipped": "no stored content (trace_content off?)"}
            continue
        vectors = await embedder.embed_vectors(a + b)
        mmd, p = await asyncio.to_thread(mmd_permutation, np.asarray(vectors[:len(a)]), np.asarray(vectors[len(a):]),
                                         o.permutations, rng)
        metrics[f"{side}_embeddings"] = {"mmd2": mmd, "p_value": p}
        metrics[f"{side}_length"] = _ks([float(len(t)) for t in a], [float(len(t)) for t in b])
        scores.append(mmd)
        p_values.append(p)
    metrics["prompt_tokens"] = _ks([float(s.prompt_tokens) for s in ref if s.prompt_tokens is not None],
                                   [float(s.prompt_tokens) for s in cur if s.prompt_tokens is not None])
    metrics["completion_tokens"] = _ks([float(s.completion_tokens) for s in ref if s.completion_tokens is not None],
                                       [float(s.completion_tokens) for s in cur if s.completion_tokens is not None])
    refusals = [sum(1 for s in rows if REFUSAL.search(text_of(s.output))) for rows in (ref, cur)]
    metrics["refusal_rate"] = _proportions(refusals[0], len(ref), refusals[1], len(cur))
    metrics["error_rate"] = _proportions(ref_errors, ref_total, cur_errors, cur_total)
    score = max(scores) if scores else None
    p_value = min(1.0, min(p_values) * len(p_values)) if p_values else None
    reasons = []
    if p_value is not None and score is not None and p_value < o.alpha and score > MIN_EFFECT:
        which = [side for side in ("prompt", "response")
                 if (metrics.get(f"{side}_embeddings") or {}).get("p_value", 1) * len(p_values) < o.alpha]
        reasons.append(f"{' and '.join(which) or 'content'} distribution shifted (MMD² {score:.4f}, p={p_value:.4f})")
    for name in ("error_rate", "refusal_rate"):
        r = metrics[name]
        if r["p_value"] is not None and r["p_value"] < o.alpha and abs(r["current"] - r["reference"]) > RATE_SHIFT:
            reasons.append(f"{name.replace('_', ' ')} went from {r['reference']:.1%} to {r['current']:.1%}")
    metrics["reasons"] = reasons
    run = {
        "id": os.urandom(12).hex(), "project_id": project_id, "model": model, "prompt": prompt, "created_at": now,
        "reference_start": ref_start, "reference_end": cur_start, "current_start": cur_start, "current_end": now,
        "n_reference": len(ref), "n_current": len(cur), "score": score, "p_value": p_value, "alert": bool(reasons),
        "metrics": metrics,
    }
    alert = None
    if reasons:
        message = f"Drift on {model}{f' (prompt {prompt})' if prompt else ''}: " + "; ".join(reasons)
        alert = {"id": os.urandom(12).hex(), "run_id": run["id"], "project_id": project_id, "model": model,
                 "prompt": prompt, "created_at": now, "message": message, "webhook_status": None}
        alert["webhook_status"] = await _notify(platform, run, alert)
    await asyncio.to_thread(_store, platform, run, alert)
    out = run_json(run)
    out["alert_message"] = alert["message"] if alert else None
    out["webhook_status"] = alert["webhook_status"] if alert else None
    return out


def _store(platform: Platform, run: dict[str, Any], alert: dict[str, Any] | None) -> None:
    with platform.store.engine.begin() as conn:
        conn.execute(DriftRun.__table__.insert(), [run])
        if alert is not None:
            conn.execute(DriftAlert.__table__.insert(), [alert])


async def _notify(platform: Platform, run: dict[str, Any], alert: dict[str, Any]) -> str | None:
    url = platform.settings.drift_webhook_url
    if not url:
        return None
    import httpx

    payload = {"type": "drift.alert", "alert_id": alert["id"], "run_id": run["id"], "project_id": run["project_id"],
               "model": run["model"], "prompt": run["prompt"], "score": run["score"], "p_value": run["p_value"],
               "message": alert["message"], "created_at": iso(run["created_at"]),
               "metrics": {k: v for k, v in run["metrics"].items() if k != "reasons"}}
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(url, json=payload)
        return f"sent {response.status_code}"
    except httpx.HTTPError as exc:
        log.warning("drift webhook %s failed: %s", url, exc)
        return f"failed: {exc.__class__.__name__}"[:200]


def run_json(r: dict[str, Any] | DriftRun) -> dict[str, Any]:
    get = r.get if isinstance(r, dict) else lambda k: getattr(r, k)
    return {"id": get("id"), "object": "drift.run", "model": get("model"), "prompt": get("prompt"),
            "created_at": iso(get("created_at")), "reference_start": iso(get("reference_start")),
            "reference_end": iso(get("reference_end")), "current_start": iso(get("current_start")),
            "current_end": iso(get("current_end")), "n_reference": get("n_reference"),
            "n_current": get("n_current"), "score": get("score"), "p_value": get("p_value"), "alert": get("alert"),
            "metrics": get("metrics")}


def alert_json(a: DriftAlert) -> dict[str, Any]:
    return {"id": a.id, "object": "drift.alert", "run_id": a.run_id, "model": a.model, "prompt": a.prompt,
            "created_at": iso(a.created_at), "message": a.message, "webhook_status": a.webhook_status}


def list_runs(platform: Platform, project_id: str, model: str | None = None, limit: int = 100
              ) -> list[dict[str, Any]]:
    q = select(DriftRun).where(DriftRun.project_id == project_id).order_by(DriftRun.created_at.desc()).limit(limit)
    if model:
        q = q.where(DriftRun.model == model)
    with platform.store.session() as session:
        return [run_json(r) for r in session.scalars(q)]


def list_alerts(platform: Platform, project_id: str, model: str | None = None, limit: int = 100
                ) -> list[dict[str, Any]]:
    q = select(DriftAlert).where(DriftAlert.project_id == project_id).order_by(DriftAlert.created_at.desc())
    if model:
        q = q.where(DriftAlert.model == model)
    with platform.store.session() as session:
        return [alert_json(a) for a in session.scalars(q.limit(limit))]


def active_models(platform: Platform, since: datetime) -> list[tuple[str, str]]:
    q = (select(distinct(Span.project_id), Span.model)
         .where(Span.kind == "generation", Span.start_time >= since, Span.model.is_not(None)))
    with platform.store.session() as session:
        return [(p, m) for p, m in session.execute(q)]


async def run_scheduled(platform: Platform) -> None:
    """Check every model that had traffic, every `drift_interval` seconds (the history fills itself)."""
    while True:
        await asyncio.sleep(platform.settings.drift_interval)
        options = Options(alpha=platform.settings.drift_alpha)
        since = datetime.now(UTC) - timedelta(hours=options.window_hours)
        try:
            pairs = await asyncio.to_thread(active_models, platform, since)
        except Exception:
            log.exception("could not list models for the drift check")
            continue
        for project_id, model in pairs:
            try:
                await check(platform, project_id, model, options=options)
            except InvalidRequest:
                pass  # not enough traffic yet
            except Exception:
                log.exception("drift check of %s failed", model)
