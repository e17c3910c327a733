"""`shipyard deployments`: versions, aliases, canary, shadow, promote and roll back model deployments."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, fail, friendly

cli = typer.Typer(name="deployments", help="Model deployments: versions, canary, promote, rollback.",
                  no_args_is_help=True)


def _show(d: dict) -> None:
    canary = f"{d['canary']['version']} at {d['canary']['percent']:g}%" if d.get("canary") else "-"
    console.print(f"[bold]{d['name']}[/bold]  production={d['production']}  canary={canary}  "
                  f"shadow={d.get('shadow') or '-'}  strategy={d['strategy']}  revision={d['revision']}")
    for version, members in d["versions"].items():
        aliases = [a for a, v in d["aliases"].items() if v == version]
        models = ", ".join(f"{m['model']}(w={m['weight']:g})" for m in members)
        console.print(f"  {version:<10} {models}  {' '.join('@' + a for a in aliases)}")
    if d.get("fallbacks"):
        console.print(f"  fallbacks: {', '.join(d['fallbacks'])}")


@cli.command("list")
@friendly
def list_deployments(url: str = UrlOption, api_key: str = KeyOption) -> None:
    """List deployments with their production version and canary."""
    with client(url, api_key) as sdk:
        rows = sdk.deployments.list()
    table = Table("name", "production", "canary", "shadow", "versions", "strategy", "revision")
    for d in rows:
        canary = f"{d['canary']['version']} {d['canary']['percent']:g}%" if d.get("canary") else ""
        table.add_row(d["name"], d["production"], canary, d.get("shadow") or "", ", ".join(d["versions"]),
                      d["strategy"], str(d["revision"]))
    console.print(table)


@cli.command("show")
@friendly
def show(name: str, url: str = UrlOption, api_key: str = KeyOption) -> None:
    """One deployment in detail."""
    with client(url, api_key) as sdk:
        _show(sdk.deployments.get(name))


@cli.command("apply")
@friendly
def apply(file: Path = typer.Argument(..., help="YAML: name, strategy, models | versions + aliases, ..."),
          url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Create or replace a deployment from a YAML file."""
    if not file.exists():
        fail(f"no such file: {file}")
    spec = yaml.safe_load(file.read_text()) or {}
    if not isinstance(spec, dict) or not spec.get("name"):
        fail(f"{file}: expected a mapping with a 'name'")
    with client(url, api_key) as sdk:
        _show(sdk.deployments.put(spec["name"], spec))


@cli.command("version")
@friendly
def version(name: str, version: str, model: list[str] = typer.Option(..., "--model", help="model[:weight]"),
            url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Add a version: the models that serve it."""
    members = []
    for m in model:
        base, _, weight = m.partition(":")
        members.append({"model": base, "weight": float(weight) if weight else 1.0})
    with client(url, api_key) as sdk:
        _show(sdk.deployments.add_version(name, version, members))


@cli.command("alias")
@friendly
def alias(name: str, alias: str, version: str, url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Point an alias (production, staging, ...) at a version."""
    with client(url, api_key) as sdk:
        _show(sdk.deployments.set_alias(name, alias, version))


@cli.command("canary")
@friendly
def canary(name: str, version: str = typer.Argument(None, help="Version; leave out to stop the canary"),
           percent: float = typer.Option(10.0, help="Share of traffic, 0-100"),
           url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Send a share of traffic to a new version."""
    with client(url, api_key) as sdk:
        _show(sdk.deployments.canary(name, version, percent))


@cli.command("shadow")
@friendly
def shadow(name: str, version: str = typer.Argument(None, help="Version; leave out to stop shadowing"),
           url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Copy traffic to a version and record its answers without returning them."""
    with client(url, api_key) as sdk:
        _show(sdk.deployments.shadow(name, version))


@cli.command("promote")
@friendly
def promote(name: str, version: str = typer.Argument(None, help="Version; default: the canary's"),
            url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Make a version production, on every replica, without a restart."""
    with client(url, api_key) as sdk:
        _show(sdk.deployments.promote(name, version))


@cli.command("rollback")
@friendly
def rollback(name: str, url: str = UrlOption, api_key: str = KeyOption) -> None:
    """End the canary, or put the previous production version back."""
    with client(url, api_key) as sdk:
        _show(sdk.deployments.rollback(name))
