"""SDK: `sdk.datasets` and `sdk.evals` (experiments, comparisons, gates, reports, online rules)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.client.base import resource
from shipyard.errors import UpstreamTimeout

FINISHED = ("completed", "failed", "cancelled")


@resource("datasets")
class Datasets:
    def __init__(self, client: Any) -> None:
        self.client = client

    def create(self, name: str, description: str | None = None, metadata: dict[str, Any] | None = None) -> dict:
        return self.client.request("POST", "/api/datasets", json={"name": name, "description": description,
                                                                  "metadata": metadata})

    def list(self) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/datasets")["data"]

    def get(self, ref: str) -> dict[str, Any]:
        return self.client.request("GET", f"/api/datasets/{ref}")

    def delete(self, ref: str) -> None:
        self.client.request("DELETE", f"/api/datasets/{ref}")

    def items(self, ref: str, version: int | None = None, limit: int = 10_000, offset: int = 0) -> dict[str, Any]:
        params = {"limit": limit, "offset": offset, **({"version": version} if version is not None else {})}
        return self.client.request("GET", f"/api/datasets/{ref}/items", params=params)

    def add_items(self, ref: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return self.client.request("POST", f"/api/datasets/{ref}/items", json={"items": items})

    def update_item(self, ref: str, item_id: str, item: dict[str, Any]) -> dict[str, Any]:
        return self.client.request("PATCH", f"/api/datasets/{ref}/items/{item_id}", json=item)

    def remove_items(self, ref: str, ids: list[str]) -> dict[str, Any]:
        return self.client.request("POST", f"/api/datasets/{ref}/items/remove", json={"ids": ids})

    def import_file(self, ref: str, path: str | Path, format: str | None = None, create: bool = False) -> dict:
        """Import JSONL (ours or OpenAI Evals samples) or CSV; the format follows the file extension."""
        path = Path(path)
        fmt = format or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
        return self.client.request("POST", f"/api/datasets/{ref}/import", content=path.read_bytes(),
                                   params={"format": fmt, "create": str(create).lower()},
                                   headers={"content-type": "application/octet-stream"})

    def export(self, ref: str, format: str = "jsonl", version: int | None = None) -> str:
        params = {"format": format, **({"version": version} if version is not None else {})}
        response = self.client.http.get(f"/api/datasets/{ref}/export", params=params)
        from shipyard.client.base import raise_for_error

        raise_for_error(response)
        return response.text

    def from_traces(self, ref: str, span_ids: list[str] | None = None, trace_ids: list[str] | None = None,
                    expected_from_output: bool = True) -> dict[str, Any]:
        return self.client.request("POST", f"/api/datasets/{ref}/from-traces", json={
            "span_ids": span_ids or [], "trace_ids": trace_ids or [], "expected_from_output": expected_from_output})


@resource("evals")
class Evals:
    def __init__(self, client: Any) -> None:
        self.client = client

    def evaluators(self) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/evals/evaluators")["data"]

    def create(self, dataset: str, target: Any, evaluators: list[Any], name: str | None = None,
               concurrency: int | None = None, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start an experiment on the server; it runs in the background (see `wait`)."""
        return self.client.request("POST", "/api/evals/experiments", json={
            "dataset": dataset, "target": target, "evaluators": evaluators, "name": name,
            "concurrency": concurrency, "metadata": metadata})

    def run(self, dataset: str, target: Any, evaluators: list[Any], *, timeout: float | None = None,
            on_progress: Callable[[dict[str, Any]], None] | None = None, **kwargs: Any) -> dict[str, Any]:
        exp = self.create(dataset, target, evaluators, **kwargs)
        return self.wait(exp["id"], timeout=timeout, on_progress=on_progress)

    def wait(self, ref: str, *, timeout: float | None = None, poll: float = 0.5,
             on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            exp = self.get(ref)
            if on_progress:
                on_progress(exp)
            if exp["status"] in FINISHED:
                return exp
            if deadline is not None and time.monotonic() > deadline:
                raise UpstreamTimeout(f"experiment {exp['id']} is still {exp['status']} after {timeout:g}s")
            time.sleep(poll)

    def get(self, ref: str) -> dict[str, Any]:
        return self.client.request("GET", f"/api/evals/experiments/{ref}")

    def list(self, dataset: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        params = {"limit": limit, **({"dataset": dataset} if dataset else {})}
        return self.client.request("GET", "/api/evals/experiments", params=params)["data"]

    def results(self, ref: str) -> list[dict[str, Any]]:
        return self.client.request("GET", f"/api/evals/experiments/{ref}/results")["data"]

    def resume(self, ref: str) -> dict[str, Any]:
        return self.client.request("POST", f"/api/evals/experiments/{ref}/resume")

    def cancel(self, ref: str) -> dict[str, Any]:
        return self.client.request("POST", f"/api/evals/experiments/{ref}/cancel")

    def delete(self, ref: str) -> None:
        self.client.request("DELETE", f"/api/evals/experiments/{ref}")

    def label(self, ref: str, item_id: str, label: float | None) -> dict[str, Any]:
        return self.client.request("PUT", f"/api/evals/experiments/{ref}/results/{item_id}/label",
                                   json={"label": label})

    def calibration(self, ref: str, evaluator: str) -> dict[str, Any]:
        return self.client.request("GET", f"/api/evals/experiments/{ref}/calibration",
                                   params={"evaluator": evaluator})

    def gates(self, ref: str, gates: list[str], baseline: str | None = None, alpha: float = 0.05) -> dict:
        return self.client.request("POST", f"/api/evals/experiments/{ref}/gates",
                                   json={"gates": gates, "baseline": baseline, "alpha": alpha})

    def report(self, ref: str) -> str:
        return self._text(f"/api/evals/experiments/{ref}/report", {})

    def compare(self, refs: list[str]) -> dict[str, Any]:
        return self.client.request("GET", "/api/evals/compare", params={"ids": refs})

    def compare_report(self, refs: list[str]) -> str:
        return self._text("/api/evals/compare/report", {"ids": refs})

    def _text(self, path: str, params: dict[str, Any]) -> str:
        from shipyard.client.base import raise_for_error

        response = self.client.http.get(path, params=params)
        raise_for_error(response)
        return response.text

    # -- online rules ---------------------------------------------------------------------------------
    def online_create(self, name: str, evaluators: list[Any], sample_rate: float = 0.1, model: str | None = None,
                      backfill_hours: float = 0.0) -> dict[str, Any]:
        return self.client.request("POST", "/api/evals/online", json={
            "name": name, "evaluators": evaluators, "sample_rate": sample_rate, "model": model,
            "backfill_hours": backfill_hours})

    def online_list(self) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/evals/online")["data"]

    def online_update(self, ref: str, enabled: bool | None = None, sample_rate: float | None = None) -> dict:
        return self.client.request("PATCH", f"/api/evals/online/{ref}",
                                   json={"enabled": enabled, "sample_rate": sample_rate})

    def online_delete(self, ref: str) -> None:
        self.client.request("DELETE", f"/api/evals/online/{ref}")

    def online_run(self, ref: str) -> dict[str, Any]:
        return self.client.request("POST", f"/api/evals/online/{ref}/run")

    def online_scores(self, ref: str, limit: int = 200) -> list[dict[str, Any]]:
        return self.client.request("GET", f"/api/evals/online/{ref}/scores", params={"limit": limit})["data"]

    def online_series(self, ref: str, hours: float = 168, bucket_minutes: int = 60) -> dict[str, Any]:
        return self.client.request("GET", f"/api/evals/online/{ref}/series",
                                   params={"hours": hours, "bucket_minutes": bucket_minutes})["series"]
