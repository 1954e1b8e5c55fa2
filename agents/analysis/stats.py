"""The one statistics module: every interval and aggregate that laneforge reports.

What it offers (imports nothing else of ``agents``):

- a percentile bootstrap with a seeded numpy Generator: :func:`bootstrap_ci` for one sample,
  :func:`stratified_ci` for strata resampled independently (runs within each task in
  compare.py, episodes within each scenario in report.json's seen/unseen summary), and
  :func:`difference_ci` for the gap between two groups of strata (seen - unseen). The
  statistic maps the resampled strata to one value per resample: :func:`pooled_mean`,
  :func:`pooled_iqm` or :func:`strata_mean` (the mean over strata of each stratum's mean);
- :func:`t_ci` / :func:`t_half_width`: the Student-t interval of a mean, with quantiles from
  ``scipy.stats.t.ppf`` (every degree of freedom, no hand-written table);
- :func:`iqm`: the interquartile mean, ``scipy.stats.trim_mean(x, 0.25)`` (``floor(0.25 n)``
  values cut from each end), as Agarwal et al. 2021 ("Deep RL at the Edge of the Statistical
  Precipice") recommend for final performance;
- :func:`summarize`: ``{"mean", "std", "ci95", "n"}``, the per-metric entry of report.json;
  :func:`summarize_ratio` the same for a rate over episodes (events per km).

The rules are the same everywhere: an interval is what its method gives, never widened to
contain the point estimate; a sample whose values are all equal gives ``[v, v]``; fewer than
two values (for strata: no stratum with two) give no interval, ``None``, shown as ``n=1``.

Why the percentile method and not BCa (``scipy.stats.bootstrap``'s default): BCa's
acceleration is a jackknife ratio that is 0/0 when every value is equal, so it returns NaN for
a crash rate of 1.0 or a success rate of 0.0 over all episodes, which are common here; and it
supports one sample only, not the strata above. The percentile interval is defined for both and
is the one rliable uses. The resampling is written with numpy (each stratum drawn with
``rng.integers(0, n, (n_resamples, n))`` in turn, as ``scipy.stats.bootstrap`` draws its
samples), so a statistic sees every stratum of all resamples in one vectorized call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

CONFIDENCE = 0.95
N_RESAMPLES = 2000

# A statistic of strata: one (n_resamples, n_i) array per stratum -> (n_resamples,) values.
Statistic = Callable[[list[np.ndarray]], np.ndarray]


# ------------------------------------------------------------------ aggregates


def finite(values: ArrayLike) -> np.ndarray:
    """The finite values (None, NaN and inf dropped) as a float array."""
    x = np.asarray([np.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))], dtype=float)
    return x[np.isfinite(x)]


def iqm(scores: ArrayLike, axis: int = -1) -> np.ndarray | float:
    """Interquartile mean: the mean of the middle 50%, ``floor(0.25 n)`` values cut from each end
    (``scipy.stats.trim_mean(x, 0.25)``)."""
    from scipy import stats as sps  # here, not at the top: scipy.stats costs every train.py 0.7 s at start

    return sps.trim_mean(np.asarray(scores, dtype=float), 0.25, axis=axis)


def pooled_mean(parts: list[np.ndarray]) -> np.ndarray:
    """Mean over all values of all strata."""
    return np.concatenate(parts, axis=1).mean(axis=1)


def pooled_iqm(parts: list[np.ndarray]) -> np.ndarray:
    """IQM over all values of all strata."""
    return iqm(np.concatenate(parts, axis=1), axis=1)


def strata_mean(parts: list[np.ndarray]) -> np.ndarray:
    """Mean over strata of each stratum's mean (every stratum weighs the same)."""
    return np.mean([p.mean(axis=1) for p in parts], axis=0)


def estimate(strata: Sequence[ArrayLike], stat: Statistic = pooled_mean) -> float:
    """``stat`` of the strata themselves (the point estimate)."""
    return float(stat([np.asarray(s, dtype=float)[None, :] for s in strata])[0])


# ------------------------------------------------------------------ percentile bootstrap


def resample(strata: Sequence[np.ndarray], stat: Statistic, n_resamples: int = N_RESAMPLES,
             seed: int = 0) -> np.ndarray:
    """``n_resamples`` values of ``stat``: each stratum's values drawn with replacement, keeping
    its size, independently of the other strata."""
    rng = np.random.default_rng(seed)
    return stat([s[rng.integers(0, s.size, size=(n_resamples, s.size))] for s in strata])


def percentile_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> list[float]:
    """The central ``confidence`` interval of ``values`` (linear interpolation between order
    statistics, as ``np.percentile`` and ``scipy.stats.bootstrap`` do)."""
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return [float(lo), float(hi)]


def _strata(strata: Sequence[ArrayLike]) -> list[np.ndarray]:
    return [s for s in (finite(v) for v in strata) if s.size]


def _varies(strata: list[np.ndarray]) -> bool:
    """Whether resampling can move anything: some stratum holds two or more values."""
    return any(s.size >= 2 for s in strata)


def _constant(strata: list[np.ndarray]) -> bool:
    return all(np.ptp(s) == 0 for s in strata)


def stratified_ci(strata: Sequence[ArrayLike], stat: Statistic = pooled_mean, confidence: float = CONFIDENCE,
                  n_resamples: int = N_RESAMPLES, seed: int = 0) -> list[float] | None:
    """Percentile-bootstrap CI of ``stat`` over strata resampled independently; ``None`` when no
    stratum holds two finite values, ``[v, v]`` when every stratum is constant."""
    parts = _strata(strata)
    if not _varies(parts):
        return None
    if _constant(parts):
        v = estimate(parts, stat)
        return [v, v]
    return percentile_interval(resample(parts, stat, n_resamples, seed), confidence)


def bootstrap_ci(values: ArrayLike, stat: Statistic = pooled_mean, confidence: float = CONFIDENCE,
                 n_resamples: int = N_RESAMPLES, seed: int = 0) -> list[float] | None:
    """Percentile-bootstrap CI of ``stat`` (default: the mean) of one sample."""
    return stratified_ci([values], stat, confidence, n_resamples, seed)


def difference_ci(a: Sequence[ArrayLike], b: Sequence[ArrayLike], stat: Statistic = strata_mean,
                  confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES,
                  seed: int = 0) -> list[float] | None:
    """Percentile-bootstrap CI of ``stat(a) - stat(b)``, the two resampled independently with
    ``seed`` and ``seed + 1`` (the draws of ``stratified_ci(a, seed=seed)`` and
    ``stratified_ci(b, seed=seed + 1)``); ``None`` unless both sides can vary."""
    pa, pb = _strata(a), _strata(b)
    if not (_varies(pa) and _varies(pb)):
        return None
    if _constant(pa) and _constant(pb):
        v = estimate(pa, stat) - estimate(pb, stat)
        return [v, v]
    diff = resample(pa, stat, n_resamples, seed) - resample(pb, stat, n_resamples, seed + 1)
    return percentile_interval(diff, confidence)


# ------------------------------------------------------------------ Student t


def t_half_width(values: ArrayLike, confidence: float = CONFIDENCE, axis: int = 0) -> np.ndarray | float | None:
    """Half-width ``t_{(1+c)/2, n-1} * s / sqrt(n)`` of the Student-t CI of the mean along
    ``axis`` (exactly 0 where the values are all equal); ``None`` for fewer than two values."""
    x = np.asarray(values, dtype=float)
    n = x.shape[axis]
    if n < 2:
        return None
    from scipy import stats as sps  # here, not at the top (see iqm)

    q = sps.t.ppf((1 + confidence) / 2, n - 1)
    half = np.where(np.ptp(x, axis=axis) == 0, 0.0, q * x.std(axis=axis, ddof=1) / np.sqrt(n))
    return half if half.ndim else float(half)


def t_ci(values: ArrayLike, confidence: float = CONFIDENCE, axis: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """``(lo, hi)``: the Student-t CI of the mean along ``axis``; ``None`` for fewer than two values."""
    half = t_half_width(values, confidence, axis)
    if half is None:
        return None
    mean = np.asarray(values, dtype=float).mean(axis=axis)
    return mean - half, mean + half


# ------------------------------------------------------------------ report.json entries


def summarize(values: ArrayLike, seed: int = 0) -> dict:
    """``{"mean", "std", "ci95", "n"}`` of the finite values: ``ci95`` the 95% percentile-bootstrap
    CI of the mean (``None`` for fewer than two values), NaN mean when there is none."""
    x = finite(values)
    return {"mean": float(x.mean()) if x.size else float("nan"),
            "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
            "ci95": bootstrap_ci(x, seed=seed), "n": int(x.size)}


def summarize_ratio(numerators: ArrayLike, denominators: ArrayLike, seed: int = 0,
                    n_resamples: int = N_RESAMPLES) -> dict:
    """``{"mean", "std", "ci95", "n"}`` of a rate over episodes, sum(numerators) / sum(denominators)
    (events per km: every km weighs the same, so a 10 m episode does not swing the mean), with
    a 95% percentile-bootstrap CI that resamples (numerator, denominator) pairs together;
    ``std`` is that of the resampled rates. Pairs with a non-finite member are dropped; no
    positive denominator total gives a NaN mean."""
    num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    keep = np.isfinite(num) & np.isfinite(den)
    num, den = num[keep], den[keep]
    if num.size == 0 or den.sum() <= 0:
        return {"mean": float("nan"), "std": 0.0, "ci95": None, "n": int(num.size)}
    mean = float(num.sum() / den.sum())
    if num.size < 2:
        return {"mean": mean, "std": 0.0, "ci95": None, "n": 1}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num.size, size=(n_resamples, num.size))
    totals = den[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(totals > 0, num[idx].sum(axis=1) / totals, np.nan)
    rates = rates[np.isfinite(rates)]
    if np.all(den > 0) and np.ptp(num / den) == 0:  # every episode at the same rate
        return {"mean": mean, "std": 0.0, "ci95": [mean, mean], "n": int(num.size)}
    return {"mean": mean, "std": float(rates.std(ddof=1)) if rates.size > 1 else 0.0,
            "ci95": percentile_interval(rates), "n": int(num.size)}
