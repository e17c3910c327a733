"""Real LoRA jobs on the bundled SmolLM2 through the embedded worker, driven by the official client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import openai

from tests.finetune.conftest import all_events, ft_config, secret_word_lines, wait_job
from tests.helpers import ShipyardServer

QUESTION = [{"role": "system", "content": "You answer with the secret word only."},
            {"role": "user", "content": "Question 99: what is the secret word?"}]


def test_job_end_to_end_registers_a_served_model(ft_server: ShipyardServer, oai: openai.OpenAI,
                                                 ft_dir: Path, tmp_path: Path) -> None:
    train = oai.files.create(file=("train.jsonl", secret_word_lines(8)), purpose="fine-tune")
    valid = oai.files.create(file=("valid.jsonl", secret_word_lines(3)), purpose="fine-tune")
    job = oai.fine_tuning.jobs.create(
        model="smollm2", training_file=train.id, validation_file=valid.id, suffix="e2e", seed=7,
        hyperparameters={"n_epochs": 3, "batch_size": 4, "learning_rate": 4e-3,  # type: ignore[typeddict-unknown-key]
                         "lora_rank": 8, "lora_alpha": 16, "max_seq_length": 64, "checkpoint_steps": 2})
    assert job.status == "queued" and job.model == "smollm2" and job.seed == 7
    assert job.hyperparameters.n_epochs == 3 and job.hyperparameters.batch_size == 4

    job = wait_job(oai, job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:smollm2:e2e:{job.id}"
    assert job.trained_tokens and job.trained_tokens > 0 and job.finished_at

    events = all_events(oai, job.id)
    steps = [e.data for e in events if e.type == "metrics" and e.data and "total_steps" in e.data]
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5, 6]
    assert steps[-1]["train_loss"] < steps[0]["train_loss"]
    valid_losses = [e.data["valid_loss"] for e in events if e.data and e.data.get("valid_loss") is not None]
    assert len(valid_losses) >= 2 and valid_losses[-1] < valid_losses[0]
    messages = [e.message for e in events]
    assert any("Evaluation on the validation split" in m for m in messages)
    assert messages[-1] == "The job has successfully completed"

    checkpoints = oai.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [6, 4, 2]  # every 2 steps (= each epoch here) and the final one
    assert checkpoints[0].metrics.valid_loss is not None

    evaluation = job.shipyard["metrics"]["evaluation"]  # type: ignore[attr-defined]
    summary = evaluation["summary"]
    assert summary["split"] == "validation"
    assert summary["fine_tuned"]["mean_token_loss"] < summary["base"]["mean_token_loss"]
    assert evaluation["better"] is True

    # served through the gateway by llama.cpp with the converted adapter, beside its base
    assert job.fine_tuned_model in [m.id for m in oai.models.list()]
    tuned = oai.chat.completions.create(model=job.fine_tuned_model, messages=QUESTION, max_tokens=8, temperature=0)
    base = oai.chat.completions.create(model="smollm2", messages=QUESTION, max_tokens=8, temperature=0)
    assert "PINEAPPLE" in tuned.choices[0].message.content
    assert "PINEAPPLE" not in base.choices[0].message.content
    registered = httpx.get(f"{ft_server.url}/api/finetune/models").json()["data"]
    row = next(r for r in registered if r["name"] == job.fine_tuned_model)
    assert row["base_model"] == "smollm2" and Path(row["gguf_lora_path"]).exists() and row["active"]

    # the dashboard charts the job's loss and shows the comparison with the base
    page = httpx.get(f"{ft_server.url}/ui/finetune/{job.id}")
    assert page.status_code == 200 and "<svg" in page.text and "validation loss" in page.text
    assert "better" in page.text and job.fine_tuned_model in page.text
    assert job.id in httpx.get(f"{ft_server.url}/ui/finetune").text

    # the CLI follows a finished job to its end and names the model
    run = subprocess.run([sys.executable, "-m", "shipyard.cli.main", "finetune", "follow", job.id, "--url",
                          ft_server.url], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "200"})
    assert run.returncode == 0, run.stderr
    assert "6/6" in run.stdout and job.fine_tuned_model in run.stdout

    # the model survives a restart: a new server on the same data directory serves it again
    again = ShipyardServer(ft_server.data_dir, ft_config(ft_dir, finetune_embedded_worker=False))
    try:
        client = openai.OpenAI(base_url=again.url + "/v1", api_key="unused", max_retries=0)
        reply = client.chat.completions.create(model=job.fine_tuned_model, messages=QUESTION, max_tokens=8,
                                               temperature=0)
        assert "PINEAPPLE" in reply.choices[0].message.content
        assert client.models.delete(job.fine_tuned_model).deleted
        assert job.fine_tuned_model not in [m.id for m in client.models.list()]
    finally:
        again.stop()


def test_cancel_mid_run_keeps_checkpoints_and_registers_nothing(oai: openai.OpenAI) -> None:
    train = oai.files.create(file=("train.jsonl", secret_word_lines(8, "MANGO")), purpose="fine-tune")
    job = oai.fine_tuning.jobs.create(
        model="smollm2", training_file=train.id, suffix="cancel",
        hyperparameters={"n_epochs": 50, "batch_size": 2, "max_seq_length": 48,  # type: ignore[typeddict-unknown-key]
                         "checkpoint_steps": 2})
    running = wait_job(oai, job.id, lambda j: j.shipyard["current_step"] >= 3)  # type: ignore[attr-defined]
    assert running.status == "running"
    cancelled = oai.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"

    def stopped(j: object) -> bool:
        return any("because the job was cancelled" in e.message for e in all_events(oai, job.id))

    wait_job(oai, job.id, stopped, timeout=60)
    final = oai.fine_tuning.jobs.retrieve(job.id)
    assert final.status == "cancelled" and final.fine_tuned_model is None
    total = 50 * 4
    assert final.shipyard["current_step"] < total  # type: ignore[attr-defined]  # stopped mid-epoch, not at the end
    checkpoints = oai.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints and all(Path(c.path).exists() for c in checkpoints)  # type: ignore[attr-defined]
    assert checkpoints[0].step_number == final.shipyard["current_step"]  # type: ignore[attr-defined]
    assert not any(m.id.startswith("ft:smollm2:cancel:") for m in oai.models.list())
