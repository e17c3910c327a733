"""The statistics behind "is this difference real?": bootstrap intervals, paired tests, agreement.

All resampling is seeded, so the same results always print the same interval (a CI gate that flips
on a re-run would be worse than none).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 2000
SEED = 20240607


def _chunks(resamples: int, width: int, cells: int = 2_000_000) -> list[int]:
    """Resample in blocks of about `cells` numbers, so 10k items x 10k resamples stays a few MB."""
    step = max(1, cells // max(1, width))
    return [min(step, resamples - i) for i in range(0, resamples, step)]


@dataclass(frozen=True, slots=True)
class Estimate:
    mean: float | None
    low: float | None
    high: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n": self.n}


def _clean(values: Sequence[float | None]) -> np.ndarray:
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    return arr


def bootstrap_ci(values: Sequence[float | None], *, confidence: float = 0.95,
                 resamples: int = DEFAULT_RESAMPLES, seed: int = SEED) -> Estimate:
    """Mean with a percentile-bootstrap interval; missing values (errors) are left out, not zeroed."""
    arr = _clean(values)
    if arr.size == 0:
        return Estimate(None, None, None, 0)
    mean = float(arr.mean())
    if arr.size == 1 or np.all(arr == arr[0]):
        return Estimate(mean, mean, mean, int(arr.size))
    rng = np.random.default_rng(seed)
    means = np.concatenate([arr[rng.integers(0, arr.size, size=(n, arr.size))].mean(axis=1)
                            for n in _chunks(resamples, arr.size)])
    alpha = (1 - confidence) / 2
    return Estimate(mean, float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)), int(arr.size))


@dataclass(frozen=True, slots=True)
class PairedTest:
    """Candidate minus baseline over the items both scored."""

    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None
    n: int

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value is not None and self.p_value < alpha

    def as_dict(self) -> dict[str, Any]:
        return {"diff": self.diff, "ci_low": self.low, "ci_high": self.high, "p_value": self.p_value, "n": self.n}


def _pairs(baseline: Sequence[float | None], candidate: Sequence[float | None]) -> np.ndarray:
    if len(baseline) != len(candidate):
        raise ValueError("paired samples must have the same length")
    diffs = [c - b for b, c in zip(baseline, candidate, strict=True)
             if b is not None and c is not None and not math.isnan(b) and not math.isnan(c)]
    return np.asarray(diffs, dtype=np.float64)


def permutation_test(baseline: Sequence[float | None], candidate: Sequence[float | None], *,
                     resamples: int = 10_000, seed: int = SEED) -> float | None:
    """Two-sided paired permutation (sign-flip) test of mean difference zero.

    Exact over all 2^k sign patterns of the k non-zero differences when k <= 16; Monte Carlo
    otherwise (with the +1 correction so p is never 0)."""
    d = _pairs(baseline, candidate)
    if d.size == 0:
        return None
    nz = d[d != 0]
    if nz.size == 0:
        return 1.0
    observed = abs(d.sum())
    if nz.size <= 16:
        signs = ((np.arange(2 ** nz.size)[:, None] >> np.arange(nz.size)) & 1) * 2 - 1
        sums = np.abs(signs @ nz)
        return float(np.mean(sums >= observed - 1e-12))
    rng = np.random.default_rng(seed)
    extreme = 0
    for n in _chunks(resamples, nz.size):
        signs = rng.integers(0, 2, size=(n, nz.size), dtype=np.int8) * 2 - 1
        extreme += int(np.sum(np.abs(signs @ nz) >= observed - 1e-12))
    return float((extreme + 1) / (resamples + 1))


def paired_test(baseline: Sequence[float | None], candidate: Sequence[float | None], *,
                confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES, seed: int = SEED) -> PairedTest:
    """Mean paired difference with a bootstrap interval and a permutation p-value."""
    d = _pairs(baseline, candidate)
    if d.size == 0:
        return PairedTest(None, None, None, None, 0)
    est = bootstrap_ci(d.tolist(), confidence=confidence, resamples=resamples, seed=seed)
    return PairedTest(est.mean, est.low, est.high, permutation_test(baseline, candidate, seed=seed), int(d.size))


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Cohen's kappa of two raters over the same items: agreement corrected for chance."""
    if len(a) != len(b):
        raise ValueError("both raters must label the same items")
    if not a:
        return None
    labels = sorted({*a, *b}, key=str)
    index = {label: i for i, label in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)))
    for x, y in zip(a, b, strict=True):
        m[index[x], index[y]] += 1
    n = m.sum()
    observed = np.trace(m) / n
    expected = float((m.sum(axis=0) * m.sum(axis=1)).sum() / (n * n))
    if expected == 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return float((observed - expected) / (1 - expected))


def agreement(a: Sequence[Any], b: Sequence[Any]) -> dict[str, Any]:
    """Raw agreement and kappa; what a judge's calibration against human labels reports."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if not pairs:
        return {"n": 0, "agreement": None, "kappa": None}
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    return {"n": len(pairs), "agreement": sum(x == y for x, y in pairs) / len(pairs), "kappa": cohen_kappa(xs, ys)}


def percentile(values: Sequence[float | None], q: float) -> float | None:
    arr = _clean(values)
    return None if arr.size == 0 else float(np.percentile(arr, q))
