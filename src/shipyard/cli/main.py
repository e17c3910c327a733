"""`shipyard`: serve the platform and talk to it."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import orjson
import typer
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, fail, friendly

app = typer.Typer(name="shipyard", help="Shipyard: a self-hosted LLMOps platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)


@app.command()
@friendly
def serve(
    host: str = typer.Option(None, help="Interface to listen on (SHIPYARD_HOST, default 127.0.0.1)"),
    port: int = typer.Option(None, help="Port (SHIPYARD_PORT, default 4000)"),
    config: Path = typer.Option(None, "--config", help="shipyard.yaml to read (SHIPYARD_CONFIG)"),
    workers: int = typer.Option(1, help="Worker processes (use Redis and PostgreSQL when more than one)"),
) -> None:
    """Run the gateway, the API and the dashboard in one process."""
    import uvicorn

    from shipyard.config import load_settings

    if config is not None and not config.exists():
        fail(f"config file not found: {config}")
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = load_settings(config, **overrides)
    console.print(f"[bold]Shipyard[/bold] on http://{settings.host}:{settings.port}  "
                  f"(OpenAI API at /v1, store {settings.effective_database_url.split('://')[0]})")
    if workers > 1:
        import os

        os.environ.update({"SHIPYARD_HOST": settings.host, "SHIPYARD_PORT": str(settings.port)})
        if config is not None:
            os.environ["SHIPYARD_CONFIG"] = str(config)
        uvicorn.run("shipyard.api.app:create_app", factory=True, host=settings.host, port=settings.port,
                    workers=workers, log_level=settings.log_level, access_log=False, loop="uvloop",
                    http="httptools")
        return
    from shipyard.api.app import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level,
                access_log=False, loop="uvloop", http="httptools", timeout_graceful_shutdown=30)


@app.command()
@friendly
def chat(
    model: str = typer.Argument(..., help="Model name, as `shipyard models` lists it"),
    prompt: str = typer.Argument(..., help="What to say"),
    system: str = typer.Option(None, help="A system message"),
    max_tokens: int = typer.Option(256, help="Most tokens to generate"),
    temperature: float = typer.Option(None, help="Sampling temperature"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Send one prompt and stream the answer to the terminal."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    body = {"model": model, "messages": messages, "stream": True, "max_tokens": max_tokens}
    if temperature is not None:
        body["temperature"] = temperature
    with client(url, api_key) as sdk, sdk.stream("POST", "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = orjson.loads(line[6:])
            if "error" in event:
                console.print()
                fail(event["error"].get("message", "the stream failed"))
            for choice in event.get("choices", []):
                text = choice.get("delta", {}).get("content")
                if text:
                    console.out(text, end="", highlight=False)
    console.print()


@app.command()
@friendly
def models(url: str = UrlOption, api_key: str = KeyOption) -> None:
    """List the models the gateway serves."""
    with client(url, api_key) as sdk:
        table = Table("model", "provider")
        for m in sdk.models():
            table.add_row(m["id"], m.get("owned_by", ""))
        console.print(table)


@app.command()
@friendly
def logs(
    limit: int = typer.Option(20, "--limit", "-n", help="How many recent requests"),
    model: str = typer.Option(None, help="Only this model"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Show recent gateway requests."""
    with client(url, api_key) as sdk:
        rows = sdk.requests(limit=limit, model=model)
    table = Table("time", "model", "endpoint", "status", "latency ms", "ttft ms", "tokens in/out", "error")
    for r in rows:
        status = str(r["status_code"])
        style = "green" if r["status_code"] < 400 else "red"
        ttft = "" if r["ttft_ms"] is None else f"{r['ttft_ms']:.0f}"
        table.add_row(r["created_at"][:19].replace("T", " "), r["model"] or "", r["endpoint"],
                      f"[{style}]{status}[/{style}]", f"{r['latency_ms']:.1f}", ttft,
                      f"{r['prompt_tokens'] or 0}/{r['completion_tokens'] or 0}", (r["error_message"] or "")[:60])
    console.print(table)


def _add_groups() -> None:
    import shipyard.cli as package

    for m in pkgutil.iter_modules(package.__path__):
        if m.name in ("main", "common"):
            continue
        module = importlib.import_module(f"{package.__name__}.{m.name}")
        group = getattr(module, "cli", None)
        if isinstance(group, typer.Typer):
            app.add_typer(group)


_add_groups()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
