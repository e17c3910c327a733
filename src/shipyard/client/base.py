"""The SDK's transport and resource registry."""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from shipyard import errors

DEFAULT_URL = "http://127.0.0.1:4000"
_RESOURCES: dict[str, type] = {}
T = TypeVar("T", bound=type)

_BY_STATUS: dict[int, type[errors.ShipyardError]] = {
    400: errors.InvalidRequest, 401: errors.AuthenticationError, 403: errors.PermissionDenied,
    404: errors.NotFound, 409: errors.Conflict, 413: errors.PayloadTooLarge, 429: errors.RateLimited,
    502: errors.UpstreamError, 503: errors.Overloaded, 504: errors.UpstreamTimeout,
}


def resource(name: str) -> Callable[[T], T]:
    def register(cls: T) -> T:
        _RESOURCES[name] = cls
        return cls

    return register


def _load_resources() -> None:
    import shipyard.client as package

    for m in pkgutil.iter_modules(package.__path__):
        if m.name != "base":
            importlib.import_module(f"{package.__name__}.{m.name}")


def raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        err = response.json().get("error", {})
        message, code, param = err.get("message"), err.get("code"), err.get("param")
        extra = {k: v for k, v in err.items() if k not in ("message", "type", "param", "code")}
    except ValueError:
        message, code, param, extra = response.text[:300] or response.reason_phrase, None, None, {}
    cls = _BY_STATUS.get(response.status_code, errors.ShipyardError)
    exc = cls(message or f"HTTP {response.status_code}", param=param, code=code, extra=extra)
    exc.status = response.status_code
    raise exc


class Shipyard:
    def __init__(self, base_url: str | None = None, api_key: str | None = None, timeout: float = 600.0) -> None:
        self.base_url = (base_url or os.environ.get("SHIPYARD_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key or os.environ.get("SHIPYARD_API_KEY")
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        _load_resources()
        for name, cls in _RESOURCES.items():
            setattr(self, name, cls(self))

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise errors.UpstreamError(self._unreachable()) from exc
        except httpx.TimeoutException as exc:
            raise errors.UpstreamTimeout(f"Shipyard at {self.base_url} did not answer in time") from exc
        raise_for_error(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self.http.stream(method, path, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    raise_for_error(response)
                yield response
        except httpx.ConnectError as exc:
            raise errors.UpstreamError(self._unreachable()) from exc

    def _unreachable(self) -> str:
        return f"cannot reach Shipyard at {self.base_url}; is `shipyard serve` running?"

    def openai(self) -> Any:
        """An official `openai.OpenAI` client pointed at this server's /v1."""
        from openai import OpenAI

        return OpenAI(base_url=self.base_url + "/v1", api_key=self.api_key or "shipyard")

    # -- the foundation's own calls ---------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self.request("GET", "/health")

    def models(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/models")["data"]

    def requests(self, limit: int = 50, **filters: Any) -> list[dict[str, Any]]:
        params = {"limit": limit, **{k: v for k, v in filters.items() if v is not None}}
        return self.request("GET", "/api/requests", params=params)["data"]

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Shipyard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
