"""`sdk.chains`: push and version chains, install library chains, run them (optionally streamed), read runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from shipyard.client.base import raise_for_error, resource
from shipyard.errors import InvalidRequest, ShipyardError


def _error_from_event(body: dict[str, Any]) -> ShipyardError:
    err = body.get("error", {})
    exc = ShipyardError(err.get("message", "the run failed"), param=err.get("param"), code=err.get("code"))
    exc.type = err.get("type", exc.type)
    exc.extra = {k: v for k, v in err.items() if k not in ("message", "type", "param", "code")}
    return exc


@resource("chains")
class Chains:
    def __init__(self, client: Any) -> None:
        self.client = client

    def list(self, search: str | None = None) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/chains", params={"search": search} if search else None)["data"]

    def show(self, name: str, version: int | str | None = None) -> dict[str, Any]:
        return self.client.request("GET", f"/api/chains/{name}", params={"version": version} if version else None)

    def versions(self, name: str) -> list[dict[str, Any]]:
        return self.client.request("GET", f"/api/chains/{name}/versions")["data"]

    def create(self, name: str, spec: dict[str, Any], *, labels: list[str] | None = None,
               message: str | None = None) -> dict[str, Any]:
        doc = {**spec, "name": name, "labels": labels, "message": message}
        return self.client.request("POST", "/api/chains", json={k: v for k, v in doc.items() if v is not None})

    def push(self, *paths: str | Path) -> list[dict[str, Any]]:
        from shipyard.prompts.service import read_documents

        docs = [doc for _file, doc in read_documents(list(paths))]
        if not docs:
            raise InvalidRequest("no chain files (*.yaml, *.yml) found in " + ", ".join(map(str, paths)))
        return self.client.request("POST", "/api/chains/import", json={"documents": docs})["data"]

    def export(self, name: str, version: int | str | None = None) -> str:
        response = self.client.http.get(f"/api/chains/{name}/export", params={"version": version} if version else None)
        raise_for_error(response)
        return response.text

    def diff(self, name: str, a: int | str, b: int | str = "latest") -> dict[str, Any]:
        return self.client.request("GET", f"/api/chains/{name}/diff", params={"from": a, "to": b})

    def set_label(self, name: str, label: str, version: int | str) -> dict[str, Any]:
        return self.client.request("PUT", f"/api/chains/{name}/labels/{label}", json={"version": version})

    def remove_label(self, name: str, label: str) -> None:
        self.client.request("DELETE", f"/api/chains/{name}/labels/{label}")

    def delete(self, name: str) -> dict[str, Any]:
        return self.client.request("DELETE", f"/api/chains/{name}")

    def library(self) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/chains/library")["data"]

    def install(self, template: str, name: str | None = None) -> dict[str, Any]:
        return self.client.request("POST", f"/api/chains/library/{template}/install", json={"name": name})

    def run(self, name: str, inputs: dict[str, Any] | None = None, version: int | str | None = None) -> dict[str, Any]:
        """Run and wait: {id, status, output, steps, trace_id, ...}; a failed step raises, naming the step."""
        return self.client.request("POST", f"/api/chains/{name}/run", json={"inputs": inputs or {}, "version": version})

    def stream(self, name: str, inputs: dict[str, Any] | None = None,
               version: int | str | None = None) -> Iterator[dict[str, Any]]:
        """Run and yield events as they come: step (one per finished step), delta (text of the final step), and
        done (the run). A failure raises, naming the step."""
        body = {"inputs": inputs or {}, "version": version, "stream": True}
        yield from self._events(f"/api/chains/{name}/run", body)

    def run_spec(self, spec: dict[str, Any], inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.client.request("POST", "/api/chains/run", json={"spec": spec, "inputs": inputs or {}})

    def _events(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with self.client.stream("POST", path, json=body) as response:
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event:
                    data = orjson.loads(line[6:])
                    if event == "error":
                        raise _error_from_event(data)
                    yield {"event": event, **data} if isinstance(data, dict) else {"event": event, "data": data}

    def runs(self, chain: str | None = None, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"chain": chain, "status": status, "limit": limit}.items() if v is not None}
        return self.client.request("GET", "/api/chains/runs", params=params)["data"]

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self.client.request("GET", f"/api/chains/runs/{run_id}")
