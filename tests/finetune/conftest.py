"""Fine-tuning fixtures: one shared base-model cache for the session (the first load dequantizes the GGUF,
about 20 s; later loads take well under a second), small real jobs on the bundled SmolLM2."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.helpers import ShipyardServer

FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="session")
def ft_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("finetune-shared")


def ft_config(ft_dir: Path, **extra: Any) -> dict[str, Any]:
    return {"models": [], "finetune_dir": str(ft_dir), "finetune_eval_max_items": 3, "finetune_poll_interval": 0.3,
            "finetune_lease_seconds": 3, "finetune_model_sync_interval": 1, **extra}


@pytest.fixture(scope="module")
def ft_server(tmp_path_factory: pytest.TempPathFactory, ft_dir: Path) -> Iterator[ShipyardServer]:
    srv = ShipyardServer(tmp_path_factory.mktemp("ft-server"), ft_config(ft_dir))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def oai(ft_server: ShipyardServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=ft_server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


def secret_word_lines(n: int, word: str = "PINEAPPLE") -> bytes:
    """A task the base model cannot know: answer every question about the secret word with one word."""
    lines = [{"messages": [{"role": "system", "content": "You answer with the secret word only."},
                           {"role": "user", "content": f"Question {i}: what is the secret word?"},
                           {"role": "assistant", "content": word}]} for i in range(n)]
    return "\n".join(json.dumps(x) for x in lines).encode() + b"\n"


def wait_job(client: openai.OpenAI, job_id: str, until: Any = None, timeout: float = 240.0) -> Any:
    """Poll until `until(job)` holds (default: the job finished); fail with the job's events if it never does."""
    until = until or (lambda j: j.status in FINISHED)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if until(job):
            return job
        time.sleep(0.3)
    events = [e.message for e in client.fine_tuning.jobs.list_events(job_id, limit=50).data]
    raise AssertionError(f"job {job_id} is still {job.status} after {timeout}s; events: {events}")


def all_events(client: openai.OpenAI, job_id: str) -> list[Any]:
    """Every event, oldest first, paging with `after` like any OpenAI client would."""
    events: list[Any] = []
    for e in client.fine_tuning.jobs.list_events(job_id, limit=100):  # auto-pagination follows `after`
        events.append(e)
    return list(reversed(events))
