"""`shipyard datasets`: create, import, export, and build datasets from traces."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, friendly

cli = typer.Typer(name="datasets", help="Evaluation datasets (versioned).", no_args_is_help=True)


@cli.command()
@friendly
def create(name: str, description: str = typer.Option(None), url: str = UrlOption, api_key: str = KeyOption) -> None:
    with client(url, api_key) as sdk:
        d = sdk.datasets.create(name, description)
    console.print(f"dataset {d['name']} ({d['id']})")


@cli.command("list")
@friendly
def list_(url: str = UrlOption, api_key: str = KeyOption) -> None:
    with client(url, api_key) as sdk:
        table = Table("id", "name", "version", "items", "updated")
        for d in sdk.datasets.list():
            table.add_row(d["id"], d["name"], str(d["version"]), str(d["items"]), d["updated_at"][:19])
        console.print(table)


@cli.command("import")
@friendly
def import_(
    dataset: str,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL (ours or OpenAI Evals) or CSV"),
    format: str = typer.Option(None, help="jsonl, csv or openai (default: from the extension)"),
    create: bool = typer.Option(False, "--create", help="Create the dataset if it does not exist"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    with client(url, api_key) as sdk:
        out = sdk.datasets.import_file(dataset, file, format, create)
    console.print(f"added {out['added']} items: {dataset} is now version {out['version']}")


@cli.command()
@friendly
def export(
    dataset: str,
    format: str = typer.Option("jsonl", help="jsonl, csv or openai"),
    version: int = typer.Option(None, help="A past version (default: current)"),
    output: Path = typer.Option(None, "--output", "-o", help="File to write (default: stdout)"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    with client(url, api_key) as sdk:
        text = sdk.datasets.export(dataset, format, version)
    if output is None:
        console.out(text, end="", highlight=False)
    else:
        output.write_text(text)
        console.print(f"wrote {output}")


@cli.command("from-traces")
@friendly
def from_traces(
    dataset: str,
    span: list[str] = typer.Option([], "--span", help="A generation span id (request id); repeat"),
    trace: list[str] = typer.Option([], "--trace", help="A trace id: all its generations; repeat"),
    no_expected: bool = typer.Option(False, "--no-expected", help="Do not use the recorded answer as reference"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Add recorded production calls as items."""
    with client(url, api_key) as sdk:
        out = sdk.datasets.from_traces(dataset, span, trace, not no_expected)
    console.print(f"added {out['added']} items: {dataset} is now version {out['version']}")


@cli.command()
@friendly
def delete(dataset: str, url: str = UrlOption, api_key: str = KeyOption) -> None:
    with client(url, api_key) as sdk:
        sdk.datasets.delete(dataset)
    console.print(f"deleted {dataset}")
