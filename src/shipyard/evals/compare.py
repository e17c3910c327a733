"""Comparing experiments, gating on results, and calibrating a judge against human labels.

The comparison is paired: only items both experiments scored count, and the question asked is
"did the same items score differently?", which needs far fewer items to see a real change than
comparing two unpaired means.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidRequest
from shipyard.evals import stats

ALPHA = 0.05
_GATE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$")
OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
       "!=": operator.ne}
ALIASES = {"accuracy": "pass_rate"}


def item_values(results: list[dict[str, Any]], metric: str) -> dict[str, float | None]:
    """Per-item values of a metric: `pass_rate` (1/0 per item) or an evaluator's score."""
    out: dict[str, float | None] = {}
    for r in results:
        if metric == "pass_rate":
            out[r["item_id"]] = None if r["passed"] is None else float(r["passed"])
        elif r.get("error"):
            out[r["item_id"]] = 0.0 if metric.endswith(".pass_rate") else None
        else:
            name, _, part = metric.partition(".")
            sc = r["scores"].get(name) or {}
            if part == "pass_rate":
                out[r["item_id"]] = None if sc.get("passed") is None else float(sc["passed"])
            else:
                out[r["item_id"]] = sc.get("value") if not sc.get("error") else None
    return out


def metric_names(experiment: dict[str, Any]) -> list[str]:
    return ["pass_rate", *((experiment.get("summary") or {}).get("metrics") or {})]


def paired(baseline: dict[str, float | None], candidate: dict[str, float | None]) -> stats.PairedTest:
    common = [k for k in baseline if k in candidate]
    return stats.paired_test([baseline[k] for k in common], [candidate[k] for k in common])


def compare(experiments: list[dict[str, Any]], results: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Side by side: overall per metric with intervals, each candidate against the first (the baseline)
    with a paired test, and per item what changed."""
    if len(experiments) < 2:
        raise InvalidRequest("compare at least two experiments", param="ids")
    base = experiments[0]
    metrics = [m for m in metric_names(base) if all(m in metric_names(e) for e in experiments[1:])]
    overall = []
    for metric in metrics:
        base_vals = item_values(results[0], metric)
        row: dict[str, Any] = {"metric": metric, "experiments": []}
        for exp, res in zip(experiments, results, strict=True):
            vals = item_values(res, metric)
            entry = {"id": exp["id"], **stats.bootstrap_ci(list(vals.values())).as_dict()}
            if exp is not base:
                test = paired(base_vals, vals)
                entry["vs_baseline"] = {**test.as_dict(), "significant": test.significant(ALPHA),
                                        "direction": _direction(test)}
            row["experiments"].append(entry)
        overall.append(row)
    by_item: dict[str, dict[str, Any]] = {}
    for n, res in enumerate(results):
        for r in res:
            entry = by_item.setdefault(r["item_id"], {"item_id": r["item_id"], "position": r.get("position", 0),
                                                      "input": r.get("input"), "expected": r.get("expected"),
                                                      "runs": [None] * len(results)})
            entry["runs"][n] = {"output": r["output"], "error": r["error"], "passed": r["passed"],
                                "scores": {k: v.get("value") for k, v in r["scores"].items()}}
    items = sorted(by_item.values(), key=lambda x: x["position"])
    for entry in items:
        runs = [r for r in entry["runs"] if r is not None]
        entry["changed"] = len(runs) < len(results) or len({(r["passed"], tuple(sorted(r["scores"].items())))
                                                            for r in runs}) > 1
        base_run = entry["runs"][0]
        entry["delta"] = [None if r is None or base_run is None else _delta(base_run, r) for r in entry["runs"]]
    return {"object": "comparison", "baseline": base["id"], "experiments": experiments, "metrics": overall,
            "items": items, "changed": sum(1 for i in items if i["changed"])}


def _delta(base: dict[str, Any], run: dict[str, Any]) -> float | None:
    if base["passed"] is None or run["passed"] is None:
        return None
    return float(run["passed"]) - float(base["passed"])


def _direction(test: stats.PairedTest) -> str:
    if not test.significant(ALPHA) or test.diff is None:
        return "no significant difference"
    return "better" if test.diff > 0 else "worse"


# -- gates ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Gate:
    metric: str
    op: str
    threshold: float
    text: str


def parse_gate(text: str) -> Gate:
    m = _GATE.match(text or "")
    if not m:
        raise InvalidRequest(f"a gate looks like 'accuracy>=0.8' or 'exact_match<0.1', not '{text}'", param="gates")
    return Gate(ALIASES.get(m.group(1), m.group(1)), m.group(2), float(m.group(3)), text.strip())


def metric_value(summary: dict[str, Any], metric: str) -> float | None:
    """A summary number by gate name: pass_rate (accuracy), error_rate, latency_p50/p95/mean,
    cost_total/cost_mean, an evaluator's name (its mean score) or `<evaluator>.pass_rate`."""
    summary = summary or {}
    if metric == "pass_rate":
        return (summary.get("pass_rate") or {}).get("mean")
    if metric == "error_rate":
        return summary.get("error_rate")
    if metric.startswith("latency_"):
        return (summary.get("latency_ms") or {}).get(metric[8:])
    if metric.startswith("cost_"):
        return (summary.get("cost") or {}).get(metric[5:])
    name, _, part = metric.partition(".")
    ev = (summary.get("metrics") or {}).get(name)
    if ev is None:
        known = ["pass_rate", "accuracy", "error_rate", "latency_p50", "latency_p95", "cost_total",
                 *(summary.get("metrics") or {})]
        raise InvalidRequest(f"no metric '{metric}' (known: {', '.join(known)})", param="gates")
    return ev.get("pass_rate") if part == "pass_rate" else ev.get("mean")


def check_gates(experiment: dict[str, Any], results: list[dict[str, Any]], gates: list[str],
                baseline: dict[str, Any] | None = None, baseline_results: list[dict[str, Any]] | None = None,
                alpha: float = ALPHA) -> dict[str, Any]:
    """Every gate, and (with a baseline) every shared higher-is-better metric that got significantly
    worse; `passed` is False when any of them fails, with a readable reason for each."""
    parsed = [parse_gate(g) for g in gates]
    checks: list[dict[str, Any]] = []
    summary = experiment.get("summary") or {}
    if experiment.get("status") != "completed":
        checks.append({"check": "status", "passed": False,
                       "reason": f"the experiment is {experiment.get('status')}, not completed"})
    for gate in parsed:
        value = metric_value(summary, gate.metric)
        ok = value is not None and OPS[gate.op](value, gate.threshold)
        reason = (f"{gate.metric} has no value (every item errored?)" if value is None else
                  f"{gate.metric} = {value:.4g} {'meets' if ok else 'fails'} {gate.op} {gate.threshold:g}")
        checks.append({"check": gate.text, "metric": gate.metric, "value": value, "passed": ok, "reason": reason})
    if baseline is not None and baseline_results is not None:
        shared = [m for m in metric_names(experiment) if m in metric_names(baseline)]
        for metric in shared:
            test = paired(item_values(baseline_results, metric), item_values(results, metric))
            worse = test.significant(alpha) and test.diff is not None and test.diff < 0
            base_v, cand_v = metric_value(baseline.get("summary") or {}, metric), metric_value(summary, metric)
            reason = (f"{metric}: {_fmt(cand_v)} vs baseline {_fmt(base_v)} (paired diff {_fmt(test.diff)}, "
                      f"95% CI [{_fmt(test.low)}, {_fmt(test.high)}], p={_fmt(test.p_value)}, n={test.n})")
            checks.append({"check": f"baseline {metric}", "metric": metric, "passed": not worse,
                           "reason": ("significantly worse: " if worse else "") + reason, **test.as_dict()})
    return {"passed": all(c["passed"] for c in checks), "checks": checks,
            "failures": [c["reason"] for c in checks if not c["passed"]]}


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.4g}"


# -- judge calibration ----------------------------------------------------------------------------------
def calibrate(results: list[dict[str, Any]], evaluator: str) -> dict[str, Any]:
    """How far to trust a judge: its pass/fail against human labels (agreement, Cohen's kappa).

    Human labels are 1/0 (or true/false) per item, from `metadata.human_label` in the dataset or set on
    the result; numeric judges are compared on their pass decision."""
    judge, human = [], []
    for r in results:
        sc = r["scores"].get(evaluator)
        if sc is None and not r.get("error"):
            raise InvalidRequest(f"the experiment has no evaluator '{evaluator}'", param="evaluator")
        if sc is None or sc.get("passed") is None or r.get("human_label") is None:
            continue
        judge.append(int(bool(sc["passed"])))
        human.append(int(r["human_label"] >= 0.5))
    out = stats.agreement(judge, human)
    out["evaluator"] = evaluator
    out["confusion"] = {"both_pass": sum(1 for j, h in zip(judge, human, strict=True) if j and h),
                        "both_fail": sum(1 for j, h in zip(judge, human, strict=True) if not j and not h),
                        "judge_pass_human_fail": sum(1 for j, h in zip(judge, human, strict=True) if j and not h),
                        "judge_fail_human_pass": sum(1 for j, h in zip(judge, human, strict=True) if not j and h)}
    return out
