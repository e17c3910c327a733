"""`shipyard drift`: check a model's traffic for drift, see the history and the alerts."""

from __future__ import annotations

import typer
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, friendly

cli = typer.Typer(name="drift", help="Drift of a model's traffic: check, history, alerts.", no_args_is_help=True)


def _num(v: float | None, fmt: str = ".4f") -> str:
    return "" if v is None else format(v, fmt)


@cli.command("check")
@friendly
def check(
    model: str = typer.Argument(..., help="The model whose traffic to check"),
    prompt: str = typer.Option(None, help="Only calls whose span metadata names this prompt"),
    window_hours: float = typer.Option(24, help="The recent window"),
    reference_hours: float = typer.Option(168, help="The reference window, just before the recent one"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Compare the recent window with the reference window now (embeddings, lengths, tokens, rates)."""
    with console.status(f"embedding and comparing {model}'s traffic…"), client(url, api_key) as sdk:
        run = sdk.drift.check(model, prompt=prompt, window_hours=window_hours, reference_hours=reference_hours)
    m = run["metrics"]
    table = Table("signal", "reference", "recent", "p-value")
    for side in ("prompt", "response"):
        e = m.get(f"{side}_embeddings") or {}
        table.add_row(f"{side} embeddings (MMD²)", "", _num(e.get("mmd2")), _num(e.get("p_value")))
        length = m.get(f"{side}_length") or {}
        table.add_row(f"{side} length (chars)", _num(length.get("reference_mean"), ".0f"),
                      _num(length.get("current_mean"), ".0f"), _num(length.get("p_value")))
    for name in ("prompt_tokens", "completion_tokens"):
        t = m[name]
        table.add_row(name.replace("_", " "), _num(t.get("reference_mean"), ".1f"), _num(t.get("current_mean"), ".1f"),
                      _num(t.get("p_value")))
    for name in ("refusal_rate", "error_rate"):
        r = m[name]
        table.add_row(name.replace("_", " "), _num(r["reference"], ".1%"), _num(r["current"], ".1%"),
                      _num(r["p_value"]))
    console.print(table)
    console.print(f"{run['n_reference']} reference vs {run['n_current']} recent calls; score {_num(run['score'])}, "
                  f"p-value {_num(run['p_value'])}")
    if run["alert"]:
        console.print(f"[red bold]ALERT[/red bold] {run['alert_message']}")
        if run.get("webhook_status"):
            console.print(f"webhook: {run['webhook_status']}")
    else:
        console.print("[green]no drift[/green]")


@cli.command("runs")
@friendly
def runs(model: str = typer.Option(None, help="Only this model"), limit: int = typer.Option(20, "--limit", "-n"),
         url: str = UrlOption, api_key: str = KeyOption) -> None:
    """The history of drift checks."""
    with client(url, api_key) as sdk:
        rows = sdk.drift.runs(model=model, limit=limit)
    table = Table("time", "model", "prompt", "n ref/recent", "score", "p-value", "alert")
    for r in rows:
        table.add_row(r["created_at"][:19].replace("T", " "), r["model"], r["prompt"] or "",
                      f"{r['n_reference']}/{r['n_current']}", _num(r["score"]), _num(r["p_value"]),
                      "[red]yes[/red]" if r["alert"] else "no")
    console.print(table)


@cli.command("alerts")
@friendly
def alerts(model: str = typer.Option(None, help="Only this model"), limit: int = typer.Option(20, "--limit", "-n"),
           url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Drift alerts, newest first."""
    with client(url, api_key) as sdk:
        rows = sdk.drift.alerts(model=model, limit=limit)
    table = Table("time", "model", "message", "webhook")
    for a in rows:
        table.add_row(a["created_at"][:19].replace("T", " "), a["model"], a["message"], a["webhook_status"] or "")
    console.print(table)
