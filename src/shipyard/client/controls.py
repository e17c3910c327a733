"""SDK resources for the gateway controls: `sdk.keys`, `sdk.projects`, `sdk.audit`, `sdk.deployments`,
`sdk.prices`, `sdk.spend`."""

from __future__ import annotations

from typing import Any

from shipyard.client.base import Shipyard, resource


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


@resource("keys")
class Keys:
    def __init__(self, client: Shipyard) -> None:
        self.client = client

    def create(self, name: str, role: str = "developer", project: str = "default", **fields: Any) -> dict[str, Any]:
        """Returns the key row with the secret under "key" (shown only this once).

        fields: models, expires_in_days, expires_at, rpm, tpm, max_concurrent, budget_daily, budget_monthly,
        semantic_cache."""
        return self.client.request("POST", "/api/keys", json=_clean({"name": name, "role": role,
                                                                      "project": project, **fields}))

    def list(self, project: str | None = None, include_revoked: bool = False) -> list[dict[str, Any]]:
        params = _clean({"project": project, "include_revoked": include_revoked or None})
        return self.client.request("GET", "/api/keys", params=params)["data"]

    def get(self, key_id: str) -> dict[str, Any]:
        return self.client.request("GET", f"/api/keys/{key_id}")

    def update(self, key_id: str, **fields: Any) -> dict[str, Any]:
        return self.client.request("PATCH", f"/api/keys/{key_id}", json=fields)

    def rotate(self, key_id: str) -> dict[str, Any]:
        return self.client.request("POST", f"/api/keys/{key_id}/rotate")

    def revoke(self, key_id: str) -> dict[str, Any]:
        return self.client.request("DELETE", f"/api/keys/{key_id}")

    def me(self) -> dict[str, Any]:
        return self.client.request("GET", "/api/me")


@resource("projects")
class Projects:
    def __init__(self, client: Shipyard) -> None:
        self.client = client

    def create(self, id: str, name: str | None = None, **limits: Any) -> dict[str, Any]:
        return self.client.request("POST", "/api/projects", json=_clean({"id": id, "name": name, **limits}))

    def list(self) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/projects")["data"]

    def update(self, project_id: str, **fields: Any) -> dict[str, Any]:
        return self.client.request("PATCH", f"/api/projects/{project_id}", json=fields)


@resource("audit")
class Audit:
    def __init__(self, client: Shipyard) -> None:
        self.client = client

    def list(self, limit: int = 100, **filters: Any) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/audit", params=_clean({"limit": limit, **filters}))["data"]


@resource("deployments")
class Deployments:
    def __init__(self, client: Shipyard) -> None:
        self.client = client

    def list(self) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/deployments")["data"]

    def get(self, name: str) -> dict[str, Any]:
        return self.client.request("GET", f"/api/deployments/{name}")

    def put(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Create or replace: {"strategy", "models": [...]} or {"versions": {...}, "aliases": {...}}, ..."""
        return self.client.request("PUT", f"/api/deployments/{name}", json=spec)

    def delete(self, name: str) -> dict[str, Any]:
        return self.client.request("DELETE", f"/api/deployments/{name}")

    def add_version(self, name: str, version: str, models: list[str | dict[str, Any]]) -> dict[str, Any]:
        members = [m if isinstance(m, dict) else {"model": m} for m in models]
        return self.client.request("POST", f"/api/deployments/{name}/versions",
                                   json={"version": version, "models": members})

    def set_alias(self, name: str, alias: str, version: str | None) -> dict[str, Any]:
        return self.client.request("PUT", f"/api/deployments/{name}/aliases/{alias}", json={"version": version})

    def canary(self, name: str, version: str | None, percent: float = 10.0) -> dict[str, Any]:
        return self.client.request("PUT", f"/api/deployments/{name}/canary",
                                   json={"version": version, "percent": percent})

    def shadow(self, name: str, version: str | None) -> dict[str, Any]:
        return self.client.request("PUT", f"/api/deployments/{name}/shadow", json={"version": version})

    def promote(self, name: str, version: str | None = None) -> dict[str, Any]:
        return self.client.request("POST", f"/api/deployments/{name}/promote", json={"version": version})

    def rollback(self, name: str) -> dict[str, Any]:
        return self.client.request("POST", f"/api/deployments/{name}/rollback")


@resource("prices")
class Prices:
    def __init__(self, client: Shipyard) -> None:
        self.client = client

    def list(self) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/prices")["data"]

    def set(self, model: str, input: float, output: float, cached_input: float | None = None) -> dict[str, Any]:
        return self.client.request("PUT", f"/api/prices/{model}",
                                   json={"input": input, "output": output, "cached_input": cached_input})


@resource("spend")
class SpendResource:
    def __init__(self, client: Shipyard) -> None:
        self.client = client

    def get(self, group_by: str = "key", days: int = 30, project: str | None = None) -> dict[str, Any]:
        return self.client.request("GET", "/api/spend",
                                   params=_clean({"group_by": group_by, "days": days, "project": project}))
