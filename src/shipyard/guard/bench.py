"""Measure every scanner on the held-out evaluation set (`guard/data/eval.jsonl`).

Precision, recall and F1 per scanner at its default threshold, the false-positive rate on the
benign rows, recall per attack family, and ablations of the injection scanner (rules only,
classifier only). `shipyard guard bench` prints this; the training script never reads eval.jsonl.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from shipyard.guard.data import corpus
from shipyard.guard.registry import get_scanner
from shipyard.guard.types import ScanContext


@dataclass
class Score:
    name: str
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    seconds: float = 0.0
    families: dict[str, list[int]] = field(default_factory=dict)  # family -> [caught, total]
    misses: list[str] = field(default_factory=list)

    def add(self, predicted: bool, label: int, family: str, text: str) -> None:
        if label:
            self.tp += predicted
            self.fn += not predicted
            fam = self.families.setdefault(family.split("+")[0], [0, 0])
            fam[0] += predicted
            fam[1] += 1
        else:
            self.fp += predicted
            self.tn += not predicted
        if predicted != bool(label) and len(self.misses) < 200:
            self.misses.append(("FP " if predicted else "FN ") + text[:160].replace("\n", " "))

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def fpr(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    def as_dict(self) -> dict[str, Any]:
        n = self.tp + self.fp + self.tn + self.fn
        return {"scanner": self.name, "positives": self.tp + self.fn, "negatives": self.fp + self.tn,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "fpr": round(self.fpr, 4), "ms_per_text": round(self.seconds * 1000 / max(1, n), 3),
                "families": {k: f"{v[0]}/{v[1]}" for k, v in sorted(self.families.items())}}


VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "prompt_injection (rules only)": ("prompt_injection", {"classifier": False}),
    "prompt_injection (classifier only)": ("prompt_injection", {"rules": False}),
}


def run(rows: list[dict[str, Any]] | None = None, ablations: bool = True) -> list[Score]:
    rows = rows if rows is not None else corpus.load("eval.jsonl")
    targets: dict[str, tuple[str, dict[str, Any]]] = {}
    for row in rows:
        targets.setdefault(row["scanner"], (row["scanner"], {}))
    if ablations and "prompt_injection" in targets:
        targets.update(VARIANTS)
    scores = []
    for label, (name, options) in targets.items():
        scanner = get_scanner(name, options)
        score = Score(label)
        started = time.perf_counter()
        for row in rows:
            if row["scanner"] != name:
                continue
            direction = "output" if row.get("role") == "assistant" else "input"
            ctx = ScanContext(direction=direction, role=row.get("role", "user"), history=row.get("history", ""),
                              system_prompt=row.get("system_prompt", ""))
            verdict = scanner.scan(row["text"], ctx)
            score.add(verdict.triggered, row["label"], row.get("family", ""), row["text"])
        score.seconds = time.perf_counter() - started
        scores.append(score)
    return scores


def sample_prompt(tokens: int = 1000, seed: int = 0) -> str:
    """A benign prompt of about `tokens` tokens (4 characters each), with an e-mail and a phone number in it."""
    import random

    from shipyard.guard.data import eval_phrases as p

    rng = random.Random(seed)
    parts: list[str] = []
    while sum(len(x) for x in parts) < tokens * 4:
        parts.append(rng.choice(p.DOCS + p.BENIGN_TASKS))
        if len(parts) == 20:
            parts.append("Reach me at jane.roe@example.com or +1 415-555-0134 if anything is unclear.")
    return " ".join(parts)[: tokens * 4]


def latency(runs: int = 300, tokens: int = 1000) -> dict[str, float]:
    """All input scanners (injection, PII, secrets, toxicity, banned topics) on a ~1,000-token prompt.

    A fresh text every run (a counter appended), so no cache makes later runs look faster than a
    real stream of distinct prompts would."""
    from shipyard.guard.engine import check_messages
    from shipyard.guard.policy import build
    from shipyard.guard.pseudonym import Vault

    policy = build({"input": {"pii": {"action": "pseudonymize"}, "toxicity": {"action": "block"},
                              "banned_topics": {"action": "block"}}})
    base = sample_prompt(tokens)
    for i in range(10):
        check_messages([{"role": "user", "content": f"{base} {i}"}], policy, Vault())
    times = []
    for i in range(runs):
        messages = [{"role": "user", "content": f"{base} #{i}"}]
        started = time.perf_counter()
        check_messages(messages, policy, Vault())
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"tokens": tokens, "runs": runs, "p50": times[len(times) // 2], "p99": times[int(len(times) * 0.99)],
            "mean": sum(times) / len(times)}
