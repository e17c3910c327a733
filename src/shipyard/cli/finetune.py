"""`shipyard finetune ...`: validate and upload data, start jobs and follow them with a progress bar."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, fail, friendly
from shipyard.errors import InvalidRequest

cli = typer.Typer(name="finetune", help="Fine-tune local models with LoRA (OpenAI-compatible jobs).",
                  no_args_is_help=True)
FINISHED = ("succeeded", "failed", "cancelled")


def _bad_lines(lines: list[dict[str, Any]]) -> None:
    table = Table("line", "reason")
    for e in lines:
        table.add_row(str(e["line"]), e["reason"])
    console.print(table)


def _summary(report: dict[str, Any] | None) -> None:
    if not report:
        return
    per_epoch = report.get("estimated_seconds_per_epoch")
    console.print(f"{report.get('examples')} examples, {report.get('total_tokens')} tokens per epoch "
                  f"({report.get('trained_tokens')} trained), about {per_epoch} s per epoch "
                  f"[dim]({report.get('throughput_basis')})[/dim]")
    for warning in report.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {warning}")


@cli.command()
@friendly
def validate(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Chat JSONL file"),
    model: str = typer.Option(None, help="Base model whose tokenizer counts the tokens"),
    max_seq_length: int = typer.Option(512, help="Examples are cut at this many tokens"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Check a training file: every bad line with its number and reason, token counts, time per epoch."""
    with client(url, api_key) as sdk:
        answer = sdk.finetune.validate(file, model=model, max_seq_length=max_seq_length)
    if not answer["valid"]:
        if answer["lines"]:
            _bad_lines(answer["lines"])
        fail(f"{file}: {len(answer['lines'])} bad lines" if answer["lines"] else f"{file}: no examples")
    console.print(f"[green]{file} is valid[/green]")
    _summary(answer.get("report"))


def _upload(sdk: Any, path: Path) -> dict[str, Any]:
    try:
        return sdk.finetune.upload(path)
    except InvalidRequest as exc:
        if exc.code == "invalid_file_format" and "lines" in exc.extra:
            _bad_lines(exc.extra["lines"])
        raise


@cli.command()
@friendly
def upload(file: Path = typer.Argument(..., exists=True, dir_okay=False), url: str = UrlOption,
           api_key: str = KeyOption) -> None:
    """Upload a training or validation file (purpose fine-tune)."""
    with client(url, api_key) as sdk:
        f = _upload(sdk, file)
    console.print(f"[green]{f['id']}[/green] {f['filename']} ({f['bytes']} bytes)")
    _summary(f.get("validation"))


def _file_id(sdk: Any, value: str | None) -> str | None:
    if value is None or value.startswith("file-"):
        return value
    path = Path(value)
    if not path.exists():
        raise ValueError(f"{value} is neither a file id (file-...) nor an existing file")
    f = _upload(sdk, path)
    console.print(f"uploaded {path} as {f['id']}")
    return f["id"]


@cli.command()
@friendly
def create(
    training_file: str = typer.Argument(..., help="A file id (file-...) or a local JSONL file to upload"),
    validation_file: str = typer.Option(None, "--validation-file", "-v", help="File id or local JSONL file"),
    model: str = typer.Option("smollm2", help="Base model (a local GGUF model the gateway serves)"),
    epochs: int = typer.Option(None, help="n_epochs (default 3)"),
    learning_rate: float = typer.Option(None, "--lr", help="Learning rate (default 2e-4)"),
    lora_rank: int = typer.Option(None, help="LoRA rank (default 8)"),
    lora_alpha: float = typer.Option(None, help="LoRA alpha (default 16)"),
    batch_size: int = typer.Option(None, help="Batch size (default 4)"),
    max_seq_length: int = typer.Option(None, help="Examples are cut at this many tokens (default 512)"),
    max_steps: int = typer.Option(None, help="Stop after this many steps"),
    seed: int = typer.Option(None, help="Random seed (data order, LoRA init)"),
    suffix: str = typer.Option(None, help="Part of the fine-tuned model's name"),
    follow: bool = typer.Option(True, "--follow/--detach", help="Follow the job with a progress bar"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Start a fine-tuning job (and follow it)."""
    hp = {"n_epochs": epochs, "learning_rate": learning_rate, "lora_rank": lora_rank, "lora_alpha": lora_alpha,
          "batch_size": batch_size, "max_seq_length": max_seq_length, "max_steps": max_steps}
    with client(url, api_key) as sdk:
        body = {"model": model, "training_file": _file_id(sdk, training_file),
                "validation_file": _file_id(sdk, validation_file), "suffix": suffix, "seed": seed,
                "hyperparameters": {k: v for k, v in hp.items() if v is not None}}
        job = sdk.finetune.create(**{k: v for k, v in body.items() if v is not None})
        console.print(f"created [bold]{job['id']}[/bold] ({job['status']})")
        if follow:
            _follow(sdk, job["id"])


def _follow(sdk: Any, job_id: str) -> None:
    since = 0
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("queued", total=None, loss="")
        status = "queued"
        while True:
            page = sdk.finetune.events(job_id, since=since)
            for event in page["data"]:
                since = event["seq"]
                data = event.get("data") or {}
                if event["type"] == "metrics" and "total_steps" in data:
                    progress.update(task, total=data["total_steps"], completed=data["step"],
                                    loss=f"loss {data['train_loss']:.4f}")
                elif event["type"] == "metrics" and data.get("valid_loss") is not None:
                    progress.console.print(f"  {event['message']}")
                else:
                    style = {"error": "red", "warn": "yellow"}.get(event["level"], "dim")
                    progress.console.print(f"[{style}]{event['message']}[/{style}]")
            if page["job_status"] != status:
                status = page["job_status"]
                progress.update(task, description=status)
            if status in FINISHED and not page["has_more"]:
                break
            if not page["has_more"]:
                time.sleep(1.0)
    job = sdk.finetune.get(job_id)
    if job["status"] == "succeeded":
        console.print(f"[green]succeeded[/green]: model [bold]{job['fine_tuned_model']}[/bold]")
    elif job["status"] == "failed":
        fail(f"job {job_id} failed: {(job.get('error') or {}).get('message')}")
    else:
        fail(f"job {job_id} was cancelled", code=1)


@cli.command("follow")
@friendly
def follow_job(job_id: str, url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Follow a job with a progress bar until it finishes."""
    with client(url, api_key) as sdk:
        _follow(sdk, job_id)


@cli.command("list")
@friendly
def list_jobs(limit: int = typer.Option(20, "--limit", "-n"), url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Recent fine-tuning jobs."""
    with client(url, api_key) as sdk:
        rows = sdk.finetune.list(limit)
    table = Table("job", "status", "base", "step", "fine-tuned model")
    for j in rows:
        extra = j.get("shipyard", {})
        step = f"{extra.get('current_step', 0)}/{extra.get('total_steps') or '?'}"
        table.add_row(j["id"], j["status"], j["model"], step, j.get("fine_tuned_model") or "")
    console.print(table)


@cli.command()
@friendly
def show(job_id: str, url: str = UrlOption, api_key: str = KeyOption) -> None:
    """One job: status, hyperparameters, metrics, evaluation."""
    with client(url, api_key) as sdk:
        console.print_json(data=sdk.finetune.get(job_id))


@cli.command()
@friendly
def cancel(job_id: str, url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Cancel a queued or running job (its checkpoints are kept)."""
    with client(url, api_key) as sdk:
        job = sdk.finetune.cancel(job_id)
    console.print(f"{job['id']}: {job['status']}")


@cli.command()
@friendly
def checkpoints(job_id: str, url: str = UrlOption, api_key: str = KeyOption) -> None:
    """A job's checkpoints."""
    with client(url, api_key) as sdk:
        rows = sdk.finetune.checkpoints(job_id)
    table = Table("step", "train loss", "valid loss", "path")
    for c in rows:
        m = c["metrics"]
        losses = ["" if m.get(k) is None else f"{m[k]:.4f}" for k in ("train_loss", "valid_loss")]
        table.add_row(str(c["step_number"]), *losses, c.get("path", ""))
    console.print(table)


@cli.command()
@friendly
def models(url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Fine-tuned models and how they compare with their base."""
    with client(url, api_key) as sdk:
        rows = sdk.finetune.models()
    table = Table("model", "base", "active", "loss base → tuned", "better")
    for r in rows:
        summary = (r.get("evaluation") or {}).get("summary") or {}
        loss = (f"{summary['base']['mean_token_loss']} → {summary['fine_tuned']['mean_token_loss']}"
                if summary else "")
        table.add_row(r["name"], r["base_model"], "yes" if r["active"] else "no", loss,
                      str((r.get("evaluation") or {}).get("better")))
    console.print(table)
