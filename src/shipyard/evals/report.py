"""HTML reports for an experiment and for a comparison: the same partials serve the dashboard pages
and the standalone files (`/api/evals/.../report`, `shipyard eval report`), which inline their CSS so
they can be attached to a CI run and opened anywhere."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from shipyard.evals.base import as_text
from shipyard.evals.compare import calibrate, item_values
from shipyard.ui.charts import bar_chart, histogram


def short(value: Any, limit: int = 300) -> str:
    text = as_text(value)
    return text if len(text) <= limit else text[:limit] + "…"


def experiment_context(exp: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    summary = exp.get("summary") or {}
    metrics = summary.get("metrics") or {}
    charts: list[Markup] = []
    if metrics:
        names = list(metrics)
        charts.append(bar_chart(names, [metrics[n].get("mean") or 0.0 for n in names],
                                title="Mean score per evaluator", y_label="mean"))
    for name in metrics:
        values = [v for v in item_values(results, name).values() if v is not None]
        if values:
            charts.append(distribution(values, title=f"{name}: score distribution"))
    calibrations = []
    if any(r.get("human_label") is not None for r in results):
        for name in metrics:
            cal = calibrate(results, name)
            if cal["n"]:
                calibrations.append(cal)
    return {"exp": exp, "summary": summary, "metrics": metrics, "results": results, "charts": charts,
            "calibrations": calibrations, "short": short}


def distribution(values: list[float], title: str) -> Markup:
    """Scores in 0..1 in fixed bins (two bars for pass/fail scores), anything else as a histogram."""
    if all(v in (0.0, 1.0) for v in values):
        return bar_chart(["0", "1"], [values.count(0.0), values.count(1.0)], title=title, y_label="items")
    if all(0.0 <= v <= 1.0 for v in values):
        counts = [0] * 10
        for v in values:
            counts[min(int(v * 10), 9)] += 1
        return bar_chart([f"{i / 10:.1f}" for i in range(10)], counts, title=title, y_label="items")
    return histogram(values, bins=10, title=title, x_label="items")


def comparison_context(cmp: dict[str, Any]) -> dict[str, Any]:
    exps = cmp["experiments"]
    names = [e["name"] for e in exps]
    charts: list[Markup] = []
    metric_rows = cmp["metrics"]
    pass_row = next((m for m in metric_rows if m["metric"] == "pass_rate"), None)
    if pass_row and any(e["mean"] is not None for e in pass_row["experiments"]):
        charts.append(bar_chart(names, [e["mean"] or 0.0 for e in pass_row["experiments"]],
                                title="Pass rate per experiment", y_label="pass rate"))
    focus = next((m["metric"] for m in metric_rows if m["metric"] != "pass_rate"), "pass_rate")
    if len(exps) >= 2:
        labels, diffs = [], []
        for item in cmp["items"]:
            base, cand = item["runs"][0], item["runs"][1]
            if base is None or cand is None:
                continue
            b, c = _metric(base, focus), _metric(cand, focus)
            if b is not None and c is not None:
                labels.append(f"#{item['position'] + 1}")
                diffs.append(c - b)
        charts.append(bar_chart(labels, diffs, title=f"Per-item difference in {focus}: {names[1]} − {names[0]}",
                                y_label="difference"))
    return {"cmp": cmp, "exps": exps, "metrics": metric_rows, "items": cmp["items"], "charts": charts,
            "short": short, "focus": focus}


def _metric(run: dict[str, Any], metric: str) -> float | None:
    if metric == "pass_rate":
        return None if run["passed"] is None else float(run["passed"])
    return run["scores"].get(metric)


def _standalone(template: str, title: str, context: dict[str, Any]) -> str:
    from shipyard.ui.frame import HERE, env

    css = (HERE / "static" / "shipyard.css").read_text()
    return env.get_template(template).render(title=title, css=Markup(css), standalone=True, **context)


def experiment_html(exp: dict[str, Any], results: list[dict[str, Any]], standalone: bool = True) -> str:
    return _standalone("evals/report.html", f"Experiment {exp['name']}",
                       {"partial": "evals/_experiment.html", **experiment_context(exp, results)})


def comparison_html(cmp: dict[str, Any], standalone: bool = True) -> str:
    title = "Comparison: " + " vs ".join(e["name"] for e in cmp["experiments"])
    return _standalone("evals/report.html", title, {"partial": "evals/_compare.html", **comparison_context(cmp)})
