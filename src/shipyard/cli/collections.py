"""`shipyard collections`: vector collections from the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from shipyard.cli.common import KeyOption, UrlOption, client, console, err_console, fail, friendly

cli = typer.Typer(name="collections", help="Vector collections: ingest, search, analytics, RAG.",
                  no_args_is_help=True)


def _filters(value: str | None) -> dict | None:
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--filter must be JSON, like '{{\"lang\": \"en\"}}' ({exc.msg})") from None
    if not isinstance(parsed, dict):
        raise ValueError("--filter must be a JSON object")
    return parsed


@cli.command("list")
@friendly
def list_(url: str = UrlOption, api_key: str = KeyOption) -> None:
    """List collections."""
    with client(url, api_key) as sdk:
        rows = sdk.collections.list()
    table = Table("name", "model", "dims", "distance", "documents", "fields")
    for c in rows:
        table.add_row(c["name"], c["model"] or "(vectors)", str(c["dimensions"]), c["distance"], f"{c['count']:,}",
                      ", ".join(c["fields"])[:60])
    console.print(table)


@cli.command()
@friendly
def create(
    name: str,
    model: str = typer.Option(None, help="Embedding model (default all-minilm-l6-v2)"),
    distance: str = typer.Option("cosine", help="cosine, l2 or ip"),
    description: str = typer.Option(None),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Create a collection."""
    with client(url, api_key) as sdk:
        c = sdk.collections.create(name, model=model, distance=distance, description=description)
    console.print(f"created [bold]{c['name']}[/bold] ({c['model']}, {c['dimensions']} dims, {c['distance']})")


@cli.command()
@friendly
def delete(name: str, yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask"), url: str = UrlOption,
           api_key: str = KeyOption) -> None:
    """Delete a collection and all its documents."""
    if not yes and not typer.confirm(f"Delete collection '{name}' and all its documents?"):
        raise typer.Exit(1)
    with client(url, api_key) as sdk:
        sdk.collections.delete(name)
    console.print(f"deleted {name}")


@cli.command()
@friendly
def ingest(
    path: Path = typer.Argument(..., help="A file or a folder of .txt .md .html .pdf files"),
    collection: str = typer.Option(..., "--collection", "-c", help="Collection to fill (created if missing)"),
    chunk_size: int = typer.Option(1000, help="Most characters per chunk"),
    overlap: int = typer.Option(150, help="Characters of whole sentences repeated between chunks"),
    batch: int = typer.Option(64, help="Chunks per request"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Chunk files and add them to a collection; re-running skips what is stored (resumable)."""
    from shipyard.errors import NotFound

    errors: list[str] = []
    with client(url, api_key) as sdk:
        try:
            sdk.collections.get(collection)
        except NotFound:
            sdk.collections.create(collection)
            console.print(f"created collection [bold]{collection}[/bold]")
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("chunks"), TimeRemainingColumn(), console=console) as progress:
            task = progress.add_task("ingesting", total=None)

            def on_progress(done: int, total: int, source: str) -> None:
                progress.update(task, completed=done, total=total, description=source[-40:])

            def on_error(source: str, exc: Exception) -> None:
                errors.append(source)
                err_console.print(f"[red]skipped[/red] {getattr(exc, 'message', None) or exc}", highlight=False)

            result = sdk.collections.ingest(collection, path, chunk_size=chunk_size, overlap=overlap, batch=batch,
                                            on_progress=on_progress, on_error=on_error)
    console.print(f"{result['files']} files, {result['chunks']} chunks: {result['upserted']} added or changed, "
                  f"{result['unchanged']} unchanged, {result['duplicates']} duplicates, {result['deleted']} removed")
    if errors:
        fail(f"{len(errors)} file(s) could not be read: {', '.join(errors[:5])}")
    if not result["files"]:
        fail(f"no .txt, .md, .html or .pdf files under {path}")


@cli.command()
@friendly
def search(
    collection: str,
    query: str,
    top_k: int = typer.Option(5, "--top-k", "-k"),
    mode: str = typer.Option("hybrid", help="vector, keyword or hybrid"),
    filter: str = typer.Option(None, "--filter", help='Metadata filter as JSON, e.g. \'{"lang": "en"}\''),
    min_score: float = typer.Option(None, help="Least similarity to the query"),
    mmr: bool = typer.Option(False, help="Diversify the hits (maximal marginal relevance)"),
    url: str = UrlOption,
    api_key: str = KeyOption,
) -> None:
    """Search a collection."""
    with client(url, api_key) as sdk:
        hits = sdk.collections.search(collection, query, top_k=top_k, mode=mode, filters=_filters(filter),
                                      min_score=min_score, mmr=mmr)
    table = Table("score", "id", "text")
    for h in hits:
        table.add_row(f"{h['score']:.4f}", h["id"], h["text"][:160].replace("\n", " "))
    console.print(table if hits else "no hits")


@cli.command()
@friendly
def reembed(collection: str, model: str = typer.Option(None, help="New embedding model (default: the same)"),
            url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Embed every document again, e.g. with a new model."""
    with client(url, api_key) as sdk:
        with console.status("re-embedding..."):
            r = sdk.collections.reembed(collection, model=model)
    console.print(f"re-embedded {r['reembedded']} documents with {r['model']} ({r['dimensions']} dims)")


@cli.command()
@friendly
def cluster(collection: str, method: str = typer.Option("kmeans", help="kmeans or hdbscan"),
            k: int = typer.Option(None, help="Clusters (k-means; default: best silhouette 2-10)"),
            url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Cluster a collection and name each cluster by its distinctive terms."""
    with client(url, api_key) as sdk:
        r = sdk.collections.clusters(collection, method=method, k=k)
    table = Table("cluster", "size", "distinctive terms", "examples")
    for c in r["clusters"]:
        table.add_row(str(c["id"]), str(c["size"]), ", ".join(c["terms"]), ", ".join(c["examples"])[:60])
    console.print(table)
    console.print(f"silhouette {r['silhouette']}")


@cli.command()
@friendly
def outliers(collection: str, limit: int = typer.Option(10), k: int = typer.Option(5), url: str = UrlOption,
             api_key: str = KeyOption) -> None:
    """Documents farthest from their nearest neighbours."""
    with client(url, api_key) as sdk:
        r = sdk.collections.outliers(collection, k=k, limit=limit)
    table = Table("score", "id", "text")
    for d in r["data"]:
        table.add_row(f"{d['score']:.4f}", d["id"], d["text"][:120].replace("\n", " "))
    console.print(table)


@cli.command()
@friendly
def check(collection: str, texts: list[str] = typer.Argument(..., help="Texts to check"), url: str = UrlOption,
          api_key: str = KeyOption) -> None:
    """Flag texts far from everything in the collection."""
    with client(url, api_key) as sdk:
        r = sdk.collections.novelty(collection, texts)
    for d in r["data"]:
        flag = "[red]novel[/red]" if d["novel"] else "[green]familiar[/green]"
        console.print(f"{flag} {d['score']:.4f} (threshold {r['threshold']:.4f})  {d['text'][:80]}")


@cli.command()
@friendly
def ask(collection: str, question: str, model: str = typer.Option(None, help="Chat model (default smollm2)"),
        top_k: int = typer.Option(4, "--top-k", "-k"), url: str = UrlOption, api_key: str = KeyOption) -> None:
    """Answer a question from a collection, with citations."""
    with client(url, api_key) as sdk:
        r = sdk.collections.answer(collection, question, top_k=top_k, **({"model": model} if model else {}))
    console.print(r["answer"], highlight=False)
    for c in r["citations"]:
        console.print(f"  [{c['index']}] {c['id']}", highlight=False)
    console.print(f"groundedness {r['groundedness']:.2f}")
