"""SDK resources for observability: `sdk.traces`, `sdk.scores`, `sdk.stats`, `sdk.drift`.

To trace your own code, see `shipyard.client.observe`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from shipyard.client.base import Shipyard, resource


def _params(**fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if key == "metadata" and isinstance(value, dict):
            out[key] = [f"{k}={v}" for k, v in value.items()]
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


@resource("traces")
class Traces:
    def __init__(self, client: Shipyard) -> None:
        self.client = client

    def list(self, *, limit: int = 50, cursor: str | None = None, **filters: Any) -> dict[str, Any]:
        """One page, newest first: {"data": [...], "next_cursor"}. Filters: since, until, model, status,
        name, key_id, session_id, user_id, metadata (dict), q (words in inputs/outputs)."""
        return self.client.request("GET", "/api/traces", params=_params(limit=limit, cursor=cursor, **filters))

    def iter(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every matching trace, page after page."""
        cursor = None
        while True:
            page = self.list(cursor=cursor, **filters)
            yield from page["data"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def get(self, trace_id: str) -> dict[str, Any]:
        """A trace with its span tree (`spans`, each with `children`) and its scores."""
        return self.client.request("GET", f"/api/traces/{trace_id}")

    def spans(self, *, limit: int = 50, cursor: str | None = None, kind: str | None = None, content: bool = False,
              **filters: Any) -> dict[str, Any]:
        return self.client.request("GET", "/api/spans", params=_params(limit=limit, cursor=cursor, kind=kind,
                                                                         content=content or None, **filters))

    def score(self, trace_id: str, name: str, value: Any, *, span_id: str | None = None,
              data_type: str | None = None, source: str = "reviewer", comment: str | None = None,
              metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """Attach a score: a number, a boolean (thumbs up/down) or a label; source end-user, reviewer or
        evaluator."""
        body = {k: v for k, v in {"name": name, "value": value, "span_id": span_id, "data_type": data_type,
                                  "source": source, "comment": comment, "metadata": metadata}.items()
                if v is not None}
        return self.client.request("POST", f"/api/traces/{trace_id}/scores", json=body)


@resource("scores")
class Scores:
    def __init__(self, client: Shipyard) -> None:
        self.client = client

    def add(self, trace_id: str, name: str, value: Any, **fields: Any) -> dict[str, Any]:
        return self.client.request("POST", "/api/scores", json={"trace_id": trace_id, "name": name, "value": value,
                                                                 **{k: v for k, v in fields.items() if v is not None}})

    def list(self, *, trace_id: str | None = None, name: str | None = None, source: str | None = None,
             limit: int = 100) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/scores", params=_params(trace_id=trace_id, name=name, source=source,
                                                                          limit=limit))["data"]


@resource("stats")
class Stats:
    def __init__(self, client: Shipyard) -> None:
        self.client = client

    def get(self, *, since: datetime | str | None = None, until: datetime | str | None = None,
            bucket: str | None = None, model: str | None = None) -> dict[str, Any]:
        """Requests, errors, latency p50/p95, tokens and cost per bucket (minute/hour/day) and model."""
        return self.client.request("GET", "/api/stats", params=_params(since=since, until=until, bucket=bucket,
                                                                        model=model))


@resource("drift")
class Drift:
    def __init__(self, client: Shipyard) -> None:
        self.client = client

    def check(self, model: str, *, prompt: str | None = None, window_hours: float | None = None,
              reference_hours: float | None = None, **options: Any) -> dict[str, Any]:
        body = {k: v for k, v in {"model": model, "prompt": prompt, "window_hours": window_hours,
                                  "reference_hours": reference_hours, **options}.items() if v is not None}
        return self.client.request("POST", "/api/drift/check", json=body)

    def runs(self, *, model: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/drift/runs", params=_params(model=model, limit=limit))["data"]

    def alerts(self, *, model: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/drift/alerts", params=_params(model=model, limit=limit))["data"]
