"""train.success_continues: an episode that ends in success (WorkZone's zone passed) reaches the
learner as a time-limit end, so PPO bootstraps from it; crashes stay terminal; off by default."""

from __future__ import annotations

import numpy as np
import pytest

from agents.config import load_config
from agents.training.loop import build

# Every env a work zone on 3 lanes in light traffic, the rightmost lane closed (the ego starts in it)
FAMILY = """name: zones
env_id: laneforge/FastHighway-v0
draw:
  lanes_count: {choice: [3]}
  vehicles_count: {choice: [10]}
  vehicles_density: {choice: [0.5]}
  hazard: {choice: [work_zone]}
  closed_lanes: {choice: [[-1]]}
"""
LANE_LEFT, FASTER, IDLE = 0, 3, 1


def drive(tmp_path, on: bool) -> tuple[list[dict], list[dict]]:
    """32 envs: left out of the closed lane, then faster; each env's first episode end, split into
    successes and other ends (crashes, time limits)."""
    family = tmp_path / "zones.yaml"
    family.write_text(FAMILY)
    cfg = load_config("configs/generalist_ppo_mlp.yaml", [f"env.family={family}", "env.n_envs=32",
                                                          f"train.success_continues={str(on).lower()}"])
    built = build(cfg)
    try:
        env = built.env
        env.reset()
        ends: dict[int, dict] = {}
        for t in range(60):
            action = LANE_LEFT if t == 0 else (FASTER if t < 4 else IDLE)
            _, _, dones, infos = env.step(np.full(32, action))
            for i in np.flatnonzero(dones):
                ends.setdefault(int(i), infos[i])
            if len(ends) == 32:
                break
    finally:
        built.close()
    successes = [e for e in ends.values() if e.get("success")]
    return successes, [e for e in ends.values() if not e.get("success")]


@pytest.mark.parametrize("on", [True, False])
def test_success_ends_are_truncations_for_the_learner_only_when_asked(tmp_path, on):
    successes, others = drive(tmp_path, on)
    assert successes, "no env passed its work zone: the scripted drive needs a look"
    assert all(e["zone_passed"] and e["terminal_observation"] is not None for e in successes)
    assert all(e.get("TimeLimit.truncated", False) is on for e in successes)
    crashes = [e for e in others if e.get("crashed")]
    assert all(not e.get("TimeLimit.truncated", False) for e in crashes)  # a crash stays terminal
