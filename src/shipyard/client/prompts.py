"""`sdk.prompts`: the prompt registry from an application, built so the registry is never a single point
of failure.

`get()` answers from a local cache; once an entry is older than `ttl` it is still returned at once while
a background thread fetches the new one (stale-while-revalidate). When the server cannot be reached, the
last known version is used, or the `default` given, and only with neither does `get()` raise. Rendering
happens locally, in the same sandbox as the server's.

    prompt = sdk.prompts.get("support-reply", label="production", default={"messages": [...]})
    answer = sdk.openai().chat.completions.create(**prompt.request(question="..."))
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from shipyard.client.base import resource
from shipyard.errors import InvalidRequest, NotFound, ShipyardError
from shipyard.prompts import template

log = logging.getLogger(__name__)


class Prompt:
    """One prompt version, renderable offline."""

    def __init__(self, data: dict[str, Any], *, fallback: bool = False) -> None:
        self.data = data
        self.name: str = data["name"]
        self.version: int | None = data.get("version")
        self.spec: dict[str, Any] = data["spec"]
        self.labels: list[str] = data.get("labels", [])
        self.fallback = fallback  # True when this is the caller's default, not a registry version

    @property
    def model(self) -> str | None:
        return self.spec.get("model")

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.spec.get("params") or {})

    def render(self, **variables: Any) -> list[dict[str, Any]] | str:
        """Chat messages for a chat prompt, a string for a text prompt."""
        out = template.render(self.spec, variables, f"prompt '{self.name}' v{self.version}")
        return out.get("messages", out.get("text"))  # type: ignore[return-value]

    def messages(self, **variables: Any) -> list[dict[str, Any]]:
        return template.as_messages(template.render(self.spec, variables, f"prompt '{self.name}'"))

    def request(self, **variables: Any) -> dict[str, Any]:
        """Keyword arguments for `openai_client.chat.completions.create(**...)`: model, params, messages."""
        body = {**self.params, "messages": self.messages(**variables)}
        if self.model:
            body["model"] = self.model
        return body

    def __repr__(self) -> str:
        return f"Prompt({self.name!r}, version={self.version}, labels={self.labels})"


@resource("prompts")
class Prompts:
    def __init__(self, client: Any, ttl: float = 60.0) -> None:
        self.client = client
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[Prompt, float]] = {}
        self._refreshing: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    # -- the application path: cached, refreshed in the background, never failing when it has something --
    def get(self, name: str, label: str | None = None, *, version: int | None = None,
            default: dict[str, Any] | None = None, ttl: float | None = None) -> Prompt:
        ref = str(version) if version is not None else (label or "latest")
        key = (name, ref)
        ttl = self.ttl if ttl is None else ttl
        cached = self._cache.get(key)
        if cached is not None:
            prompt, fetched = cached
            if time.monotonic() - fetched >= ttl:
                self._refresh_in_background(key)
            return prompt
        try:
            return self._fetch(key)
        except NotFound:
            if default is None:
                raise
            return self._default(name, default)
        except ShipyardError as exc:  # unreachable, timed out, or the server failed
            if default is None:
                raise
            log.warning("prompt %s@%s: %s; using the default", name, ref, exc.message)
            return self._default(name, default)

    def _fetch(self, key: tuple[str, str]) -> Prompt:
        name, ref = key
        data = self.client.request("GET", f"/api/prompts/{name}", params={"version": ref})
        prompt = Prompt(data)
        with self._lock:
            self._cache[key] = (prompt, time.monotonic())
        return prompt

    def _refresh_in_background(self, key: tuple[str, str]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def work() -> None:
            try:
                self._fetch(key)
            except Exception as exc:  # keep serving the last known version
                log.warning("could not refresh prompt %s@%s (%s); serving the cached version", *key, exc)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=work, name=f"shipyard-prompt-{key[0]}", daemon=True).start()

    @staticmethod
    def _default(name: str, spec: dict[str, Any]) -> Prompt:
        clean = template.normalize({k: v for k, v in spec.items() if k not in ("name", "labels", "message")})
        return Prompt({"name": name, "version": None, "spec": clean, "labels": []}, fallback=True)

    def invalidate(self, name: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._cache if name is None or k[0] == name]:
                del self._cache[key]

    # -- managing the registry ------------------------------------------------------------------------
    def list(self, search: str | None = None) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/prompts", params={"search": search} if search else None)["data"]

    def show(self, name: str, version: int | str | None = None) -> dict[str, Any]:
        return self.client.request("GET", f"/api/prompts/{name}", params={"version": version} if version else None)

    def versions(self, name: str) -> list[dict[str, Any]]:
        return self.client.request("GET", f"/api/prompts/{name}/versions")["data"]

    def create(self, name: str, *, messages: list[dict[str, Any]] | None = None, template: str | None = None,
               variables: dict[str, Any] | None = None, model: str | None = None,
               params: dict[str, Any] | None = None, labels: list[str] | None = None,
               message: str | None = None) -> dict[str, Any]:
        doc = {"name": name, "messages": messages, "template": template, "variables": variables, "model": model,
               "params": params, "labels": labels, "message": message}
        return self.client.request("POST", "/api/prompts", json={k: v for k, v in doc.items() if v is not None})

    def push(self, *paths: str | Path) -> list[dict[str, Any]]:
        """Push YAML files or folders of them (all checked by the server before any is stored)."""
        from shipyard.prompts.service import read_documents

        docs = [doc for _file, doc in read_documents(list(paths))]
        if not docs:
            raise InvalidRequest("no prompt files (*.yaml, *.yml) found in " + ", ".join(map(str, paths)))
        return self.client.request("POST", "/api/prompts/import", json={"documents": docs})["data"]

    def export(self, name: str, version: int | str | None = None) -> str:
        response = self.client.http.get(f"/api/prompts/{name}/export", params={"version": version} if version else None)
        from shipyard.client.base import raise_for_error

        raise_for_error(response)
        return response.text

    def diff(self, name: str, a: int | str, b: int | str = "latest") -> dict[str, Any]:
        return self.client.request("GET", f"/api/prompts/{name}/diff", params={"from": a, "to": b})

    def set_label(self, name: str, label: str, version: int | str) -> dict[str, Any]:
        return self.client.request("PUT", f"/api/prompts/{name}/labels/{label}", json={"version": version})

    def remove_label(self, name: str, label: str) -> None:
        self.client.request("DELETE", f"/api/prompts/{name}/labels/{label}")

    def delete(self, name: str) -> dict[str, Any]:
        return self.client.request("DELETE", f"/api/prompts/{name}")

    def render(self, name: str, variables: dict[str, Any] | None = None,
               version: int | str | None = None) -> dict[str, Any]:
        """Render on the server (the cached `get(...).render()` renders locally)."""
        return self.client.request("POST", f"/api/prompts/{name}/render",
                                   json={"version": version, "variables": variables or {}})

    def run(self, name: str, variables: dict[str, Any] | None = None, version: int | str | None = None,
            model: str | None = None, **params: Any) -> dict[str, Any]:
        return self.client.request("POST", f"/api/prompts/{name}/run",
                                   json={"version": version, "variables": variables or {}, "model": model,
                                         "params": params})
