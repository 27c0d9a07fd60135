"""The statistics of a comparison: bootstrap confidence intervals, paired and two-sample tests, Holm's correction,
and an A/A check of the false-positive rate. Seeded: the same inputs and seed give the same numbers.

>>> holm([0.01, 0.04, 0.03])
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

CHUNK = 200  # bootstrap resamples drawn at a time: bounds memory at CHUNK x users indexes


@dataclass(frozen=True)
class Comparison:
    control_mean: float
    variant_mean: float
    diff: float
    diff_low: float
    diff_high: float
    p_t: float  # paired or Welch t-test
    p_rank: float  # Wilcoxon signed-rank (paired) or Mann-Whitney U (two samples)

    @property
    def lift(self) -> float | None:
        return self.diff / self.control_mean if self.control_mean else None


def bootstrap_means(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The means of `resamples` bootstrap resamples of `values` (users drawn with replacement)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return np.full(resamples, np.nan)
    out = np.empty(resamples)
    for start in range(0, resamples, CHUNK):
        stop = min(start + CHUNK, resamples)
        out[start:stop] = values[rng.integers(0, n, (stop - start, n))].mean(axis=1)
    return out


def percentile_interval(draws: np.ndarray, alpha: float) -> tuple[float, float]:
    if np.isnan(draws).all():
        return math.nan, math.nan
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def mean_interval(values: np.ndarray, alpha: float, resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    return percentile_interval(bootstrap_means(values, resamples, rng), alpha)


def paired(control: np.ndarray, variant: np.ndarray, alpha: float, resamples: int,
           rng: np.random.Generator) -> Comparison:
    """The same users scored under both: bootstrap over users of the mean difference, paired t-test, Wilcoxon."""
    control = np.asarray(control, dtype=np.float64)
    variant = np.asarray(variant, dtype=np.float64)
    diff = variant - control
    low, high = percentile_interval(bootstrap_means(diff, resamples, rng), alpha)
    if len(diff) < 2 or not np.any(diff):
        p_t = p_rank = 1.0  # identical scores: nothing to find
    else:
        p_t = float(stats.ttest_1samp(diff, 0.0).pvalue) if np.std(diff) > 0 else 0.0
        p_rank = float(stats.wilcoxon(diff, zero_method="zsplit").pvalue)
    return Comparison(float(control.mean()), float(variant.mean()), float(diff.mean()), low, high, p_t, p_rank)


def two_sample(control: np.ndarray, variant: np.ndarray, alpha: float, resamples: int,
               rng: np.random.Generator) -> Comparison:
    """Different users in each arm: bootstrap of the difference of means, Welch t-test, Mann-Whitney U."""
    control = np.asarray(control, dtype=np.float64)
    variant = np.asarray(variant, dtype=np.float64)
    if len(control) < 2 or len(variant) < 2:
        nan = math.nan
        return Comparison(_mean(control), _mean(variant), _mean(variant) - _mean(control), nan, nan, nan, nan)
    draws = bootstrap_means(variant, resamples, rng) - bootstrap_means(control, resamples, rng)
    low, high = percentile_interval(draws, alpha)
    if np.var(control) == 0 and np.var(variant) == 0:
        p_t = 1.0 if control[0] == variant[0] else 0.0
        p_rank = p_t
    else:
        p_t = float(stats.ttest_ind(variant, control, equal_var=False).pvalue)
        p_rank = float(stats.mannwhitneyu(variant, control, alternative="two-sided").pvalue)
    return Comparison(_mean(control), _mean(variant), _mean(variant) - _mean(control), low, high, p_t, p_rank)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: controls the family-wise error rate over the comparisons (NaN stays NaN)."""
    indexed = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    indexed.sort()
    m = len(indexed)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = round(running, 12)
    return adjusted


def aa_false_positive_rate(values: np.ndarray, splits: int, alpha: float, seed: int) -> float:
    """Split the same users at random into two halves `splits` times and test them against each other (Welch):
    with nothing to find, the share of splits found significant should be about `alpha`."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 4:
        return math.nan
    rng = np.random.default_rng([seed, 1])
    hits = 0
    for _ in range(splits):
        half = rng.random(len(values)) < 0.5
        if half.sum() < 2 or (~half).sum() < 2:
            continue
        a, b = values[half], values[~half]
        if np.var(a) == 0 and np.var(b) == 0:
            continue
        hits += stats.ttest_ind(a, b, equal_var=False).pvalue < alpha
    return hits / splits
