"""The LoRA training loop (PEFT on a transformers model), independent of jobs, queues and databases.

A plain loop rather than `transformers.Trainer`/TRL's `SFTTrainer`: the worker must stop between any two
steps (cancellation mid-epoch, a lost lease, shutdown), checkpoint exactly where it stopped and resume
there on another machine, and the batch order has to be reproducible from (seed, epoch) for that
resume to see the same data. The worker drives it through `Hooks`.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Example = tuple[list[int], list[int]]  # (input ids, labels with -100 where nothing is learned)


@dataclass
class Hyperparameters:
    n_epochs: int = 3
    batch_size: int = 4
    learning_rate: float = 2e-4
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    max_seq_length: int = 512
    warmup_ratio: float = 0.03
    checkpoint_steps: int = 50  # also at the end of every epoch
    max_steps: int | None = None  # stop early (smoke runs, tests)
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Hooks:
    """What the loop reports and asks between steps; the defaults do nothing (a plain script)."""

    on_step: Callable[[dict[str, Any]], None] = lambda metrics: None
    on_checkpoint: Callable[[int, Path, dict[str, Any]], None] = lambda step, path, metrics: None
    should_stop: Callable[[], str | None] = lambda: None


@dataclass
class Outcome:
    stopped: str | None  # None when every step ran; else the reason should_stop gave
    step: int
    tokens: int  # tokens (padding excluded) seen by this run, not counting steps before a resume
    seconds: float  # wall time of this run's steps, hooks and checkpoints included
    last_train_loss: float | None = None
    last_valid_loss: float | None = None

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    return max(1, math.ceil(n_examples / batch_size))


def total_steps(n_examples: int, hp: Hyperparameters) -> int:
    steps = steps_per_epoch(n_examples, hp.batch_size) * hp.n_epochs
    return min(steps, hp.max_steps) if hp.max_steps else steps


def wrap_lora(model: Any, hp: Hyperparameters) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=hp.lora_rank, lora_alpha=hp.lora_alpha, lora_dropout=hp.lora_dropout,
                        target_modules=list(hp.lora_target_modules), bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def collate(batch: list[Example], pad_id: int, device: Any) -> dict[str, Any]:
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (x, y) in enumerate(batch):
        ids[row, : len(x)] = torch.tensor(x)
        labels[row, : len(y)] = torch.tensor(y)
        mask[row, : len(x)] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    import torch

    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def mean_loss(model: Any, examples: list[Example], batch_size: int, pad_id: int, device: Any) -> float | None:
    """Mean token loss over assistant tokens (token-weighted across batches)."""
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            batch = collate(examples[i: i + batch_size], pad_id, device)
            n = int((batch["labels"][:, 1:] != -100).sum())
            if n == 0:
                continue
            total += float(model(**batch).loss) * n
            count += n
    model.train()
    return total / count if count else None


def save_checkpoint(model: Any, optimizer: Any, scheduler: Any, step: int, path: Path) -> None:
    """Adapter + optimizer state, written beside the target and renamed into place (never half a checkpoint)."""
    import torch

    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, save_embedding_layers=False)
    torch.save({"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
               tmp / "trainer_state.pt")
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


def load_checkpoint(model: Any, optimizer: Any, scheduler: Any, path: Path) -> int:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(path / "adapter_model.safetensors")))
    state = torch.load(path / "trainer_state.pt", map_location="cpu", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["step"])


def train(model: Any, train_set: list[Example], valid_set: list[Example], hp: Hyperparameters, pad_id: int,
          device: Any, out_dir: Path, hooks: Hooks | None = None, resume_from: Path | None = None) -> Outcome:
    """Train the (already LoRA-wrapped) model; checkpoints land in out_dir/checkpoint-<step>."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    hooks = hooks or Hooks()
    torch.manual_seed(hp.seed)
    model.to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=hp.learning_rate, weight_decay=0.0)
    per_epoch = steps_per_epoch(len(train_set), hp.batch_size)
    total = total_steps(len(train_set), hp)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(total * hp.warmup_ratio), total)
    step = load_checkpoint(model, optimizer, scheduler, resume_from) if resume_from else 0
    torch.manual_seed(hp.seed + step)  # dropout after a resume: reproducible, if not bit-identical
    outcome = Outcome(stopped=None, step=step, tokens=0, seconds=0.0)
    started = time.perf_counter()
    order: list[int] = []
    order_epoch = -1

    def checkpoint(reason: str) -> None:
        metrics: dict[str, Any] = {"step": step, "train_loss": outcome.last_train_loss, "reason": reason}
        if valid_set:
            outcome.last_valid_loss = mean_loss(model, valid_set, hp.batch_size, pad_id, device)
            metrics["valid_loss"] = outcome.last_valid_loss
        path = out_dir / f"checkpoint-{step}"
        save_checkpoint(model, optimizer, scheduler, step, path)
        hooks.on_checkpoint(step, path, metrics)

    while step < total:
        reason = hooks.should_stop()
        if reason:
            outcome.stopped = reason
            if step > 0:
                checkpoint(reason)
            break
        epoch, index = divmod(step, per_epoch)
        if epoch != order_epoch:
            order, order_epoch = epoch_order(len(train_set), hp.seed, epoch), epoch
        batch = collate([train_set[i] for i in order[index * hp.batch_size: (index + 1) * hp.batch_size]],
                        pad_id, device)
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens = int(batch["attention_mask"].sum())
        outcome.tokens += tokens
        outcome.step = step
        outcome.last_train_loss = float(loss.detach())
        hooks.on_step({"step": step, "total_steps": total, "epoch": epoch + 1, "train_loss": outcome.last_train_loss,
                       "learning_rate": scheduler.get_last_lr()[0], "tokens": tokens})
        end_of_epoch = step % per_epoch == 0
        if step < total and (end_of_epoch or (hp.checkpoint_steps and step % hp.checkpoint_steps == 0)):
            checkpoint("epoch" if end_of_epoch else "interval")
    outcome.seconds = time.perf_counter() - started
    if outcome.stopped is None:
        checkpoint("final")
    return outcome
