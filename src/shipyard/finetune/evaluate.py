"""Fine-tuned versus base, on the validation split, before the model is registered.

Evaluators are pluggable: `register_evaluator(name, fn)` adds one (the evaluation capability can plug
its experiments in here), and a job picks them with `hyperparameters.evaluators` (default `builtin`).
Each gets an `EvalContext` and returns a dict; the first evaluator's `better` decides the verdict.
The built-in one measures, per item, the mean token loss of the reference answer (and perplexity) and
whether greedy decoding reproduces the answer exactly, once with the adapter and once without it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.finetune.dataset import encode


@dataclass
class EvalContext:
    model: Any  # the PEFT model; `with model.disable_adapter():` gives the base
    tokenizer: Any
    examples: list[list[dict[str, Any]]]  # validation conversations (messages)
    split: str  # "validation", or "training" when the job has no validation file
    device: Any
    max_seq_length: int
    max_items: int


Evaluator = Callable[[EvalContext], dict[str, Any]]
EVALUATORS: dict[str, Evaluator] = {}


def register_evaluator(name: str, fn: Evaluator) -> None:
    EVALUATORS[name] = fn


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _last_answer(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str] | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "assistant":
            prompt = [{"role": m["role"], "content": m["content"]} for m in messages[:i]]
            return prompt, messages[i]["content"]
    return None


def _score(ctx: EvalContext, items: list[list[dict[str, Any]]]) -> dict[str, Any]:
    import torch

    from shipyard.finetune.trainer import collate

    losses: list[float] = []
    matches = 0
    pad = ctx.tokenizer.pad_token_id
    for messages in items:
        ids, labels, _ = encode(ctx.tokenizer, messages, ctx.max_seq_length)
        batch = collate([(ids, labels)], pad, ctx.device)
        with torch.no_grad():
            if int((batch["labels"][:, 1:] != -100).sum()):
                losses.append(float(ctx.model(**batch).loss))
            pair = _last_answer(messages)
            if pair is None:
                continue
            prompt, answer = pair
            prompt_ids = ctx.tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt",
                                                           return_dict=True)["input_ids"].to(ctx.device)
            budget = min(64, len(ctx.tokenizer(answer, add_special_tokens=False)["input_ids"]) + 4)
            out = ctx.model.generate(input_ids=prompt_ids, attention_mask=torch.ones_like(prompt_ids),
                                     max_new_tokens=budget, do_sample=False, pad_token_id=pad)
            text = ctx.tokenizer.decode(out[0, prompt_ids.shape[1]:], skip_special_tokens=True)
            matches += _normalize(text) == _normalize(answer)
    loss = sum(losses) / len(losses) if losses else None
    return {"mean_token_loss": None if loss is None else round(loss, 4),
            "perplexity": None if loss is None else round(math.exp(min(loss, 50.0)), 3),
            "exact_match": round(matches / len(items), 4) if items else None}


def builtin(ctx: EvalContext) -> dict[str, Any]:
    items = ctx.examples[: ctx.max_items]
    ctx.model.eval()
    tuned = _score(ctx, items)
    with ctx.model.disable_adapter():
        base = _score(ctx, items)
    ctx.model.train()
    better = None
    if tuned["mean_token_loss"] is not None and base["mean_token_loss"] is not None:
        better = tuned["mean_token_loss"] < base["mean_token_loss"]
    return {"evaluator": "builtin", "split": ctx.split, "items": len(items), "base": base, "fine_tuned": tuned,
            "metric": "mean_token_loss", "better": better}


register_evaluator("builtin", builtin)


def evaluate(ctx: EvalContext, names: list[str]) -> dict[str, Any]:
    """Run the chosen evaluators; one that fails is reported, never fatal to the job."""
    if not names:
        return {"results": [], "better": None, "summary": None, "skipped": True}
    results = []
    for name in names:
        fn = EVALUATORS.get(name)
        if fn is None:
            results.append({"evaluator": name, "error": f"no evaluator named '{name}' (known: {sorted(EVALUATORS)})"})
            continue
        try:
            results.append(fn(ctx))
        except Exception as exc:  # an evaluation problem must not lose a trained model
            results.append({"evaluator": name, "error": f"{type(exc).__name__}: {exc}"})
    first = next((r for r in results if "error" not in r), None)
    return {"results": results, "better": None if first is None else first.get("better"),
            "summary": None if first is None else {k: first[k] for k in ("base", "fine_tuned", "metric", "split")}}
