"""Ingestion: chunks embedded and indexed per second with the bundled all-MiniLM-L6-v2, through
Shipyard's ingest path (extract, chunk, de-duplicate, embed in batches, store, index), against the
bare embedding rate of the same model on the same chunks measured in the same run.

    .venv/bin/python benchmarks/vector_ingest.py [--files 40] [--backends sqlite postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path

from common import ROOT  # noqa: F401

from shipyard.config import Settings
from shipyard.platform import Platform
from shipyard.vectors import get_service
from shipyard.vectors.ingest import file_documents

WORDS = ("harbour ship crew anchor sail wind tide cargo port captain engine deck hull mast rope chart "
         "database index query table row column vector search model token prompt answer cluster").split()


def corpus(files: int, paragraphs: int, seed: int = 0) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    out = []
    for f in range(files):
        parts = [f"# Document {f}"]
        for p in range(paragraphs):
            parts.append(f"## Part {p}")
            sentences = [" ".join(rng.choices(WORDS, k=rng.randint(8, 20))).capitalize() + "." for _ in range(6)]
            parts.append(" ".join(sentences))
        out.append((f"doc{f}.md", "\n\n".join(parts).encode()))
    return out


async def run(settings: Settings, files: list[tuple[str, bytes]], chunk_size: int) -> tuple[int, float, float]:
    platform = Platform.build(settings)
    if not platform.store.is_sqlite:
        with platform.store.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    await platform.start()
    try:
        svc = get_service(platform)
        await svc.create("ingest")
        texts = [d["text"] for _, data in files for d in file_documents("x.md", data, size=chunk_size, overlap=100)]
        provider = platform.registry.resolve("all-minilm-l6-v2")
        await provider.embed_vectors(texts[:64])  # load the model outside the timings
        t0 = time.perf_counter()
        for i in range(0, len(texts), settings.vector_embed_batch):
            await provider.embed_vectors(texts[i:i + settings.vector_embed_batch])
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = await svc.ingest_files("ingest", files, chunk_size=chunk_size, overlap=100)
        full = time.perf_counter() - t0
        return result["chunks"], bare, full
    finally:
        await platform.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--paragraphs", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=800)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    files = corpus(args.files, args.paragraphs)
    print(f"{'backend':<10}{'chunks':>8}{'embed only/s':>14}{'ingest/s':>10}{'ratio':>7}")
    for backend in args.backends:
        tmp = Path(tempfile.mkdtemp(prefix="shipyard-ibench-"))
        url = None
        if backend == "postgres":
            import psycopg

            name = f"shipyard_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = args.pg.rsplit("/", 1)[0] + "/" + name
        try:
            chunks, bare, full = asyncio.run(run(Settings(data_dir=tmp, database_url=url), files, args.chunk_size))
        finally:
            if url:
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"{backend:<10}{chunks:>8}{chunks / bare:>14.1f}{chunks / full:>10.1f}{bare / full:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
