"""`shipyard chains`: push chain files, install library chains, run them (streamed), read the run history."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.syntax import Syntax
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, friendly
from shipyard.cli.prompts import parse_vars, push_documents

cli = typer.Typer(name="chains", help="Chains: versioned multi-step specs, a library of ready ones, runs.",
                  no_args_is_help=True)


def _show_value(value: object) -> None:
    if isinstance(value, str):
        console.out(value, highlight=False)
    else:
        console.out(json.dumps(value, indent=2, ensure_ascii=False, default=str), highlight=False)


@cli.command()
@friendly
def run(
    name: str,
    input: list[str] = typer.Option(None, "--input", "-i",
                                    help="name=text, name=@file.txt, or name:=json (repeatable)"),
    inputs_json: str = typer.Option(None, "--inputs", help="All inputs as a JSON object, or @file.json"),
    version: str = typer.Option(None, "--version", "-v", help="Version number or label (default latest)"),
    stream: bool = typer.Option(True, "--stream/--no-stream", help="Show steps and the final text as they come"),
    as_json: bool = typer.Option(False, "--json", help="Print the whole run as JSON"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Run a chain and print its output."""
    inputs = parse_vars(input, inputs_json)
    with client(url, api_key) as sdk:
        if not stream or as_json:
            result = sdk.chains.run(name, inputs, version)
            _show_value(result if as_json else result["output"])
            return
        streamed = False
        for event in sdk.chains.stream(name, inputs, version):
            if event["event"] == "step":
                console.print(f"[dim]✓ {event['step']} ({event['type']}, {event['latency_ms']:.0f} ms)[/dim]",
                              highlight=False)
            elif event["event"] == "delta":
                streamed = True
                console.out(event["content"], end="", highlight=False)
            elif event["event"] == "done":
                if streamed:
                    console.out("")
                else:
                    _show_value(event["output"])
                console.print(f"[dim]run {event['id']} · trace {event['trace_id']} · "
                              f"{event['latency_ms']:.0f} ms[/dim]", highlight=False)


@cli.command()
@friendly
def push(
    paths: list[Path] = typer.Argument(..., help="YAML chain files or folders of them"),
    label: list[str] = typer.Option(None, "--label", "-l", help="Also point this label at every pushed version"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Add a version for every chain file whose content changed (each is checked before any is stored)."""
    push_documents("chains", paths, label, url, api_key)


@cli.command("list")
@friendly
def list_chains(url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Every chain with its latest version and labels."""
    with client(url, api_key) as sdk:
        rows = sdk.chains.list()
    table = Table("name", "latest", "versions", "labels", "description")
    for r in rows:
        labels = ", ".join(f"{k}→v{v}" for k, v in r["labels"].items() if k != "latest")
        table.add_row(r["name"], f"v{r['latest_version']}", str(r["versions"]), labels, (r["description"] or "")[:60])
    console.print(table)


@cli.command()
@friendly
def show(name: str, version: str = typer.Option(None, "--version", "-v"), url: str = UrlOption,
         api_key: str = KeyOption) -> None:
    """A chain version as the YAML file `push` takes."""
    with client(url, api_key) as sdk:
        console.print(Syntax(sdk.chains.export(name, version), "yaml"))


@cli.command()
@friendly
def diff(name: str, a: str, b: str = typer.Argument("latest"), url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Unified diff between two versions."""
    with client(url, api_key) as sdk:
        result = sdk.chains.diff(name, a, b)
    if result["identical"]:
        console.print(f"v{result['from']} and v{result['to']} are identical")
    else:
        console.print(Syntax(result["diff"], "diff"))


@cli.command()
@friendly
def label(name: str, label_name: str = typer.Argument(..., metavar="LABEL"), version: str = typer.Argument(...),
          url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Point a label at a version (rollback = an older one)."""
    with client(url, api_key) as sdk:
        result = sdk.chains.set_label(name, label_name, version)
    console.print(f"{name}: {label_name} → v{result['version']}")


@cli.command()
@friendly
def install(
    template: str = typer.Argument(..., help="A library chain: see `shipyard chains library`"),
    name: str = typer.Option(None, "--as", help="Register it under another name"),
    out: Path = typer.Option(None, "--out", "-o", help="Also write its YAML here, to adapt and push back"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Install a ready chain from the built-in library into the registry."""
    with client(url, api_key) as sdk:
        result = sdk.chains.install(template, name)
        if out:
            out.write_text(sdk.chains.export(result["name"], result["version"]))
    state = "installed" if result["created"] else "already installed"
    console.print(f"{result['name']} v{result['version']} {state}" + (f"; wrote {out}" if out else ""))


@cli.command("library")
@friendly
def list_library(url: str = UrlOption, api_key: str = KeyOption) -> None:
    """The ready chains you can install."""
    with client(url, api_key) as sdk:
        rows = sdk.chains.library()
    table = Table("name", "inputs", "description")
    for r in rows:
        table.add_row(r["name"], ", ".join(r["inputs"] or {}), r["description"] or "")
    console.print(table)


@cli.command()
@friendly
def runs(chain: str = typer.Option(None, help="Only this chain"), limit: int = typer.Option(20, "-n"),
         run_id: str = typer.Option(None, "--id", help="Show one run in full"), url: str = UrlOption,
         api_key: str = KeyOption) -> None:
    """Recent runs: status, failing step, latency."""
    with client(url, api_key) as sdk:
        if run_id:
            _show_value(sdk.chains.get_run(run_id))
            return
        rows = sdk.chains.runs(chain, limit=limit)
    table = Table("time", "run", "chain", "status", "failed step", "latency ms", "error")
    for r in rows:
        style = "green" if r["status"] == "ok" else "red"
        table.add_row((r["created_at"] or "")[:19].replace("T", " "), r["id"][:12], f"{r['chain']} v{r['version']}",
                      f"[{style}]{r['status']}[/{style}]", r["failed_step"] or "", f"{r['latency_ms'] or 0:.0f}",
                      ((r["error"] or {}).get("message") or "")[:70])
    console.print(table)
