"""`shipyard stats`: traffic over time per model (requests, errors, latency, tokens, cost)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, friendly

cli = typer.Typer(name="stats", help="Traffic over time per model.", invoke_without_command=True)


def _ms(v: float | None) -> str:
    return "" if v is None else f"{v:.0f}"


@cli.callback()
@friendly
def stats(
    hours: float = typer.Option(24, help="How far back"),
    bucket: str = typer.Option(None, help="minute | hour | day (default: from the range)"),
    model: str = typer.Option(None, help="Only this model"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Requests, errors, latency p50/p95, tokens and cost per time bucket and model."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    with client(url, api_key) as sdk:
        out = sdk.stats.get(since=since, bucket=bucket, model=model)
    table = Table("bucket", "model", "requests", "errors", "p50 ms", "p95 ms", "tokens in/out", "cost $")
    for r in out["series"]:
        table.add_row(r["bucket"][:16].replace("T", " "), r["model"], str(r["requests"]), str(r["errors"]),
                      _ms(r["latency_p50_ms"]), _ms(r["latency_p95_ms"]),
                      f"{r['prompt_tokens']}/{r['completion_tokens']}", f"{r['cost'] or 0:.4f}")
    t = out["total"]
    table.add_row("[bold]total[/bold]", "", str(t["requests"]), str(t["errors"]), _ms(t["latency_p50_ms"]),
                  _ms(t["latency_p95_ms"]), f"{t['prompt_tokens']}/{t['completion_tokens']}", f"{t['cost']:.4f}")
    console.print(table)
