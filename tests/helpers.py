"""Test plumbing: free ports, real server processes, service availability."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("SHIPYARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SHIPYARD_TEST_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def service_missing(what: str) -> None:
    """Outside CI a missing service skips with one clear line; in CI it fails, since CI has them."""
    message = f"{what} is not running: skipping the tests that need it"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class FakeUpstream:
    def __init__(self, latency: float = 0.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "fake_upstream.py"), "--port", str(self.port),
             "--latency", str(latency)])
        wait_http(self.url + "/v1/models", proc=self.proc)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(3)
        except subprocess.TimeoutExpired:  # a deliberately slow request is still open
            self.proc.kill()
            self.proc.wait(5)


class ShipyardServer:
    """`shipyard serve` in its own process, on a free port, with its own data directory."""

    def __init__(self, data_dir: Path, config: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        config_path = data_dir / "shipyard.yaml"
        config_path.write_text(yaml.safe_dump(config or {}))
        self.env = {**os.environ, "SHIPYARD_DATA_DIR": str(data_dir), "SHIPYARD_CONFIG": str(config_path),
                    "SHIPYARD_PORT": str(self.port), "SHIPYARD_LOG_LEVEL": "warning", **(env or {})}
        self.log = open(data_dir / "server.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "shipyard.cli.main", "serve"], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(self.url + "/health", proc=self.proc)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        self.log.close()
        return self.proc.returncode

    def logs(self) -> str:
        return (self.data_dir / "server.log").read_text(errors="replace")


def postgres_database() -> str:
    """Create a throw-away database and return its URL (dropped by the caller with `drop_database`)."""
    import psycopg

    name = f"shipyard_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        service_missing("PostgreSQL on 127.0.0.1:5432")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
