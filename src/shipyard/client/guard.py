"""`sdk.guard`: scan text, manage guardrail policies."""

from __future__ import annotations

from typing import Any

from shipyard.client.base import resource


@resource("guard")
class Guard:
    def __init__(self, client: Any) -> None:
        self.client = client

    def scan(self, text: str | None = None, *, messages: list[dict[str, Any]] | None = None,
             direction: str = "input", policy: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        """Scan a text (or a chat's messages). Options: role, model, system_prompt, response_format, reveal."""
        body = {"text": text, "messages": messages, "direction": direction, "policy": policy, **options}
        return self.client.request("POST", "/api/guard/scan", json={k: v for k, v in body.items() if v is not None})

    def scanners(self) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/guard/scanners")["data"]

    def policies(self) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/guard/policies")["data"]

    def set_policy(self, config: dict[str, Any], scope: str = "project", target: str | None = None) -> dict[str, Any]:
        return self.client.request("PUT", "/api/guard/policies",
                                   json={"scope": scope, "target": target, "config": config})

    def effective_policy(self, model: str | None = None, key_id: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"model": model, "key_id": key_id}.items() if v}
        return self.client.request("GET", "/api/guard/policies/effective", params=params)

    def get_policy(self, policy_id: str) -> dict[str, Any]:
        return self.client.request("GET", f"/api/guard/policies/{policy_id}")

    def delete_policy(self, policy_id: str) -> None:
        self.client.request("DELETE", f"/api/guard/policies/{policy_id}")
