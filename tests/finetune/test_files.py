"""The OpenAI files API for fine-tuning data, driven by the official `openai` client over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import openai
import pytest

from tests.finetune.conftest import secret_word_lines
from tests.helpers import ShipyardServer

WIDE = {**os.environ, "COLUMNS": "200"}
GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}


def test_upload_list_retrieve_content_delete(oai: openai.OpenAI) -> None:
    data = secret_word_lines(12)
    f = oai.files.create(file=("train.jsonl", data), purpose="fine-tune")
    assert f.id.startswith("file-") and f.purpose == "fine-tune" and f.status == "processed"
    assert f.bytes == len(data) and f.filename == "train.jsonl"
    report = f.validation  # Shipyard's extra field: token counts and an estimate before any job runs
    assert report["examples"] == 12
    assert report["total_tokens"] > report["trained_tokens"] > 12  # only the answers are learned
    assert report["estimated_seconds_per_epoch"] > 0 and report["throughput_basis"]
    assert report["steps_per_epoch"] == 3  # 12 examples, default batch size 4

    assert f.id in [x.id for x in oai.files.list(purpose="fine-tune")]
    assert oai.files.retrieve(f.id).bytes == len(data)
    assert oai.files.content(f.id).content == data

    assert oai.files.delete(f.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        oai.files.retrieve(f.id)


def test_every_bad_line_is_reported_with_number_and_reason(oai: openai.OpenAI) -> None:
    before = {x.id for x in oai.files.list()}
    lines = [
        json.dumps(GOOD),                                                           # 1 fine
        "{not json",                                                                # 2
        json.dumps(GOOD),                                                           # 3 fine
        json.dumps({"messages": [{"role": "user", "content": "only a question"}]}),  # 4
        json.dumps({"prompt": "legacy", "completion": "format"}),                   # 5
        "",                                                                         # 6 blank: skipped
        json.dumps({"messages": [{"role": "robot", "content": "x"}]}),              # 7
        json.dumps({"messages": [{"role": "user", "content": 42},
                                 {"role": "assistant", "content": "x"}]}),          # 8
        json.dumps({"messages": [{"role": "user", "content": "q"},
                                 {"role": "assistant", "content": "a", "weight": 2}]}),  # 9
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        oai.files.create(file=("bad.jsonl", "\n".join(lines).encode()), purpose="fine-tune")
    error = caught.value.body
    assert error["code"] == "invalid_file_format"
    reported = {e["line"]: e["reason"] for e in error["lines"]}
    assert sorted(reported) == [2, 4, 5, 7, 8, 9]
    assert "invalid JSON" in reported[2]
    assert "no assistant message" in reported[4]
    assert "prompt/completion" in reported[5]
    assert "unknown role 'robot'" in reported[7]
    assert "messages[0]: 'content'" in reported[8]
    assert "weight" in reported[9]
    assert "6 bad lines" in error["message"] and "line 2:" in error["message"]
    assert {x.id for x in oai.files.list()} == before  # nothing stored


def test_wrong_format_files_are_refused_clearly(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="not UTF-8"):
        oai.files.create(file=("model.bin", b"\xff\xfe\x00binary"), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="line 1: invalid JSON"):
        oai.files.create(file=("data.csv", b"question,answer\nhi,hello\n"), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="no training examples"):
        oai.files.create(file=("empty.jsonl", b"\n\n"), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="purpose"):
        oai.files.create(file=("x.jsonl", b"{}"), purpose="nonsense")  # type: ignore[arg-type]


def test_job_on_unknown_base_model_is_refused(oai: openai.OpenAI) -> None:
    f = oai.files.create(file=("t.jsonl", secret_word_lines(3)), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as caught:
        oai.fine_tuning.jobs.create(model="gpt-9-imaginary", training_file=f.id)
    assert caught.value.body["code"] == "model_not_available"
    assert "smollm2" in caught.value.body["message"]  # says which models can be fine-tuned
    with pytest.raises(openai.BadRequestError, match="cannot be fine-tuned"):
        oai.fine_tuning.jobs.create(model="all-minilm-l6-v2", training_file=f.id)
    with pytest.raises(openai.BadRequestError, match="training_file 'file-missing' does not exist"):
        oai.fine_tuning.jobs.create(model="smollm2", training_file="file-missing")
    with pytest.raises(openai.BadRequestError, match="unknown hyperparameter 'lora_rnak'"):
        oai.fine_tuning.jobs.create(model="smollm2", training_file=f.id, hyperparameters={"lora_rnak": 4})  # type: ignore
    with pytest.raises(openai.BadRequestError, match="n_epochs must be an integer"):
        oai.fine_tuning.jobs.create(model="smollm2", training_file=f.id, hyperparameters={"n_epochs": 0})
    with pytest.raises(openai.BadRequestError, match="only supervised"):
        oai.fine_tuning.jobs.create(model="smollm2", training_file=f.id, method={"type": "dpo"})
    assert oai.fine_tuning.jobs.list().data == [] or all(j.training_file != f.id for j in oai.fine_tuning.jobs.list())


def test_cli_validate_lists_bad_lines_and_exits_nonzero(ft_server: ShipyardServer, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(GOOD) + "\n[1, 2]\n" + json.dumps({"messages": []}) + "\n")
    run = subprocess.run([sys.executable, "-m", "shipyard.cli.main", "finetune", "validate", str(bad),
                          "--url", ft_server.url], capture_output=True, text=True, timeout=120, env=WIDE)
    assert run.returncode == 1
    assert "2 bad lines" in run.stderr
    assert "expected a JSON object" in run.stdout and "non-empty list" in run.stdout
    good = tmp_path / "good.jsonl"
    good.write_bytes(secret_word_lines(4))
    ok = subprocess.run([sys.executable, "-m", "shipyard.cli.main", "finetune", "validate", str(good),
                         "--url", ft_server.url], capture_output=True, text=True, timeout=120, env=WIDE)
    assert ok.returncode == 0, ok.stderr
    assert "is valid" in ok.stdout and "4 examples" in ok.stdout and "per epoch" in ok.stdout


def test_deleting_a_file_in_use_by_a_queued_job_is_refused(ft_server: ShipyardServer, oai: openai.OpenAI) -> None:
    f = oai.files.create(file=("t.jsonl", secret_word_lines(3)), purpose="fine-tune")
    job = oai.fine_tuning.jobs.create(model="smollm2", training_file=f.id, hyperparameters={"max_steps": 1})
    try:
        with pytest.raises(openai.ConflictError, match="cancel the job first"):
            oai.files.delete(f.id)
    finally:
        oai.fine_tuning.jobs.cancel(job.id)
    assert oai.files.delete(f.id).deleted
    # the cancelled job can no longer be cancelled, and says so
    with pytest.raises(openai.ConflictError, match="already cancelled"):
        oai.fine_tuning.jobs.cancel(job.id)
    assert httpx.get(f"{ft_server.url}/v1/fine_tuning/jobs/ftjob-nope").status_code == 404
