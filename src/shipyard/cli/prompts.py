"""`shipyard prompts`: push YAML prompt files (from git, from CI), list, show, diff, move labels, render."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.syntax import Syntax
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, fail, friendly

cli = typer.Typer(name="prompts", help="The prompt registry: versions, labels, diff, render.", no_args_is_help=True)


def parse_vars(pairs: list[str] | None, json_text: str | None = None) -> dict[str, object]:
    """`name=text`, `name=@file.txt` (the file's text), `name:=<JSON value>` (httpie style), and a whole JSON
    object as `'{...}'` or `@file.json`."""
    out: dict[str, object] = {}
    if json_text:
        try:
            loaded = json.loads(Path(json_text[1:]).read_text() if json_text.startswith("@") else json_text)
        except (ValueError, OSError) as exc:
            fail(f"--vars must be a JSON object or @file.json: {exc}")
        if not isinstance(loaded, dict):
            fail("--vars must be a JSON object")
        out.update(loaded)
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.rstrip(":"):
            fail(f"--var takes name=text or name:=json (got {pair!r})")
        if name.endswith(":"):
            try:
                out[name[:-1]] = json.loads(value)
            except ValueError:
                fail(f"--var {name}=: not a JSON value: {value!r}")
        elif value.startswith("@") and Path(value[1:]).is_file():
            out[name] = Path(value[1:]).read_text()
        else:
            out[name] = value
    return out


def push_documents(kind: str, paths: list[Path], label: list[str] | None, url: str | None,
                   api_key: str | None) -> None:
    """Push YAML documents to a registry (prompts or chains): one version per changed document; the
    server checks every document before it stores any."""
    from shipyard.prompts.service import read_documents

    docs = [doc for _file, doc in read_documents(list(paths))]
    if not docs:
        fail(f"no {kind[:-1]} files (*.yaml, *.yml) found")
    for doc in docs:
        if label:
            existing = doc.get("labels") or []
            doc["labels"] = list(dict.fromkeys([*([existing] if isinstance(existing, str) else existing), *label]))
    with client(url, api_key) as sdk:
        results = sdk.request("POST", f"/api/{kind}/import", json={"documents": docs})["data"]
    for r in results:
        state = "[green]new[/green]" if r["created"] else "[dim]unchanged[/dim]"
        labels = ", ".join(x for x in r.get("labels") or [] if x != "latest")
        console.print(f"{r['name']} v{r['version']} {state}" + (f"  ({labels})" if labels else ""), highlight=False)


@cli.command()
@friendly
def push(
    paths: list[Path] = typer.Argument(..., help="YAML files or folders of them"),
    label: list[str] = typer.Option(None, "--label", "-l", help="Also point this label at every pushed version"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Add a version for every prompt file whose content changed (unchanged files are left alone)."""
    push_documents("prompts", paths, label, url, api_key)


@cli.command("list")
@friendly
def list_prompts(search: str = typer.Option(None, help="Only names containing this"), url: str = UrlOption,
                 api_key: str = KeyOption) -> None:
    """Every prompt with its latest version and labels."""
    with client(url, api_key) as sdk:
        rows = sdk.prompts.list(search)
    table = Table("name", "latest", "versions", "labels", "model", "updated")
    for r in rows:
        labels = ", ".join(f"{k}→v{v}" for k, v in r["labels"].items() if k != "latest")
        table.add_row(r["name"], f"v{r['latest_version']}", str(r["versions"]), labels, r["model"] or "",
                      r["updated_at"][:19].replace("T", " "))
    console.print(table)


@cli.command()
@friendly
def show(
    name: str,
    version: str = typer.Option(None, "--version", "-v", help="Version number or label (default latest)"),
    history: bool = typer.Option(False, "--history", help="List every version instead"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """A version as the YAML file `push` takes (or the version history)."""
    with client(url, api_key) as sdk:
        if history:
            table = Table("version", "labels", "author", "message", "created")
            for v in sdk.prompts.versions(name):
                table.add_row(f"v{v['version']}", ", ".join(v["labels"]), v["author"] or "", v["message"] or "",
                              (v["created_at"] or "")[:19].replace("T", " "))
            console.print(table)
            return
        console.print(Syntax(sdk.prompts.export(name, version), "yaml"))


@cli.command()
@friendly
def diff(name: str, a: str = typer.Argument(..., help="From (version or label)"),
         b: str = typer.Argument("latest", help="To (version or label)"), url: str = UrlOption,
         api_key: str = KeyOption) -> None:
    """Unified diff between two versions."""
    with client(url, api_key) as sdk:
        result = sdk.prompts.diff(name, a, b)
    if result["identical"]:
        console.print(f"v{result['from']} and v{result['to']} are identical")
        return
    console.print(Syntax(result["diff"], "diff"))


@cli.command()
@friendly
def label(
    name: str,
    label_name: str = typer.Argument(..., metavar="LABEL", help="production, staging, or any name"),
    version: str = typer.Argument(None, help="Version number or label to point at (omit with --delete)"),
    delete: bool = typer.Option(False, "--delete", help="Remove the label"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Move a label to a version (rolling back is moving it to an older one)."""
    with client(url, api_key) as sdk:
        if delete:
            sdk.prompts.remove_label(name, label_name)
            console.print(f"removed {label_name} from {name}")
            return
        if version is None:
            fail("give the version to point the label at (or --delete)")
        result = sdk.prompts.set_label(name, label_name, version)
    console.print(f"{name}: {label_name} → v{result['version']}")


@cli.command()
@friendly
def render(
    name: str,
    version: str = typer.Option(None, "--version", "-v", help="Version number or label (default latest)"),
    var: list[str] = typer.Option(None, "--var", help="name=text or name:=json (repeatable)"),
    vars_json: str = typer.Option(None, "--vars", help="All variables as a JSON object, or @file.json"),
    run: bool = typer.Option(False, "--run", help="Also call the model with it and print the answer"),
    model: str = typer.Option(None, help="With --run: another model than the version's"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Render a version with variables (and optionally run it)."""
    variables = parse_vars(var, vars_json)
    with client(url, api_key) as sdk:
        if run:
            answer = sdk.prompts.run(name, variables, version, model=model)
            console.out(answer["choices"][0]["message"].get("content") or "", highlight=False)
            return
        result = sdk.prompts.render(name, variables, version)
    if "text" in result:
        console.out(result["text"], highlight=False)
        return
    for m in result["messages"]:
        console.print(f"[bold]{m['role']}[/bold]: ", end="")
        console.out(m["content"], highlight=False)


@cli.command()
@friendly
def export(name: str, out: Path = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout"),
           version: str = typer.Option(None, "--version", "-v"), url: str = UrlOption,
           api_key: str = KeyOption) -> None:
    """A version as a YAML file (to commit to git)."""
    with client(url, api_key) as sdk:
        text = sdk.prompts.export(name, version)
    if out:
        out.write_text(text)
        console.print(f"wrote {out}")
    else:
        console.out(text, highlight=False)

