"""The fine-tuning worker: claims jobs from the queue in the store and runs them to the end.

One job at a time per worker. While a job runs, a heartbeat thread extends its lease and notices a
cancellation or a lost lease; the training loop asks between steps and stops with a checkpoint. A job
whose worker died (no heartbeat for `finetune_lease_seconds`) is claimed by another worker and resumes
from its newest checkpoint. A finished job is converted, evaluated and registered in one transaction
with its `succeeded` status, so a model is registered completely or not at all.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from shipyard.errors import ShipyardError
from shipyard.finetune import dataset, queue
from shipyard.finetune.files import DEFAULT_TOKENS_PER_SECOND, finetune_dir
from shipyard.finetune.jobs import hyperparameters_of, model_name
from shipyard.finetune.tables import FileRecord, FineTunedModel, FineTuningJob, JobCheckpoint, JobEvent
from shipyard.store.tables import utcnow

log = logging.getLogger(__name__)


class JobFailed(Exception):
    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


class Worker:
    def __init__(self, platform: Any, worker_id: str | None = None,
                 on_registered: Callable[[FineTunedModel], None] | None = None) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.store = platform.store
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self.on_registered = on_registered
        self.current_job: str | None = None

    def run(self) -> None:
        """Poll until `stop()`; a job in progress is checkpointed and handed back to the queue."""
        while not self.stopping.is_set():
            try:
                found = self.run_once()
            except Exception:
                log.exception("fine-tuning worker %s: unexpected error", self.id)
                found = False
            if not found:
                self.stopping.wait(self.settings.finetune_poll_interval)

    def stop(self) -> None:
        self.stopping.set()

    def run_once(self) -> bool:
        claimed = queue.claim(self.store, self.id, self.settings.finetune_lease_seconds)
        if claimed is None:
            return False
        job_id, previous = claimed
        self.current_job = job_id
        try:
            JobRun(self, job_id, previous).run()
        finally:
            self.current_job = None
            gc.collect()
        return True


class JobRun:
    def __init__(self, worker: Worker, job_id: str, previous_worker: str | None) -> None:
        self.worker = worker
        self.store = worker.store
        self.settings = worker.settings
        self.job_id = job_id
        self.previous = previous_worker
        self.stop_reason: str | None = None
        self.done = threading.Event()
        self.out_dir = finetune_dir(self.settings) / "jobs" / job_id
        self.tokens_before = 0

    # -- lease ------------------------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        lease = self.settings.finetune_lease_seconds
        interval = max(0.2, min(lease / 3, 1.0))
        while not self.done.wait(interval):
            try:
                reason = queue.heartbeat(self.store, self.job_id, self.worker.id, lease)
            except Exception:
                log.exception("heartbeat failed for %s", self.job_id)
                continue
            if reason:
                self.stop_reason = reason
                return

    def should_stop(self) -> str | None:
        if self.stop_reason:
            return self.stop_reason
        return "shutdown" if self.worker.stopping.is_set() else None

    def event(self, message: str, level: str = "info", type: str = "message", data: dict | None = None) -> None:
        queue.add_event(self.store, self.job_id, message, level=level, type=type, data=data)

    def owned(self, **values: Any) -> bool:
        return queue.set_fields(self.store, self.job_id, self.worker.id, **values)

    # -- the job ----------------------------------------------------------------------------------------------
    def run(self) -> None:
        beat = threading.Thread(target=self._heartbeat, name=f"heartbeat-{self.job_id}", daemon=True)
        beat.start()
        try:
            self._run()
        except JobFailed as exc:
            self._fail(exc.code, exc.message, exc.param)
        except Exception as exc:
            log.exception("fine-tuning job %s failed", self.job_id)
            self._fail("training_failed", f"{type(exc).__name__}: {exc}")
        finally:
            self.done.set()
            beat.join(5)

    def _fail(self, code: str, message: str, param: str | None = None) -> None:
        error = {"code": code, "message": message, "param": param}
        if self.owned(status="failed", error=error, finished_at=utcnow(), lease_until=None):
            self.event(f"Job failed: {message}", level="error")

    def _examples(self, file_id: str | None, tokenizer: Any, max_len: int, param: str) -> tuple[list, list]:
        if file_id is None:
            return [], []
        with self.store.session() as session:
            row = session.get(FileRecord, file_id)
            content, filename = (row.content, row.filename) if row is not None else (None, file_id)
        if content is None:
            raise JobFailed("file_not_found", f"{param} {file_id} was deleted", param)
        parsed = dataset.parse_jsonl(content)
        try:
            dataset.require_valid(parsed, filename)
        except ShipyardError as exc:
            raise JobFailed("invalid_file_format", exc.message, param) from exc
        encoded = []
        for messages in parsed.examples:
            ids, labels, _ = dataset.encode(tokenizer, messages, max_len)
            if any(x != -100 for x in labels[1:]):
                encoded.append((ids, labels))
        if not encoded:
            raise JobFailed("invalid_file_format", f"{filename}: every answer is cut off by max_seq_length={max_len}",
                            param)
        return encoded, parsed.examples

    def _run(self) -> None:
        import torch

        from shipyard.finetune.base import load_model
        from shipyard.finetune.device import peak_memory_bytes, pick_device, train_dtype
        from shipyard.finetune.trainer import Hooks, total_steps, train, wrap_lora
        from shipyard.providers.bundled import resolve_model_path

        with self.store.session() as session:
            job = session.get(FineTuningJob, self.job_id)
            assert job is not None
            session.expunge(job)
        hp = hyperparameters_of(job)
        if self.previous:
            self.event(f"Worker {self.previous} stopped heartbeating; worker {self.worker.id} takes the job over",
                       level="warn")
        self.event(f"Validating training file: {job.training_file}")
        device = pick_device(self.settings.finetune_device)
        try:
            base_path = resolve_model_path(job.base_ref)
        except ShipyardError as exc:
            raise JobFailed("model_not_available", exc.message, "model") from exc
        model, tokenizer = load_model(base_path, finetune_dir(self.settings) / "bases", train_dtype(device))
        train_set, _ = self._examples(job.training_file, tokenizer, hp.max_seq_length, "training_file")
        valid_set, valid_messages = self._examples(job.validation_file, tokenizer, hp.max_seq_length,
                                                   "validation_file")
        steps = total_steps(len(train_set), hp)
        epoch_tokens = sum(len(ids) for ids, _ in train_set)
        tps = queue.recent_throughput(self.store, job.model) or DEFAULT_TOKENS_PER_SECOND.get(device.type, 150.0)
        seconds = (epoch_tokens * steps / max(1, -(-len(train_set) // hp.batch_size))) / tps
        metrics: dict[str, Any] = {**(job.metrics or {}), "device": str(device), "examples": len(train_set),
                                   "tokens_per_epoch": epoch_tokens, "estimated_seconds_total": round(seconds, 1)}
        self.event(f"Files validated: {len(train_set)} training examples ({epoch_tokens} tokens per epoch), "
                   f"{len(valid_set)} validation examples; {steps} steps on {device}, about {seconds:.0f} s")
        if reason := self.should_stop():
            return self._stopped(reason, 0)

        checkpoint = self._latest_checkpoint()
        if not self.owned(status="running", started_at=job.started_at or utcnow(), total_steps=steps, metrics=metrics,
                          trained_tokens=(checkpoint[2] if checkpoint else 0)):
            return self._stopped(self.should_stop() or "lost", 0)
        model = wrap_lora(model, hp)
        resume = None
        if checkpoint is not None:
            resume, self.tokens_before = checkpoint[1], checkpoint[2]
            self.event(f"Resuming from the checkpoint at step {checkpoint[0]}", data={"step": checkpoint[0]})
        else:
            self.event("Fine-tuning started")
        tokens_so_far = [self.tokens_before]

        def on_step(m: dict[str, Any]) -> None:
            tokens_so_far[0] += m["tokens"]
            data = {k: m[k] for k in ("step", "total_steps", "epoch", "train_loss", "learning_rate")}
            message = f"Step {m['step']}/{m['total_steps']}: training loss={m['train_loss']:.4f}"
            with self.store.session() as session:
                session.execute(update(FineTuningJob).where(FineTuningJob.id == self.job_id)
                                .values(current_step=m["step"], trained_tokens=tokens_so_far[0]))
                session.add(JobEvent(job_id=self.job_id, message=message, type="metrics", data=data))

        def on_checkpoint(step: int, path: Path, m: dict[str, Any]) -> None:
            m = {**m, "tokens": tokens_so_far[0]}
            valid = f", validation loss={m['valid_loss']:.4f}" if m.get("valid_loss") is not None else ""
            with self.store.session() as session:
                session.add(JobCheckpoint(id=queue.new_id("ftckpt"), job_id=self.job_id, step=step, path=str(path),
                                          metrics=m))
                data = {"step": step, "valid_loss": m.get("valid_loss"), "train_loss": m.get("train_loss")}
                session.add(JobEvent(job_id=self.job_id, type="metrics" if valid else "message", data=data,
                                     message=f"Checkpoint saved at step {step}{valid}"))

        outcome = train(model, train_set, valid_set, hp, tokenizer.pad_token_id, device, self.out_dir,
                        Hooks(on_step=on_step, on_checkpoint=on_checkpoint, should_stop=self.should_stop), resume)
        metrics.update(tokens_per_second=round(outcome.tokens_per_second, 2), train_loss=outcome.last_train_loss,
                       valid_loss=outcome.last_valid_loss, peak_memory_bytes=peak_memory_bytes(device))
        if outcome.stopped:
            return self._stopped(outcome.stopped, outcome.step)
        self._finish(job, model, tokenizer, valid_messages, outcome.step, tokens_so_far[0], metrics, base_path, device)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()

    def _latest_checkpoint(self) -> tuple[int, Path, int] | None:
        C = JobCheckpoint
        with self.store.session() as session:
            rows = session.execute(select(C.step, C.path, C.metrics).where(C.job_id == self.job_id)
                                   .order_by(C.step.desc())).all()
        for step, path, metrics in rows:
            if (Path(path) / "trainer_state.pt").exists():
                return step, Path(path), int((metrics or {}).get("tokens") or 0)
        return None

    def _stopped(self, reason: str, step: int) -> None:
        where = f" at step {step}" if step else ""
        if reason == "cancelled":
            queue.set_fields(self.store, self.job_id, lease_until=None)
            kept = "; checkpoints are kept" if step else ""
            self.event(f"Training stopped{where} because the job was cancelled{kept}")
        elif reason == "shutdown":
            if self.owned(status="queued", worker_id=None, lease_until=None):
                self.event(f"Worker {self.worker.id} is shutting down; the job goes back to the queue{where}",
                           level="warn")
        else:
            self.event(f"Worker {self.worker.id} lost the job's lease{where}; another worker continues it",
                       level="warn")

    def _finish(self, job: FineTuningJob, model: Any, tokenizer: Any, valid_messages: list, step: int, tokens: int,
                metrics: dict[str, Any], base_path: Path, device: Any) -> None:
        from shipyard.finetune.convert import adapter_to_gguf
        from shipyard.finetune.evaluate import EvalContext, evaluate

        adapter = self.out_dir / f"checkpoint-{step}"
        gguf_path = self.out_dir / "adapter.gguf"
        self.event("Converting the adapter to a GGUF LoRA for llama.cpp")
        try:
            adapter_to_gguf(adapter, base_path, gguf_path)
        except Exception as exc:
            raise JobFailed("conversion_failed", f"could not convert the adapter for serving: {exc}") from exc
        hp = hyperparameters_of(job)
        if valid_messages:
            examples, split = valid_messages, "validation"
        else:
            with self.store.session() as session:
                content = session.scalar(select(FileRecord.content).where(FileRecord.id == job.training_file))
            examples, split = dataset.parse_jsonl(content or b"").examples, "training"
        self.event(f"Evaluating against the base model on the {split} split")
        started = time.perf_counter()
        evaluation = evaluate(EvalContext(model, tokenizer, examples, split, device, hp.max_seq_length,
                                          self.settings.finetune_eval_max_items),
                              list(job.hyperparameters.get("evaluators", ["builtin"])))
        evaluation["seconds"] = round(time.perf_counter() - started, 2)
        metrics["evaluation"] = evaluation
        self.event(_verdict(evaluation), data=evaluation.get("summary"))
        name = model_name(job)
        row = FineTunedModel(
            name=name, project_id=job.project_id, job_id=job.id, base_model=job.model, base_ref=job.base_ref,
            adapter_path=str(adapter), gguf_lora_path=str(gguf_path), evaluation=evaluation, active=True,
            spec={"name": name, "provider": "local", "model": job.base_ref, "params": {"lora_path": str(gguf_path)}})
        J = FineTuningJob
        with self.store.session() as session:
            won = session.execute(
                update(J).where(J.id == job.id, J.worker_id == self.worker.id, J.status == "running")
                .values(status="succeeded", fine_tuned_model=name, finished_at=utcnow(), lease_until=None,
                        trained_tokens=tokens, current_step=step, metrics=metrics)).rowcount == 1
            if won:
                session.add(row)
                session.add(JobEvent(job_id=job.id, message=f"New fine-tuned model created: {name}",
                                     data={"fine_tuned_model": name}))
                session.add(JobEvent(job_id=job.id, message="The job has successfully completed"))
        if not won:
            with self.store.session() as session:
                status = session.scalar(select(J.status).where(J.id == job.id))
            self.event(f"Training finished but the job is {status} now (cancelled or taken over meanwhile); "
                       "no model was registered", level="warn")
            return
        if self.worker.on_registered is not None:
            self.worker.on_registered(row)


def _verdict(evaluation: dict[str, Any]) -> str:
    summary = evaluation.get("summary")
    if evaluation.get("skipped"):
        return "Evaluation skipped (no evaluators chosen)"
    if not summary:
        errors = "; ".join(r.get("error", "") for r in evaluation.get("results", []))
        return f"Evaluation failed: {errors}"
    base, tuned = summary["base"], summary["fine_tuned"]
    better = {True: "better than", False: "not better than", None: "not comparable with"}[evaluation["better"]]
    return (f"Evaluation on the {summary['split']} split: the fine-tuned model is {better} the base "
            f"(mean token loss {tuned['mean_token_loss']} vs {base['mean_token_loss']}, "
            f"exact match {tuned['exact_match']} vs {base['exact_match']})")
