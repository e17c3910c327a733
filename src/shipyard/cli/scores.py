"""`shipyard scores`: attach scores to traces and list them."""

from __future__ import annotations

import typer
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, friendly

cli = typer.Typer(name="scores", help="Scores on traces: feedback, reviews, evaluations.", no_args_is_help=True)


def _value(raw: str, data_type: str | None) -> object:
    """Command-line text to the value the API expects: numbers stay numbers unless told otherwise."""
    if data_type == "categorical":
        return raw
    if data_type == "boolean" or raw.lower() in ("true", "false", "up", "down"):
        return raw.lower() in ("true", "up", "yes", "1")
    try:
        return float(raw)
    except ValueError:
        return raw


@cli.command("add")
@friendly
def add(
    trace_id: str = typer.Argument(..., help="The trace to score"),
    name: str = typer.Argument(..., help="Score name, e.g. helpfulness"),
    value: str = typer.Argument(..., help="A number, true/false (up/down), or a label"),
    span: str = typer.Option(None, "--span", help="Score this span of the trace"),
    data_type: str = typer.Option(None, "--type", help="numeric | boolean | categorical (default: from the value)"),
    source: str = typer.Option("reviewer", help="end-user | reviewer | evaluator"),
    comment: str = typer.Option(None, "--comment", "-c", help="Why"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Attach a score to a trace."""
    with client(url, api_key) as sdk:
        score = sdk.traces.score(trace_id, name, _value(value, data_type), span_id=span, data_type=data_type,
                                 source=source, comment=comment)
    console.print(f"scored {trace_id}: {score['name']} = {score['value']} ({score['data_type']}, {score['source']})")


@cli.command("list")
@friendly
def list_scores(
    trace: str = typer.Option(None, "--trace", help="Only this trace"),
    name: str = typer.Option(None, help="Only this score name"),
    source: str = typer.Option(None, help="end-user | reviewer | evaluator"),
    limit: int = typer.Option(50, "--limit", "-n"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Recent scores."""
    with client(url, api_key) as sdk:
        rows = sdk.scores.list(trace_id=trace, name=name, source=source, limit=limit)
    table = Table("time", "trace", "span", "name", "value", "source", "comment")
    for s in rows:
        table.add_row(s["created_at"][:19].replace("T", " "), s["trace_id"], s["span_id"] or "", s["name"],
                      str(s["value"]), s["source"], (s["comment"] or "")[:60])
    console.print(table)
