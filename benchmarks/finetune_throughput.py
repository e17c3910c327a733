"""Fine-tuning throughput: a Shipyard job versus a plain PEFT script, same model, data and settings.

Both load the bundled SmolLM2-135M from the same dequantized cache, wrap it with the same LoRA config,
and train on the same tokenized examples (assistant tokens labelled). The plain script is the textbook
loop: AdamW + linear schedule, forward, backward, step. The Shipyard side is a real job: uploaded through
the files API, queued, claimed by the server's embedded worker, with per-step events, heartbeats and the
end checkpoint; its tokens/s is the job's own measurement over its training steps. Rounds alternate.
Peak memory is printed beside it (the plain script's process; the server's process for Shipyard).
Target: ratio at least 0.95.

    .venv/bin/python benchmarks/finetune_throughput.py [--rounds 2] [--steps 12] [--batch-size 4] [--seq 128]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from common import ShipyardServer

from shipyard.finetune import dataset
from shipyard.finetune.base import load_model
from shipyard.finetune.device import peak_memory_bytes, pick_device, train_dtype
from shipyard.finetune.trainer import Hyperparameters, collate, epoch_order, wrap_lora
from shipyard.providers.bundled import resolve_model_path


def make_data(n: int, seq: int) -> bytes:
    """Varied conversations long enough to fill `seq` tokens, so both sides train on full batches."""
    filler = "The harbour master logs every ship, its cargo, its crew and the tide it sailed on. "
    lines = []
    for i in range(n):
        lines.append({"messages": [
            {"role": "user", "content": f"Summarize log entry {i}: " + filler * (seq // 40)},
            {"role": "assistant", "content": f"Entry {i}: " + filler * (seq // 60)}]})
    return "\n".join(json.dumps(x) for x in lines).encode()


def plain_peft(data: bytes, hp: Hyperparameters, cache: Path) -> tuple[float, int]:
    """The baseline: PEFT + a plain PyTorch loop, nothing else."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    device = pick_device()
    model, tok = load_model(resolve_model_path("bundled:smollm2"), cache, train_dtype(device))
    examples = [dataset.encode(tok, m, hp.max_seq_length)[:2] for m in dataset.parse_jsonl(data).examples]
    torch.manual_seed(hp.seed)
    model = wrap_lora(model, hp).to(device)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=hp.learning_rate, weight_decay=0)
    steps = hp.max_steps or 1
    sched = get_linear_schedule_with_warmup(opt, int(steps * hp.warmup_ratio), steps)
    order = epoch_order(len(examples), hp.seed, 0)
    tokens = 0
    started = time.perf_counter()
    for step in range(steps):
        batch = collate([examples[i] for i in order[step * hp.batch_size:(step + 1) * hp.batch_size]],
                        tok.pad_token_id, device)
        model(**batch).loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    return tokens / (time.perf_counter() - started), peak_memory_bytes(device)


def shipyard_job(server: ShipyardServer, data: bytes, hp: Hyperparameters) -> float:
    client = httpx.Client(base_url=server.url, timeout=600)
    f = client.post("/v1/files", files={"file": ("bench.jsonl", data)}, data={"purpose": "fine-tune"}).json()
    body = {"model": "smollm2", "training_file": f["id"], "seed": hp.seed,
            "hyperparameters": {"n_epochs": 1, "batch_size": hp.batch_size, "learning_rate": hp.learning_rate,
                                "lora_rank": hp.lora_rank, "lora_alpha": hp.lora_alpha,
                                "max_seq_length": hp.max_seq_length, "max_steps": hp.max_steps,
                                "checkpoint_steps": 0, "evaluators": []}}
    job = client.post("/v1/fine_tuning/jobs", json=body).json()
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.5)
        job = client.get(f"/v1/fine_tuning/jobs/{job['id']}").json()
    if job["status"] != "succeeded":
        raise SystemExit(f"the Shipyard job {job['status']}: {job.get('error')}")
    return float(job["shipyard"]["metrics"]["tokens_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    args = parser.parse_args()
    hp = Hyperparameters(n_epochs=1, batch_size=args.batch_size, learning_rate=2e-4, lora_rank=8, lora_alpha=16,
                         max_seq_length=args.seq, max_steps=args.steps, seed=1)
    data = make_data(args.steps * args.batch_size, args.seq)
    work = Path(tempfile.mkdtemp(prefix="shipyard-ft-bench-"))
    cache = work / "finetune" / "bases"
    load_model(resolve_model_path("bundled:smollm2"), cache, train_dtype(pick_device()))  # build the cache once
    server = ShipyardServer(work / "server", {"models": [], "finetune_dir": str(work / "finetune"),
                                              "finetune_poll_interval": 0.2})
    try:
        plain, ours, peak = [], [], 0
        for _ in range(args.rounds):
            tps, peak = plain_peft(data, hp, cache)
            plain.append(tps)
            ours.append(shipyard_job(server, data, hp))
        rss = Path(f"/proc/{server.proc.pid}/status").read_text() if Path("/proc").exists() else ""
        server_peak = next((int(line.split()[1]) * 1024 for line in rss.splitlines() if line.startswith("VmHWM")), 0)
    finally:
        server.stop()
    p, s = statistics.median(plain), statistics.median(ours)
    print(f"device {pick_device()}, LoRA r={hp.lora_rank}, batch {hp.batch_size}, length {hp.max_seq_length}, "
          f"{args.steps} steps, {args.rounds} rounds")
    print(f"plain PEFT script  {p:8.1f} tokens/s  peak memory {peak / 2**30:5.2f} GiB (process)")
    print(f"Shipyard job       {s:8.1f} tokens/s  peak memory {server_peak / 2**30:5.2f} GiB (whole server)")
    print(f"ratio              {s / p:8.3f}  (target >= 0.95)")


if __name__ == "__main__":
    main()
