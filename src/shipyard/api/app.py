"""Assemble the server: the /v1 gateway, every capability's /api router, the dashboard."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from shipyard import __version__
from shipyard.api import errors, openai
from shipyard.config import Settings, load_settings
from shipyard.platform import Platform
from shipyard.ui import frame


def route_modules() -> list[ModuleType]:
    """Every module in `shipyard.api.routes`: a capability adds its HTTP surface by adding a module
    with a `router` (and optionally `async def startup(platform)`), never by editing this file."""
    import shipyard.api.routes as package

    return [importlib.import_module(f"{package.__name__}.{m.name}") for m in pkgutil.iter_modules(package.__path__)]


class ShipyardApp(FastAPI):
    """FastAPI, with the /v1 hot path dispatched before any middleware (see `api.openai`)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["app"] = self  # what `Request.app` reads, also on the /v1 fast path
            handler = openai.FAST_ROUTES.get((scope["method"], scope["path"]))
            if handler is not None:
                await handler(self.state.platform, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    settings = settings or load_settings()
    platform = platform or Platform.build(settings)
    modules = route_modules()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await platform.start()
        for module in modules:
            startup = getattr(module, "startup", None)
            if startup is not None:
                await startup(platform)
        try:
            yield
        finally:
            await platform.stop()

    app = ShipyardApp(title="Shipyard", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.platform = platform
    errors.install(app)
    app.router.routes.extend(openai.routes)
    for module in modules:
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)
    app.include_router(frame.router)
    for page in frame.page_modules():
        app.include_router(page.router)
    app.mount("/ui/static", StaticFiles(directory=frame.HERE / "static"), name="ui-static")
    return app
