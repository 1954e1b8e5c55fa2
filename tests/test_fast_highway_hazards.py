"""laneforge's hazards inside FastHighway batches: WorkZone-v1's cones and EmergencyBraking-v0's
braking leader, per env. Checked against those highway-env envs step by step on imported scenes
(positions, speeds, observations, rewards, terminations, success), against their scene-building
rules on FastHighway's own spawns, for Gymnasium's per-key info masks in mixed batches, and for
loud refusals of hazard keys that would not apply."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers laneforge ids)
from envs.checks import EnvConfigError
from envs.emergency_braking import LANE_CLEARANCE
from envs.fast_highway import FastHighwayCore, FastHighwayEnv, FastHighwayVectorEnv, state_from_highway
from envs.fast_highway.sim import SimState
from envs.work_zone import SPAWN_CLEARANCE
from tests.fast_highway_steps import assert_steps_like, random_actions

WORK_ZONE = {"hazard": "work_zone", "vehicles_count": 15, "vehicles_density": 1.0}
BRAKING = {"hazard": "emergency_braking", "vehicles_count": 15, "vehicles_density": 0.8}


def _highway(env_id: str, config: dict, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hw = gym.make(env_id, config=config).unwrapped
    hw.reset(seed=seed)
    return hw


def test_imported_work_zones_and_braking_leaders_step_like_highway_env():
    """WorkZone-v1 (3 and 4 lanes, ego in an open or a closed lane) and EmergencyBraking-v0 scenes
    in one batch: cones stop the traffic and crash cars (a cone takes no impact), the leader
    brakes to a standstill, rewards and endings are each env's own."""
    hws = [_highway("laneforge/WorkZone-v1", {"ego_lane": 0}, seed) for seed in (4, 7, 0, 3)]  # 4, 7: passed
    hws += [_highway("laneforge/WorkZone-v1", {"lanes_count": 4, "closed_lanes": [1, 2], "vehicles_density": 2.0},
                     seed) for seed in range(2)]
    hws += [_highway("laneforge/EmergencyBraking-v0", {}, seed) for seed in range(4)]
    hws += [_highway("laneforge/EmergencyBraking-v0", {"lanes_count": 1}, 9)]
    core = FastHighwayCore(len(hws), {"vehicles_count": 15})
    core.set_state(SimState.concat([state_from_highway(hw) for hw in hws]))
    assert core.params.hazards and core.state.static.sum() == 4 * 6 + 2 * 12
    idle_or_left = lambda rng, n: np.where(np.arange(n) >= 6, 0, 1)  # noqa: E731  IDLE; LANE_LEFT to evade
    seen = assert_steps_like(hws, core, steps=30, policy=idle_or_left)
    assert seen["success"] > 0 and seen["ego_crash"] > 0 and seen["traffic_crash"] > 0 and seen["braking"] > 0, seen


def test_imported_hazards_with_random_actions_step_like_highway_env():
    hws = [_highway("laneforge/WorkZone-v1", {}, seed) for seed in range(10, 14)]
    hws += [_highway("laneforge/EmergencyBraking-v0", {"vehicles_density": 1.5}, seed) for seed in range(10, 14)]
    core = FastHighwayCore(len(hws), {"vehicles_count": 15})
    core.set_state(SimState.concat([state_from_highway(hw) for hw in hws]))
    assert_steps_like(hws, core, steps=30, policy=random_actions)


def test_work_zone_scenes_follow_work_zone_rules():
    core = FastHighwayCore(300, {**WORK_ZONE, "lanes_count": 4, "closed_lanes": [1, 3]})
    core.seed(0)
    core.reset_envs()
    s = core.state
    cones = s.static & s.present
    assert (cones.sum(axis=1) == 2 * 6).all()  # per closed lane: 0, 20, ..., 100 m
    assert set(np.unique(s.lane[cones])) == {1, 3}
    begin = s.x[:, 0] + 200.0
    assert np.allclose(s.zone_end, begin + 100.0 + 1.5)
    assert set(np.unique(s.lane[:, 0])) == {1, 3}  # the ego starts in a closed lane
    traffic = s.present & ~s.static
    traffic[:, 0] = False
    near_zone = (s.x >= begin[:, None] - SPAWN_CLEARANCE) & (s.x <= begin[:, None] + 100.0 + 3.0)
    assert not (traffic & near_zone & np.isin(s.lane, [1, 3])).any()
    assert (traffic & np.isin(s.lane, [1, 3])).any()  # closed lanes do carry traffic away from the zone
    assert s.check[traffic].all() and (s.speed[cones] == 0).all()
    behind = (traffic & (s.x < s.x[:, :1])).sum(axis=1)
    assert (behind == round(0.25 * 15)).all()  # the ego starts a quarter into the traffic line


def test_negative_closed_lanes_count_from_the_right_per_env():
    """One work-zone config with closed_lanes [-1] closes each env's own rightmost lane on roads
    of 2 to 4 lanes, as WorkZone-v1 does (a family draws it beside lanes_count)."""
    envs_lanes = [2, 3, 4] * 4
    vec = FastHighwayVectorEnv(len(envs_lanes), config={**WORK_ZONE})
    vec.reset(seed=0, options={"config": [{"lanes_count": n, "closed_lanes": [-1]} for n in envs_lanes]})
    s = vec.core.state
    cones = s.static & s.present
    for b, n in enumerate(envs_lanes):
        assert set(np.unique(s.lane[b][cones[b]])) == {n - 1}
        assert s.lane[b, 0] == n - 1  # the ego starts in the closed lane
    vec.close()


def test_emergency_braking_scenes_follow_emergency_braking_rules():
    core = FastHighwayCore(300, {**BRAKING, "lanes_count": 3})
    core.seed(1)
    core.reset_envs()
    s = core.state
    assert (s.leader == 1).all() and np.allclose(s.x[:, 1] - s.x[:, 0], 50.0)
    assert (s.lane[:, 1] == s.lane[:, 0]).all() and (s.speed[:, 1] == 25.0).all()
    assert (s.brake_time[:, 1] >= 2).all() and (s.brake_time[:, 1] <= 6).all() and (s.brake_decel[:, 1] == 7).all()
    traffic = s.present.copy()
    traffic[:, :2] = False
    clear = (s.x >= s.x[:, :1] - LANE_CLEARANCE) & (s.x <= s.x[:, 1:2] + LANE_CLEARANCE) & (s.lane == s.lane[:, :1])
    assert not (traffic & clear).any() and not s.check[traffic].any()
    one_lane = FastHighwayCore(50, {**BRAKING, "lanes_count": 1})
    one_lane.seed(1)
    one_lane.reset_envs()
    assert (one_lane.state.present.sum(axis=1) < 17).all()  # the vehicles beside the hazard are dropped


def test_emergency_braking_leader_stops_and_evading_succeeds_sometimes():
    core = FastHighwayCore(200, BRAKING)
    core.seed(2)
    core.reset_envs()
    success = np.zeros(200, bool)
    done = np.zeros(200, bool)
    braking = np.zeros(200, bool)
    for step in range(30):
        action = np.where(step == 1, 0, 1) * np.ones(200, int)  # change lane once, then IDLE
        _, term, trunc, info = core.step(action)
        braking |= info["leader_braking"]
        success |= (term | trunc) & ~done & info["success"]
        done |= term | trunc
        core.reset_envs(term | trunc)  # (the statistics below are first episodes only)
    assert braking.mean() > 0.5 and 0 < success.mean() < 1.0


def test_mixed_batch_reports_each_hazards_info_keys_only_for_its_envs():
    venv = FastHighwayVectorEnv(3, {"vehicles_count": 10})
    _, info = venv.reset(seed=0, options={"config": [{}, {"hazard": "work_zone"}, {"hazard": "emergency_braking"}]})
    np.testing.assert_array_equal(info["_success"], [False, True, True])
    np.testing.assert_array_equal(info["_zone_passed"], [False, True, False])
    np.testing.assert_array_equal(info["_leader_braking"], [False, False, True])
    assert info["_speed"].all()
    finals = 0
    for _ in range(40):
        _, _, term, trunc, info = venv.step(np.ones(3, int))
        done = term | trunc
        if done.any():
            finals += 1
            np.testing.assert_array_equal(info["final_info"]["_success"], done & [False, True, True])
        np.testing.assert_array_equal(info["_success"], [False, True, True])  # the same envs after autoresets
    assert finals > 0
    single = FastHighwayEnv({"vehicles_count": 10})
    _, reset_info = single.reset(seed=0)
    assert "success" not in reset_info and "success" not in single.step(1)[4]
    single = FastHighwayEnv({"vehicles_count": 10, "hazard": "work_zone"})
    assert single.reset(seed=0)[1]["success"] is False and "zone_passed" in single.step(1)[4]


def test_a_family_mixes_highway_and_hazard_envs_in_one_batch():
    from envs.families import FamilySampler, parse_family
    family = parse_family({"env_id": "laneforge/FastHighway-v0", "config": {"vehicles_count": 12},
                           "draw": {"hazard": {"choice": [None, "work_zone", "emergency_braking"],
                                               "weights": [3, 1, 1]},
                                    "lanes_count": {"uniform": [3, 4]}}})
    venv = FastHighwayVectorEnv(20, family.config)
    venv.core.set_family(FamilySampler(family, 0, 20))
    venv.reset(seed=0)
    kinds = [d["hazard"] for d in venv.core.family.recent]
    assert {None, "work_zone", "emergency_braking"} <= set(kinds)
    s = venv.core.state
    np.testing.assert_array_equal(np.isfinite(s.zone_end), [k == "work_zone" for k in kinds])
    np.testing.assert_array_equal(s.leader >= 0, [k == "emergency_braking" for k in kinds])
    for _ in range(35):
        venv.step(np.random.default_rng(0).integers(0, 5, 20))
    assert venv.core.family.statistics()["draws"] > 20  # envs drew again at their resets


@pytest.mark.parametrize("config, message", [
    ({"hazard": "roadworks"}, r"hazard: unknown hazard; valid: null, work_zone, emergency_braking"),
    ({"closed_lanes": [1]}, r"closed_lanes: is a key of hazard 'work_zone' \(this env's hazard is None\)"),
    ({"hazard": "emergency_braking", "zone_length": 50.0}, r"zone_length: is a key of hazard 'work_zone'"),
    ({"hazard": "work_zone", "closed_lanes": [0, 1, 2]}, r"closed_lanes: closes every one of the 3 lanes"),
    ({"hazard": "work_zone", "closed_lanes": [5]}, r"closed_lanes: lane 5 does not exist"),
    ({"hazard": "emergency_braking", "brake_decel": 0}, r"brake_decel"),
    ({"ego_speed": 90}, r"ego_speed"),
])
def test_bad_hazard_configs_name_the_key(config, message):
    with pytest.raises(EnvConfigError, match=message):
        FastHighwayCore(2, config)


def test_choice_draws_what_generator_choice_draws():
    """hazards.choice stands for rng.choice(values, size) in the scene draws: the same values
    from the same stream, leaving the stream where rng.choice leaves it."""
    from envs.fast_highway.hazards import choice

    for seed in range(50):
        ours, numpy = np.random.default_rng(seed), np.random.default_rng(seed)
        for values in ([1], [0, 2], [3, 0, 4], [0, 1, 2, 4]):
            assert choice(ours, values) == numpy.choice(values)
            for size in (0, 1, 3, 30):
                drawn, expected = choice(ours, values, size), numpy.choice(values, size=size)
                assert drawn.dtype == expected.dtype and np.array_equal(drawn, expected)
        assert ours.random() == numpy.random()
