"""`shipyard keys`: create, list, show, rotate and revoke API keys."""

from __future__ import annotations

import typer
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, friendly

cli = typer.Typer(name="keys", help="API keys: create, list, rotate, revoke.", no_args_is_help=True)


@cli.command("create")
@friendly
def create(
    name: str = typer.Argument(..., help="What the key is for"),
    role: str = typer.Option("developer", help="admin | developer | viewer | service"),
    project: str = typer.Option("default", help="The project the key belongs to (created if new)"),
    model: list[str] = typer.Option(None, "--model", help="Limit the key to this model (repeatable)"),
    expires_in_days: float = typer.Option(None, help="Expire after this many days"),
    rpm: int = typer.Option(None, help="Requests per minute"),
    tpm: int = typer.Option(None, help="Tokens per minute"),
    max_concurrent: int = typer.Option(None, help="Requests at once"),
    budget_daily: float = typer.Option(None, help="USD per day"),
    budget_monthly: float = typer.Option(None, help="USD per month"),
    semantic_cache: bool = typer.Option(False, help="Serve this key from the semantic cache"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Create a key and print its secret (shown only this once)."""
    with client(url, api_key) as sdk:
        key = sdk.keys.create(name, role=role, project=project, models=model or None,
                              expires_in_days=expires_in_days, rpm=rpm, tpm=tpm, max_concurrent=max_concurrent,
                              budget_daily=budget_daily, budget_monthly=budget_monthly,
                              semantic_cache=semantic_cache or None)
    console.print(f"created {key['id']} ({key['role']} in project {key['project']}); the secret, shown only once:")
    console.out(key["key"], highlight=False)


@cli.command("list")
@friendly
def list_keys(
    project: str = typer.Option(None, help="Only this project"),
    all_keys: bool = typer.Option(False, "--all", help="Include revoked keys"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """List keys (their prefixes, never their secrets)."""
    with client(url, api_key) as sdk:
        rows = sdk.keys.list(project=project, include_revoked=all_keys)
    table = Table("id", "name", "project", "role", "prefix", "models", "limits", "expires", "status")
    for k in rows:
        limits = " ".join(f"{n}={k[n]}" for n in ("rpm", "tpm", "max_concurrent", "budget_daily", "budget_monthly")
                          if k.get(n) is not None)
        table.add_row(k["id"], k["name"], k["project"], k["role"], k["prefix"] + "…",
                      ",".join(k["models"]) if k["models"] is not None else "all", limits,
                      (k["expires_at"] or "")[:16], k["status"])
    console.print(table)


@cli.command("revoke")
@friendly
def revoke(key_id: str = typer.Argument(..., help="Key id (key_...)"), url: str = UrlOption,
           api_key: str = KeyOption) -> None:
    """Revoke a key: it stops working at once, everywhere."""
    with client(url, api_key) as sdk:
        key = sdk.keys.revoke(key_id)
    console.print(f"revoked {key['id']} ({key['name']})")


@cli.command("rotate")
@friendly
def rotate(key_id: str = typer.Argument(..., help="Key id (key_...)"), url: str = UrlOption,
           api_key: str = KeyOption) -> None:
    """Give a key a new secret; the old one stops working at once."""
    with client(url, api_key) as sdk:
        key = sdk.keys.rotate(key_id)
    console.print(f"rotated {key['id']}; the new secret, shown only once:")
    console.out(key["key"], highlight=False)
