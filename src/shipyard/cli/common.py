"""What every CLI command shares: the SDK client, the console, and one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console

from shipyard.client import Shipyard
from shipyard.errors import ShipyardError

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

UrlOption = typer.Option(None, "--url", envvar="SHIPYARD_URL", help="Shipyard server, default http://127.0.0.1:4000")
KeyOption = typer.Option(None, "--api-key", envvar="SHIPYARD_API_KEY", help="API key")


def client(url: str | None, api_key: str | None) -> Shipyard:
    return Shipyard(base_url=url, api_key=api_key)


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def friendly(fn: F) -> F:
    """Turn platform errors into one readable line and a non-zero exit, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ShipyardError as exc:
            fail(exc.message)
        except (OSError, ValueError) as exc:
            fail(str(exc) or exc.__class__.__name__)
        except KeyboardInterrupt:
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
