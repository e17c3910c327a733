"""Scores: recent feedback, reviews and evaluations, with a summary per score name."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from shipyard.auth import Principal, require
from shipyard.observe.scores import SOURCES, list_scores
from shipyard.ui.charts import bar_chart
from shipyard.ui.frame import render

router = APIRouter(prefix="/ui/scores", include_in_schema=False)
NAV = [("Scores", "/ui/scores")]
ORDER = 12


@router.get("", response_class=HTMLResponse)
def scores(request: Request, name: str = "", source: str = "",
           principal: Principal = Depends(require("traces:read"))) -> HTMLResponse:
    rows = list_scores(request.app.state.platform.store, principal.project_id, name=name or None,
                       source=source or None, limit=500)
    summary: dict[str, dict[str, Any]] = defaultdict(lambda: {"count": 0, "numbers": [], "labels": defaultdict(int)})
    for s in rows:
        item = summary[s["name"]]
        item["count"] += 1
        if isinstance(s["value"], bool):
            item["numbers"].append(1.0 if s["value"] else 0.0)
        elif isinstance(s["value"], (int, float)):
            item["numbers"].append(float(s["value"]))
        else:
            item["labels"][str(s["value"])] += 1
    table = []
    for key, item in sorted(summary.items()):
        mean = sum(item["numbers"]) / len(item["numbers"]) if item["numbers"] else None
        labels = ", ".join(f"{k}: {v}" for k, v in sorted(item["labels"].items(), key=lambda kv: -kv[1])[:5])
        table.append({"name": key, "count": item["count"], "mean": mean, "labels": labels})
    chart = bar_chart([t["name"] for t in table], [t["count"] for t in table], title="Scores by name",
                      y_label="scores")
    return render(request, "scores/index.html", title="Scores", scores=rows[:200], summary=table, chart=chart,
                  name=name, source=source, sources=SOURCES)
