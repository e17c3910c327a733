"""`shipyard worker`: run fine-tuning jobs from the queue in the store (on a GPU machine, say)."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import typer

from shipyard.cli.common import console, fail, friendly

cli = typer.Typer(name="worker", help="Run fine-tuning jobs from the queue (several workers may share one database).",
                  invoke_without_command=True, no_args_is_help=False)


@cli.callback()
@friendly
def worker(
    config: Path = typer.Option(None, "--config", help="shipyard.yaml to read (SHIPYARD_CONFIG)"),
    once: bool = typer.Option(False, help="Run at most one job, then exit"),
) -> None:
    """Take jobs from the queue until stopped; Ctrl-C or SIGTERM checkpoints the running job and requeues it."""
    from shipyard.config import load_settings
    from shipyard.finetune.device import pick_device
    from shipyard.finetune.worker import Worker
    from shipyard.platform import Platform

    if config is not None and not config.exists():
        fail(f"config file not found: {config}")
    settings = load_settings(config)
    platform = Platform.build(settings)
    platform.store.upgrade()
    w = Worker(platform)

    def stop(_sig: int, _frame: FrameType | None) -> None:
        console.print("[yellow]stopping: the running job is checkpointed and goes back to the queue[/yellow]")
        w.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    console.print(f"[bold]fine-tuning worker[/bold] {w.id} on {pick_device(settings.finetune_device)}, "
                  f"store {settings.effective_database_url.split('://')[0]}")
    try:
        if once:
            w.run_once()
        else:
            w.run()
    finally:
        platform.store.dispose()
