"""Confidence intervals for evaluation metrics."""

from __future__ import annotations

import numpy as np


def bootstrap_ci(values, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean.

    Written with numpy (a dozen lines) rather than adding scipy as a dependency for
    ``scipy.stats.bootstrap``; deterministic for a given ``seed``.
    """
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    if np.all(x == x[0]):
        return (float(x[0]), float(x[0]))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))
    means = x[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return (float(min(lo, x.mean())), float(max(hi, x.mean())))


def summarize(values, seed: int = 0) -> dict:
    """``{"mean", "std", "ci95": [lo, hi], "n"}`` of the finite values (NaN mean when none)."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    mean = float(x.mean()) if x.size else float("nan")
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    lo, hi = bootstrap_ci(x, seed=seed)
    return {"mean": mean, "std": std, "ci95": [lo, hi], "n": int(x.size)}
