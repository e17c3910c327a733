"""A worker killed mid-job: another worker takes the job over when the lease runs out and resumes from the
last checkpoint. Workers are real `shipyard worker` processes sharing the server's database."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.finetune.conftest import all_events, ft_config, secret_word_lines, wait_job
from tests.helpers import ShipyardServer


@pytest.fixture
def queue_server(tmp_path: Path, ft_dir: Path) -> Iterator[ShipyardServer]:
    srv = ShipyardServer(tmp_path / "server", ft_config(ft_dir, finetune_embedded_worker=False))
    yield srv
    srv.stop()


def start_worker(srv: ShipyardServer, name: str) -> subprocess.Popen:
    log = open(srv.data_dir / f"{name}.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "shipyard.cli.main", "worker"], env=srv.env, stdout=log,
                            stderr=subprocess.STDOUT)


def test_killed_worker_job_resumes_from_checkpoint_on_another_worker(queue_server: ShipyardServer) -> None:
    oai = openai.OpenAI(base_url=queue_server.url + "/v1", api_key="unused", max_retries=0, timeout=120)
    train = oai.files.create(file=("train.jsonl", secret_word_lines(8, "KIWI")), purpose="fine-tune")
    job = oai.fine_tuning.jobs.create(
        model="smollm2", training_file=train.id, suffix="resume", seed=3,
        hyperparameters={"n_epochs": 3, "batch_size": 2, "max_seq_length": 48,  # type: ignore[typeddict-unknown-key]
                         "checkpoint_steps": 2, "learning_rate": 1e-3})
    assert oai.fine_tuning.jobs.retrieve(job.id).status == "queued"  # no worker yet: it waits in the queue

    first = start_worker(queue_server, "worker-a")
    second = None
    try:
        def past_a_checkpoint(j: object) -> bool:
            return any(c.step_number >= 2 for c in oai.fine_tuning.jobs.checkpoints.list(job.id).data)

        wait_job(oai, job.id, past_a_checkpoint, timeout=180)
        first.send_signal(signal.SIGKILL)  # no goodbye: the lease simply stops being renewed
        first.wait(10)
        at_kill = oai.fine_tuning.jobs.retrieve(job.id)
        assert at_kill.status == "running"
        killed_at = max(c.step_number for c in oai.fine_tuning.jobs.checkpoints.list(job.id).data)

        second = start_worker(queue_server, "worker-b")
        done = wait_job(oai, job.id, timeout=180)
        assert done.status == "succeeded", done.error
        assert done.shipyard["attempts"] == 2  # type: ignore[attr-defined]
        assert done.fine_tuned_model == f"ft:smollm2:resume:{job.id}"
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(30)

    events = all_events(oai, job.id)
    messages = [e.message for e in events]
    takeover = next(i for i, m in enumerate(messages) if "stopped heartbeating" in m)
    resumed = next(i for i, m in enumerate(messages) if m.startswith("Resuming from the checkpoint at step"))
    assert takeover < resumed
    resumed_step = events[resumed].data["step"]
    assert resumed_step >= killed_at >= 2
    later_steps = [e.data["step"] for e in events[resumed:]
                   if e.type == "metrics" and e.data and "total_steps" in e.data]
    assert later_steps == list(range(resumed_step + 1, 13))  # picks up right after the checkpoint, 12 steps in all

    def served(_j: object) -> bool:
        return done.fine_tuned_model in [m.id for m in oai.models.list()]

    wait_job(oai, job.id, served, timeout=30)  # the server picks up a model registered by another process
