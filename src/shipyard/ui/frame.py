"""The dashboard frame: layout, navigation, login, and page discovery.

A page module in `shipyard.ui.pages` defines `router = APIRouter(prefix="/ui/<area>")` and
`NAV = [("Title", "/ui/<area>")]` (optionally `ORDER = <int>` to place it in the menu), renders
templates from `templates/<area>/` that extend `base.html`, and protects its routes with the same
`Depends(require("<area>:read"))` as the API. The browser authenticates with the key it gave on the
login page, kept in the `shipyard_key` cookie.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from shipyard import __version__

HERE = Path(__file__).parent
COOKIE = "shipyard_key"

env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


@cache
def page_modules() -> list[ModuleType]:
    import shipyard.ui.pages as package

    modules = [importlib.import_module(f"{package.__name__}.{m.name}") for m in pkgutil.iter_modules(package.__path__)]
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def nav() -> list[tuple[str, str]]:
    return [item for module in page_modules() for item in getattr(module, "NAV", [])]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page inside the frame; `active` marks the current menu entry."""
    html = env.get_template(template).render(
        request=request, nav=nav(), path=request.url.path, version=__version__, **context
    )
    return HTMLResponse(html, status_code=status_code)


def fmt_number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def fmt_json(value: Any) -> str:
    """Stored inputs and outputs, readable: strings as they are, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    import orjson

    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def fmt_time(value: Any) -> str:
    """ISO timestamps as 'YYYY-MM-DD HH:MM:SS' (UTC)."""
    return str(value or "")[:19].replace("T", " ")


env.filters["num"] = fmt_number
env.filters["json"] = fmt_json
env.filters["time"] = fmt_time

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/ui", error: str | None = None) -> HTMLResponse:
    return render(request, "login.html", next=next, error=error)


@router.post("/login")
def login(request: Request, api_key: str = Form(...), next: str = Form("/ui")) -> RedirectResponse:
    target = next if next.startswith("/ui") else "/ui"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, api_key, httponly=True, samesite="strict")
    return response


@router.post("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
