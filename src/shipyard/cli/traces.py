"""`shipyard traces`: search traces and open one as a tree."""

from __future__ import annotations

from typing import Any

import orjson
import typer
from rich.table import Table
from rich.tree import Tree

from shipyard.cli.common import KeyOption, UrlOption, client, console, fail, friendly

cli = typer.Typer(name="traces", help="Traces: search them, open one as a span tree.", no_args_is_help=True)


def parse_metadata(items: list[str] | None) -> dict[str, str] | None:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--metadata takes key=value, not '{item}'")
        out[key] = value
    return out or None


def _short(value: Any, n: int = 60) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


@cli.command("list")
@friendly
def list_traces(
    limit: int = typer.Option(20, "--limit", "-n", help="How many traces"),
    since: str = typer.Option(None, help="Start of the time range (ISO 8601)"),
    until: str = typer.Option(None, help="End of the time range (ISO 8601)"),
    model: str = typer.Option(None, help="Traces with a call to this model"),
    status: str = typer.Option(None, help="ok | error"),
    session: str = typer.Option(None, "--session", help="Session id"),
    user: str = typer.Option(None, "--user", help="User id"),
    key: str = typer.Option(None, "--key", help="API key id"),
    metadata: list[str] = typer.Option(None, "--metadata", "-m", help="key=value (repeatable)"),
    search: str = typer.Option(None, "--search", "-q", help="Words in an input or output"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Recent traces, newest first."""
    with client(url, api_key) as sdk:
        page = sdk.traces.list(limit=limit, since=since, until=until, model=model, status=status,
                               session_id=session, user_id=user, key_id=key, metadata=parse_metadata(metadata),
                               q=search)
    table = Table("time", "trace", "name", "status", "latency ms", "spans", "models", "tokens in/out", "input")
    for t in page["data"]:
        style = "green" if t["status"] == "ok" else "red"
        latency = "" if t["latency_ms"] is None else f"{t['latency_ms']:.1f}"
        table.add_row(t["start_time"][:19].replace("T", " "), t["id"], t["name"], f"[{style}]{t['status']}[/{style}]",
                      latency, str(t["spans"]), ",".join(t["models"]),
                      f"{t['prompt_tokens']}/{t['completion_tokens']}", _short(t["input"], 40))
    console.print(table)
    if page["next_cursor"]:
        console.print("[dim]more: narrow the range with --until or raise --limit[/dim]")


def _node(tree: Tree, span: dict[str, Any]) -> None:
    style = "green" if span["status"] == "ok" else "red"
    parts = [f"[bold]{span['kind']}[/bold] {span['name']}", f"[{style}]{span['status']}[/{style}]"]
    if span["latency_ms"] is not None:
        parts.append(f"{span['latency_ms']:.1f} ms")
    if span["model"]:
        parts.append(span["model"])
    if span["prompt_tokens"] or span["completion_tokens"]:
        parts.append(f"{span['prompt_tokens'] or 0}→{span['completion_tokens'] or 0} tok")
    branch = tree.add("  ".join(parts))
    if span.get("input") is not None:
        branch.add(f"[dim]in:[/dim]  {_short(span['input'], 100)}")
    if span.get("output") is not None:
        branch.add(f"[dim]out:[/dim] {_short(span['output'], 100)}")
    if span.get("error_message"):
        branch.add(f"[red]error:[/red] {_short(span['error_message'], 100)}")
    for child in span["children"]:
        _node(branch, child)


@cli.command("show")
@friendly
def show(trace_id: str = typer.Argument(..., help="Trace id (from `shipyard traces list`)"),
         as_json: bool = typer.Option(False, "--json", help="Print the raw JSON"),
         url: str = UrlOption, api_key: str = KeyOption) -> None:
    """One trace: its span tree with inputs and outputs, and its scores."""
    with client(url, api_key) as sdk:
        trace = sdk.traces.get(trace_id)
    if as_json:
        console.out(orjson.dumps(trace, option=orjson.OPT_INDENT_2).decode(), highlight=False)
        return
    latency = "" if trace["latency_ms"] is None else f", {trace['latency_ms']:.1f} ms"
    tree = Tree(f"[bold]{trace['name']}[/bold]  {trace['id']}  ({trace['status']}{latency}, "
                f"{trace['span_count']} spans)")
    for span in trace["spans"]:
        _node(tree, span)
    console.print(tree)
    for s in trace["scores"]:
        console.print(f"score {s['name']} = {s['value']} ({s['source']}){' — ' + s['comment'] if s['comment'] else ''}")
