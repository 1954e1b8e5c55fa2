"""How an episode was driven: progress, stalls and safety, from per-step drive states.

The drive states (:data:`envs.drive_probe.FIELDS`: position along the route, speed, the lane's
speed limit, gap and closing speed to the vehicle ahead, crashed, arrived) are read after the
reset and after every policy step, the same way from highway-env and from the batched twins
(:mod:`envs.drive_probe`). Everything below is plain arithmetic on those arrays, so it is
tested on made-up rollouts with values computed by hand. Definitions (README, "Metrics"):

- ``progress``: :meth:`envs.drive_probe.Goal.progress` at the last step, in [0, 1];
- ``arrived``: the ego reached the env's goal at some step (roads with a goal);
- ``stalled``: no crash, and a mean speed below :data:`STALL_SPEED` or a progress below
  :data:`STALL_PROGRESS` (an early crash is a crash, not a stall);
- time-to-collision with the vehicle ahead at each step: gap / closing speed while closing in,
  0 once the gap is gone, capped at :data:`TTC_CAP` (no leader, or not closing in: the cap);
  ``min_ttc`` and ``mean_ttc`` over the episode's steps;
- ``headway_under_1s``: share of steps with a leader at a time headway (gap / speed) below
  :data:`HEADWAY_LIMIT`;
- ``hard_brakes``: steps whose speed change over the policy step is below
  :data:`HARD_BRAKING` (the crash step excluded: a collision is not braking); reported per km;
- ``above_speed_limit``: share of steps faster than the ego lane's speed limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from envs.drive_probe import Goal

TTC_CAP = 10.0  # [s] time-to-collision beyond this is not a conflict (and a step with no leader counts as this)
HEADWAY_LIMIT = 1.0  # [s] time headway below this is tailgating
HARD_BRAKING = -4.0  # [m/s^2] mean deceleration over a policy step below this is hard braking
STALL_SPEED = 2.0  # [m/s] a crash-free episode slower than this on average stalled
STALL_PROGRESS = 0.1  # a crash-free episode with less progress than this stalled


def _column(states: Sequence[dict[str, Any]], key: str, dtype: Any = float) -> np.ndarray:
    return np.array([st[key] for st in states], dtype=dtype)


def time_to_collision(gap: np.ndarray, closing: np.ndarray) -> np.ndarray:
    """Per step: gap / closing speed while closing in (0 once the gap is gone), capped at
    :data:`TTC_CAP`; the cap where there is no leader or it is not being closed on."""
    gap = np.asarray(gap, dtype=float)
    closing = np.asarray(closing, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ttc = np.where(closing > 0, np.maximum(gap, 0.0) / closing, np.inf)
    ttc = np.where(np.isfinite(gap) & (gap <= 0), 0.0, ttc)
    return np.minimum(ttc, TTC_CAP)


def drive_metrics(states: Sequence[dict[str, Any]], goal: Goal, policy_frequency: float) -> dict[str, Any]:
    """Progress, arrival and safety of one episode from its drive states: ``states[0]`` after the
    reset, ``states[i]`` after the i-th policy step."""
    steps = states[1:]
    if not steps:
        return {"progress": float("nan"), "arrived": False, "min_ttc": float("nan"), "mean_ttc": float("nan"),
                "headway_under_1s": float("nan"), "hard_brakes": 0, "above_speed_limit": float("nan")}
    s = _column(states, "s")
    speed = _column(states, "speed")
    gap, closing = _column(steps, "gap"), _column(steps, "closing_speed")
    crashed = _column(steps, "crashed", bool)
    ttc = time_to_collision(gap, closing)
    ahead = np.isfinite(gap) & (speed[1:] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        headway = np.where(ahead, gap / speed[1:], np.inf)
    accel = np.diff(speed) * policy_frequency  # [m/s^2] mean over each policy step
    return {
        "progress": goal.progress(float(s[0]), float(s[-1])),
        "arrived": bool(_column(steps, "arrived", bool).any()),
        "min_ttc": float(ttc.min()),
        "mean_ttc": float(ttc.mean()),
        "headway_under_1s": float(np.mean(headway < HEADWAY_LIMIT)),
        "hard_brakes": int(np.sum((accel < HARD_BRAKING) & ~crashed)),
        "above_speed_limit": float(np.mean(speed[1:] > _column(steps, "speed_limit"))),
    }


def stalled(crashed: bool, mean_speed: float, progress: float) -> bool:
    """A crash-free episode that barely moved (see the module docstring)."""
    if crashed:
        return False
    slow = np.isfinite(mean_speed) and mean_speed < STALL_SPEED
    short = np.isfinite(progress) and progress < STALL_PROGRESS
    return bool(slow or short)
