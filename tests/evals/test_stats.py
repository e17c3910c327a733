"""The statistics on data with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from shipyard.evals import stats


def test_kappa_on_the_textbook_example() -> None:
    # Cohen's kappa, Wikipedia's worked example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> 0.4.
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert stats.cohen_kappa(a, b) == pytest.approx(0.4)
    out = stats.agreement(a, b)
    assert out["agreement"] == pytest.approx(0.7) and out["n"] == 50


def test_kappa_matches_scikit_learn_on_random_labels() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        a, b = rng.integers(0, 3, 60).tolist(), rng.integers(0, 3, 60).tolist()
        assert stats.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert stats.cohen_kappa([1, 0, 1], [1, 0, 1]) == 1.0


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    covered = 0
    trials = 200
    for t in range(trials):
        sample = (rng.random(60) < 0.7).astype(float).tolist()
        est = stats.bootstrap_ci(sample, resamples=1000, seed=t)
        covered += est.low <= 0.7 <= est.high
    assert 0.88 <= covered / trials <= 0.99


def test_bootstrap_leaves_out_missing_values_and_handles_constants() -> None:
    est = stats.bootstrap_ci([1.0, None, 0.0, float("nan"), 1.0])
    assert est.n == 3 and est.mean == pytest.approx(2 / 3)
    const = stats.bootstrap_ci([0.5, 0.5])
    assert (const.low, const.high) == (0.5, 0.5)
    assert stats.bootstrap_ci([]).mean is None


def test_exact_permutation_p_value_on_a_small_example() -> None:
    # Five items, each better by 1: only 2 of the 32 sign patterns are as extreme -> p = 1/16.
    assert stats.permutation_test([0] * 5, [1] * 5) == pytest.approx(2 / 32)
    assert stats.permutation_test([1, 0, 1], [1, 0, 1]) == 1.0


def test_paired_test_detects_a_real_shift_and_not_a_null_one() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(0.5, 0.2, 40)
    shifted = base + 0.1 + rng.normal(0, 0.05, 40)
    real = stats.paired_test(base.tolist(), shifted.tolist())
    assert real.significant() and real.diff > 0 and real.low > 0
    false_positives = 0
    for t in range(100):
        a = rng.normal(0.5, 0.2, 30)
        b = a + rng.normal(0, 0.1, 30)  # noise only
        false_positives += stats.paired_test(a.tolist(), b.tolist(), seed=t, resamples=500).significant()
    assert false_positives <= 12  # about 5% expected


def test_paired_test_uses_only_items_both_scored() -> None:
    out = stats.paired_test([1.0, None, 0.0], [1.0, 1.0, None])
    assert out.n == 1 and out.diff == 0.0
    with pytest.raises(ValueError):
        stats.paired_test([1.0], [1.0, 0.0])
