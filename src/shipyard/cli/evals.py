"""`shipyard eval`: run experiments with gates for CI, compare them, write reports, manage online rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, err_console, fail, friendly
from shipyard.errors import InvalidRequest

cli = typer.Typer(name="eval", help="Evaluate: experiments, gates, comparisons, reports, online rules.",
                  no_args_is_help=True)
online_cli = typer.Typer(name="online", help="Score a sample of production traffic continuously.",
                         no_args_is_help=True)
cli.add_typer(online_cli)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_evaluator(text: str) -> Any:
    """`exact_match`, `regex:pattern=^\\d+$`, `llm_judge:model=gpt-judge,name=judge`, or JSON."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise InvalidRequest(f"evaluator JSON: {exc}") from exc
    kind, _, rest = text.partition(":")
    spec: dict[str, Any] = {"type": kind}
    if rest:
        for part in rest.split(","):
            key, eq, value = part.partition("=")
            if not eq:
                raise InvalidRequest(f"evaluator '{text}': parameters are key=value pairs separated by commas")
            spec[key.strip()] = _value(value)
    return spec if rest else kind


def parse_target(target: str, system: str | None, template: Path | None, params: list[str]) -> dict[str, Any]:
    """A model name, `prompt:NAME[@VERSION]`, `chain:NAME[@VERSION]`, or a JSON target spec."""
    if target.strip().startswith("{"):
        spec = json.loads(target)
    elif target.startswith(("prompt:", "chain:")):
        kind, _, ref = target.partition(":")
        name, _, version = ref.partition("@")
        spec = {"type": kind, "name": name, **({"version": _value(version)} if version else {})}
    else:
        spec = {"type": "model", "model": target}
    if system:
        spec["system"] = system
    if template is not None:
        if not template.exists():
            raise InvalidRequest(f"template file not found: {template}")
        spec["messages"] = yaml.safe_load(template.read_text())
    if params:
        spec["params"] = {k: _value(v) for k, _, v in (p.partition("=") for p in params)}
    return spec


def _progress_wait(sdk: Any, exp: dict[str, Any]) -> dict[str, Any]:
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=False) as bar:
        task = bar.add_task(exp["name"], total=exp["total"] or None)

        def update(e: dict[str, Any]) -> None:
            bar.update(task, completed=e["done"], total=e["total"] or None,
                       description=f"{e['name']} [{e['status']}]")

        try:
            return sdk.evals.wait(exp["id"], on_progress=update)
        except KeyboardInterrupt:
            err_console.print(f"the experiment keeps running on the server: shipyard eval show {exp['id']}")
            raise


def print_summary(exp: dict[str, Any]) -> None:
    summary = exp.get("summary") or {}

    def ci(m: dict[str, Any]) -> str:
        if not m or m.get("mean") is None:
            return "–"
        return f"{m['mean']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"

    table = Table("metric", "mean [95% CI]", "pass rate", "errors", title=f"{exp['name']} ({exp['status']})")
    table.add_row("pass_rate (accuracy)", ci(summary.get("pass_rate") or {}), "", str(summary.get("errors", 0)))
    for name, m in (summary.get("metrics") or {}).items():
        rate = "–" if m.get("pass_rate") is None else f"{m['pass_rate']:.3f}"
        table.add_row(name, ci(m), rate, str(m.get("errors", 0)))
    console.print(table)
    lat = summary.get("latency_ms") or {}
    if lat.get("p50") is not None:
        console.print(f"latency p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms · experiment {exp['id']}")
    if exp.get("error"):
        console.print(f"[red]{exp['error']}[/red]")


def _gates(sdk: Any, exp: dict[str, Any], gates: list[str], baseline: str | None, alpha: float) -> bool:
    if not gates and not baseline:
        return exp["status"] == "completed"
    verdict = sdk.evals.gates(exp["id"], gates, baseline, alpha)
    for check in verdict["checks"]:
        mark = "[green]PASS[/green]" if check["passed"] else "[red]FAIL[/red]"
        console.print(f"{mark} {check['check']}: {check['reason']}", highlight=False)
    return bool(verdict["passed"])


@cli.command()
@friendly
def run(
    dataset: str = typer.Argument(..., help="Dataset name or id"),
    target: str = typer.Option(..., "--target", "-t", help="Model name, prompt:NAME[@V], chain:NAME[@V], or JSON"),
    evaluator: list[str] = typer.Option(..., "--evaluator", "-e", help="Evaluator spec; repeat for several"),
    gate: list[str] = typer.Option([], "--gate", "-g", help="e.g. 'accuracy>=0.8'; repeat for several"),
    baseline: str = typer.Option(None, help="Fail when significantly worse than this experiment"),
    system: str = typer.Option(None, help="System message for a model target"),
    template: Path = typer.Option(None, help="Messages template (JSON/YAML list) with {{variables}}"),
    param: list[str] = typer.Option([], "--param", "-p", help="Model parameter key=value, e.g. max_tokens=64"),
    name: str = typer.Option(None, help="Experiment name"),
    concurrency: int = typer.Option(None, help="Items scored at once"),
    alpha: float = typer.Option(0.05, help="Significance level for the baseline comparison"),
    report: Path = typer.Option(None, help="Write the HTML report here"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Run DATASET against a target; exit 1 when a gate fails or the run is significantly worse than --baseline."""
    spec = parse_target(target, system, template, param)
    evaluators = [parse_evaluator(e) for e in evaluator]
    with client(url, api_key) as sdk:
        exp = sdk.evals.create(dataset, spec, evaluators, name=name, concurrency=concurrency)
        exp = _progress_wait(sdk, exp)
        print_summary(exp)
        if report is not None:
            report.write_text(sdk.evals.report(exp["id"]))
            console.print(f"report: {report}")
        if not _gates(sdk, exp, gate, baseline, alpha):
            fail("evaluation gate failed" if exp["status"] == "completed" else f"experiment {exp['status']}")


@cli.command()
@friendly
def gate(
    experiment: str = typer.Argument(..., help="Experiment name or id"),
    gate: list[str] = typer.Option([], "--gate", "-g"),
    baseline: str = typer.Option(None),
    alpha: float = typer.Option(0.05),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Check gates on a finished experiment (exit 1 when one fails)."""
    with client(url, api_key) as sdk:
        exp = sdk.evals.get(experiment)
        if not gate and not baseline:
            fail("give --gate or --baseline")
        if not _gates(sdk, exp, gate, baseline, alpha):
            fail("evaluation gate failed")


@cli.command()
@friendly
def resume(experiment: str, url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Resume an interrupted experiment: done items are kept, the rest run."""
    with client(url, api_key) as sdk:
        exp = _progress_wait(sdk, sdk.evals.resume(experiment))
        print_summary(exp)


@cli.command()
@friendly
def cancel(experiment: str, url: str = UrlOption, api_key: str = KeyOption) -> None:
    with client(url, api_key) as sdk:
        console.print(f"{experiment}: {sdk.evals.cancel(experiment)['status']}")


@cli.command()
@friendly
def show(experiment: str, items: bool = typer.Option(False, help="Also list per-item results"),
         url: str = UrlOption, api_key: str = KeyOption) -> None:
    """An experiment's summary (and its items)."""
    with client(url, api_key) as sdk:
        exp = sdk.evals.get(experiment)
        print_summary(exp)
        if items:
            table = Table("#", "output", "scores", "pass")
            for r in sdk.evals.results(exp["id"]):
                scores = ", ".join(f"{k}={'err' if v.get('error') else v.get('value')}" for k, v in r["scores"].items())
                table.add_row(str(r["position"] + 1), (r["error"] or str(r["output"]))[:80], scores,
                              "–" if r["passed"] is None else ("pass" if r["passed"] else "fail"))
            console.print(table)


@cli.command("list")
@friendly
def list_(dataset: str = typer.Option(None), url: str = UrlOption, api_key: str = KeyOption) -> None:
    with client(url, api_key) as sdk:
        table = Table("id", "name", "dataset", "status", "items", "pass rate", "created")
        for e in sdk.evals.list(dataset):
            rate = ((e.get("summary") or {}).get("pass_rate") or {}).get("mean")
            table.add_row(e["id"], e["name"], f"{e['dataset_name']} v{e['dataset_version']}", e["status"],
                          f"{e['done']}/{e['total']}", "–" if rate is None else f"{rate:.3f}", e["created_at"][:19])
        console.print(table)


@cli.command()
@friendly
def compare(
    experiments: list[str] = typer.Argument(..., help="Two or more experiments; the first is the baseline"),
    report: Path = typer.Option(None, help="Write the HTML comparison report here"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Side by side with a paired significance test against the first experiment."""
    with client(url, api_key) as sdk:
        cmp = sdk.evals.compare(experiments)
        names = [e["name"] for e in cmp["experiments"]]
        table = Table("metric", *names)
        for m in cmp["metrics"]:
            cells = []
            for e in m["experiments"]:
                cell = "–" if e["mean"] is None else f"{e['mean']:.3f}"
                vs = e.get("vs_baseline")
                if vs and vs["diff"] is not None:
                    style = {"better": "green", "worse": "red"}.get(vs["direction"], "dim")
                    cell += f" [{style}]Δ{vs['diff']:+.3f} p={vs['p_value']:.3g} {vs['direction']}[/{style}]"
                cells.append(cell)
            table.add_row(m["metric"], *cells)
        console.print(table)
        console.print(f"{cmp['changed']} of {len(cmp['items'])} items changed")
        if report is not None:
            report.write_text(sdk.evals.compare_report(experiments))
            console.print(f"report: {report}")


@cli.command("report")
@friendly
def report_(experiment: str, output: Path = typer.Option(..., "--output", "-o"), url: str = UrlOption,
            api_key: str = KeyOption) -> None:
    """Write an experiment's standalone HTML report."""
    with client(url, api_key) as sdk:
        output.write_text(sdk.evals.report(experiment))
    console.print(f"report: {output}")


@cli.command()
@friendly
def evaluators(url: str = UrlOption, api_key: str = KeyOption) -> None:
    """The evaluator types this server knows (built-in and plugins)."""
    with client(url, api_key) as sdk:
        table = Table("type", "needs reference", "description")
        for e in sdk.evals.evaluators():
            table.add_row(e["type"], "yes" if e["needs_reference"] else "", e["description"][:90])
        console.print(table)


@online_cli.command("create")
@friendly
def online_create(
    name: str,
    evaluator: list[str] = typer.Option(..., "--evaluator", "-e"),
    sample: float = typer.Option(0.1, help="Share of generations to score"),
    model: str = typer.Option(None, help="Only this model's generations"),
    backfill_hours: float = typer.Option(0.0, help="Also score traffic from this many hours back"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    with client(url, api_key) as sdk:
        rule = sdk.evals.online_create(name, [parse_evaluator(e) for e in evaluator], sample, model, backfill_hours)
    console.print(f"online rule {rule['name']} ({rule['id']}) scores {rule['sample_rate']:g} of "
                  f"{rule['model'] or 'all models'}")


@online_cli.command("list")
@friendly
def online_list(url: str = UrlOption, api_key: str = KeyOption) -> None:
    with client(url, api_key) as sdk:
        table = Table("id", "name", "evaluators", "sample", "model", "scored", "enabled")
        for r in sdk.evals.online_list():
            table.add_row(r["id"], r["name"], ", ".join(map(str, r["evaluators"])), f"{r['sample_rate']:g}",
                          r["model"] or "all", str(r["scored"]), "yes" if r["enabled"] else "no")
        console.print(table)


@online_cli.command("run")
@friendly
def online_run(rule: str, url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Score what has arrived now."""
    with client(url, api_key) as sdk:
        out = sdk.evals.online_run(rule)
    console.print(f"scored {out['scored_now']} generations now ({out['scored']} in total)")
