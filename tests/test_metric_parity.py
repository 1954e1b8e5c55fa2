"""Statistical parity of the evaluation metrics themselves: the same policy judged on highway-env's
highway-fast-v0 and on its batched twin gives metrics whose 95% CIs overlap.

Slow (a few minutes: highway-env steps one vehicle object at a time). The trained-agent version
of this check is benchmarks/metric_parity.py (RESULTS.md); here the policies are scripted, so
the test needs no training.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents.evaluation.episodes import aggregate, run_batch, run_episode
from envs.factory import make_batched_core, make_env

HW_EPISODES, TWIN_EPISODES = 150, 1000
METRICS = ("crash_rate", "progress", "mean_speed", "min_ttc", "mean_ttc", "headway_under_1s",
           "hard_braking_per_km", "above_speed_limit", "lane_changes_per_km")


def _cautious(obs: np.ndarray) -> np.ndarray:
    """A scripted driver over Kinematics rows (presence, x, y, vx, vy; relative, normalized):
    SLOWER when a vehicle is close ahead in the ego's lane, else FASTER; one row or a batch."""
    batch = np.asarray(obs).reshape(-1, *np.shape(obs)[-2:])
    others = batch[:, 1:]
    ahead = (others[..., 0] > 0) & (np.abs(others[..., 2]) < 0.08) & (others[..., 1] > 0) & (others[..., 1] < 0.15)
    actions = np.where(ahead.any(axis=1), 4, 3)
    return actions if np.ndim(obs) == 3 else actions[0]


def _idle(obs: np.ndarray) -> np.ndarray:
    return np.ones(len(obs), int) if np.ndim(obs) == 3 else 1


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


@pytest.mark.slow
@pytest.mark.parametrize("policy", [_idle, _cautious], ids=["idle", "cautious"])
def test_metrics_agree_between_highway_env_and_the_twin(policy):
    env = make_env("highway-fast-v0", {})
    hw = aggregate([run_episode(policy, env, 5000 + i).row() for i in range(HW_EPISODES)])
    twin = aggregate([r.row() for r in run_batch(policy, make_batched_core("laneforge/FastHighway-v0",
                                                                           TWIN_EPISODES, {}),
                                                 7, list(range(TWIN_EPISODES)))])
    apart = {m: (hw[m]["mean"], hw[m]["ci95"], twin[m]["mean"], twin[m]["ci95"]) for m in METRICS
             if not _overlap(hw[m]["ci95"], twin[m]["ci95"])}
    assert not apart, apart
