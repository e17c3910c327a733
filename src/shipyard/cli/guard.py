"""`shipyard guard`: scan files, measure the scanners, manage policies."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import typer
import yaml
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, fail, friendly

cli = typer.Typer(name="guard", help="Guardrails: scan text, benchmark the scanners, manage policies.",
                  no_args_is_help=True)


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    p = Path(path)
    if not p.is_file():
        fail(f"no such file: {path}")
    try:
        return p.read_text()
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text")
    return ""


def _config(path: Path) -> dict:
    if not path.is_file():
        fail(f"no such file: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        fail(f"{path} is not valid YAML/JSON: {exc}")
    if not isinstance(data, dict):
        fail(f"{path}: a policy is a mapping with 'input' and/or 'output' sections")
    return data


@cli.command()
@friendly
def scan(
    file: str = typer.Argument(..., help="Text file to scan ('-' for stdin)"),
    direction: str = typer.Option("input", help="input (a prompt, a document) or output (a model's answer)"),
    role: str = typer.Option("user", help="user, or tool/document for retrieved text (indirect injection)"),
    policy: Path = typer.Option(None, help="A policy file (YAML/JSON) instead of the project's policy"),
    model: str = typer.Option(None, help="Use the effective policy for this model"),
    as_json: bool = typer.Option(False, "--json", help="Print the raw result"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Scan a file with the guardrail scanners. Exit code 0: passed, 2: blocked."""
    if direction not in ("input", "output"):
        fail("--direction is input or output")
    text = _read(file)
    config = _config(policy) if policy else None
    with client(url, api_key) as sdk:
        result = sdk.guard.scan(text, direction=direction, role=role, policy=config, model=model)
    if as_json:
        console.out(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode(), highlight=False)
    else:
        table = Table("scanner", "action", "score", "reason")
        for f in result["findings"]:
            if f["triggered"]:
                style = "red" if f["action"] == "block" else "yellow"
                table.add_row(f["scanner"], f"[{style}]{f['action']}[/{style}]", f"{f['score']:.2f}", f["reason"])
        if table.row_count:
            console.print(table)
        verdict = "[red]BLOCKED[/red]" if result["blocked"] else f"[green]{result['action'].upper()}[/green]"
        console.print(f"{verdict}  ({sum(1 for f in result['findings'] if f['triggered'])} findings)")
        if result.get("text") is not None and result["text"] != text:
            console.print("[bold]redacted:[/bold]")
            console.out(result["text"], highlight=False)
    if result["blocked"]:
        raise typer.Exit(2)


@cli.command()
@friendly
def bench(
    as_json: bool = typer.Option(False, "--json", help="Print the raw figures"),
    misses: int = typer.Option(0, help="Also print up to N misclassified examples per scanner"),
    latency: bool = typer.Option(True, help="Also time all input scanners on a ~1,000-token prompt"),
) -> None:
    """Precision, recall, F1 and false-positive rate of every scanner on the held-out evaluation set.

    Runs locally (no server): the scanners and the shipped classifier, on guard/data/eval.jsonl."""
    from shipyard.guard import bench as guard_bench

    with console.status("scanning the held-out evaluation set"):
        scores = guard_bench.run()
        timing = guard_bench.latency() if latency else None
    if as_json:
        console.out(orjson.dumps({"scanners": [s.as_dict() for s in scores], "latency_ms": timing},
                                 option=orjson.OPT_INDENT_2).decode(), highlight=False)
        return
    table = Table("scanner", "pos", "neg", "precision", "recall", "F1", "FPR (benign)", "ms/text")
    for s in scores:
        d = s.as_dict()
        table.add_row(d["scanner"], str(d["positives"]), str(d["negatives"]), f"{d['precision']:.3f}",
                      f"{d['recall']:.3f}", f"{d['f1']:.3f}", f"{d['fpr']:.2%}", f"{d['ms_per_text']:.2f}")
    console.print(table)
    main = next((s for s in scores if s.name == "prompt_injection"), None)
    if main is not None:
        fams = ", ".join(f"{k} {v}" for k, v in main.as_dict()["families"].items())
        console.print(f"prompt_injection recall by family: {fams}")
        ok = main.f1 >= 0.90 and main.fpr < 0.03
        console.print(f"target (F1 >= 0.90, FPR < 3%): {'[green]met[/green]' if ok else '[red]not met[/red]'}")
    if timing:
        console.print(f"all input scanners on a {timing['tokens']}-token prompt: p50 {timing['p50']:.2f} ms, "
                      f"p99 {timing['p99']:.2f} ms ({timing['runs']} runs)")
    for s in scores:
        for line in s.misses[:misses]:
            console.print(f"  {s.name}: {line}", highlight=False, markup=False)


@cli.command()
@friendly
def scanners(url: str = UrlOption, api_key: str = KeyOption) -> None:
    """List the scanners a policy can use."""
    with client(url, api_key) as sdk:
        rows = sdk.guard.scanners()
    table = Table("scanner", "runs on", "can redact", "description")
    for r in rows:
        table.add_row(r["name"], ", ".join(r["directions"]), "yes" if r["redactable"] else "", r["description"])
    console.print(table)


@cli.command()
@friendly
def policies(url: str = UrlOption, api_key: str = KeyOption) -> None:
    """List this project's guard policies."""
    with client(url, api_key) as sdk:
        rows = sdk.guard.policies()
    table = Table("id", "scope", "target", "config", "updated")
    for r in rows:
        table.add_row(r["id"], r["scope"], r["target"] or "", orjson.dumps(r["config"]).decode(), r["updated_at"][:19])
    console.print(table)


@cli.command("set-policy")
@friendly
def set_policy(
    file: Path = typer.Argument(..., help="Policy file (YAML or JSON): input/output sections of scanner rules"),
    scope: str = typer.Option("project", help="project, key or model"),
    target: str = typer.Option(None, help="The key id or model name for key and model policies"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Create or replace a guard policy."""
    config = _config(file)
    with client(url, api_key) as sdk:
        row = sdk.guard.set_policy(config, scope=scope, target=target)
    console.print(f"saved {row['scope']} policy {row['id']}" + (f" for {row['target']}" if row["target"] else ""))


@cli.command("delete-policy")
@friendly
def delete_policy(policy_id: str = typer.Argument(...), url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Delete a guard policy (the defaults apply again)."""
    with client(url, api_key) as sdk:
        sdk.guard.delete_policy(policy_id)
    console.print(f"deleted {policy_id}")
