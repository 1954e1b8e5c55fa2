"""Step highway-env envs and the FastHighway batch their scenes were imported into, side by side."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from envs.fast_highway import FastHighwayCore

HAZARD_INFO = ("success", "zone_passed", "leader_braking")


def assert_steps_like(hws: list, core: FastHighwayCore, steps: int,
                      policy: Callable[[np.random.Generator, int], np.ndarray], seed: int = 0) -> dict:
    """Env b of ``core`` was imported from ``hws[b]``: both take the same actions for ``steps``
    policy steps (each env while its highway-env episode runs), and everything highway-env
    reports agrees: vehicle positions, speeds, target lanes and crashes (the cones after the
    vehicles never move), observations, rewards, endings and the hazard info keys (present
    exactly where the batch's ``_key`` mask says). Returns what the episodes exercised."""
    rng = np.random.default_rng(seed)
    running = np.ones(len(hws), bool)
    seen = {"lane_changes": 0, "success": 0, "ego_crash": 0, "traffic_crash": 0, "braking": 0}
    for _ in range(steps):
        actions = policy(rng, len(hws))
        lanes = core.state.lane.copy()
        rew, term, trunc, info = core.step(actions)
        obs = core.observe()
        for b, hw in enumerate(hws):
            if not running[b]:
                continue
            hw_obs, hw_rew, hw_term, hw_trunc, hw_info = hw.step(int(actions[b]))
            n = len(hw.road.vehicles)
            pos = np.array([v.position for v in hw.road.vehicles])
            np.testing.assert_allclose(pos, np.stack([core.state.x[b, :n], core.state.y[b, :n]], -1), rtol=0, atol=1e-6)
            np.testing.assert_allclose([v.speed for v in hw.road.vehicles], core.state.speed[b, :n], rtol=0, atol=1e-6)
            assert [v.target_lane_index[2] for v in hw.road.vehicles] == list(core.state.target_lane[b, :n])
            assert [v.crashed for v in hw.road.vehicles] == list(core.state.crashed[b, :n])
            np.testing.assert_allclose(hw_obs, obs[b], rtol=0, atol=1e-6)
            assert hw_rew == pytest.approx(rew[b], abs=1e-9)
            assert (hw_term, hw_trunc) == (term[b], trunc[b])
            for key, value in hw_info.get("rewards", {}).items():
                assert value == pytest.approx(info["rewards"][key][b]), key
            for key in HAZARD_INFO:
                assert (key in hw_info) == bool(info.get(f"_{key}", np.zeros(len(hws), bool))[b]), key
                if key in hw_info:
                    assert hw_info[key] == info[key][b], key
            seen["lane_changes"] += int((core.state.lane[b, 1:n] != lanes[b, 1:n]).sum())
            seen["braking"] += bool(hw_info.get("leader_braking"))
            if hw_term or hw_trunc:
                running[b] = False
                seen["success"] += bool(hw_info.get("success"))
                seen["ego_crash"] += hw.vehicle.crashed
                seen["traffic_crash"] += sum(v.crashed for v in hw.road.vehicles[1:])
    return seen


def random_actions(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 5, n)
