"""Per-env scenarios inside one FastHighway batch (scenario families): env b may have its own
lanes_count, vehicles_density, ego_spacing, initial_lane_id and duration; every other key
is the batch's. Checked against uniform batches (bit for bit), against DummyVecEnv over single
FastHighway envs configured one by one, and for loud refusals that change nothing."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

import envs  # noqa: F401
from envs.checks import EnvConfigError
from envs.fast_highway import FastHighwayCore, FastHighwayVectorEnv, make_sb3_vec_env
from envs.fast_highway.env import PER_ENV_KEYS

MIXED = [{"vehicles_density": 0.5, "duration": 10, "lanes_count": 2},
         {"vehicles_density": 2.0, "ego_spacing": 1.0, "initial_lane_id": 0, "duration": 20, "lanes_count": 5},
         {"other_vehicles_type": "idm_aggressive"},
         {"duration": 5, "initial_lane_id": 2, "lanes_count": 4, "driver_mix": {"normal": 1, "defensive": 1}}]


def test_env_b_of_a_mixed_batch_is_env_b_of_a_uniform_batch_with_its_values():
    """The random draws do not depend on the per-env values: same seed, same scene, bit for bit,
    at the reset and after steps, with each env's own road (lane count), observation (y scaled
    by its lane count) and reward (right_lane_reward over its lanes)."""
    mixed = FastHighwayCore(4, {})
    mixed.set_scenarios(MIXED)
    mixed.seed(3)
    mixed.reset_envs()
    assert mixed.state.lane[1, 0] == 0 and mixed.state.lane[3, 0] == 2  # initial_lane_id per env
    uniform = []
    for config in MIXED:
        core = FastHighwayCore(4, config)
        core.seed(3)
        core.reset_envs()
        uniform.append(core)
    actions = np.random.default_rng(0).integers(0, 5, size=(6, 4))
    np.testing.assert_array_equal(mixed.state.lanes, [2, 5, 3, 4])
    # drivers: env 2 all aggressive, env 3 a mix of normal and defensive, envs 0-1 highway-env's IDM
    headway = mixed.state.time_wanted[:, 1:]
    assert (headway[:2] == 1.5).all() and (headway[2] == 1.5 * 0.6).all()
    assert set(headway[3]) == {1.5, 1.5 * 1.5} and mixed.params.drivers
    mixed_obs = mixed.observe()
    for b, core in enumerate(uniform):
        np.testing.assert_array_equal(mixed_obs[b], core.observe()[b])
    for step in range(7):
        for b, core in enumerate(uniform):
            for name in ("x", "y", "speed", "lane", "target_lane", "heading", "time_wanted", "comfort_acc_max"):
                np.testing.assert_array_equal(getattr(mixed.state, name)[b], getattr(core.state, name)[b])
        if step < 6:
            mixed_rew, _, mixed_trunc, _ = mixed.step(actions[step])
            mixed_obs = mixed.observe()
            for b, core in enumerate(uniform):
                rew, _, trunc, _ = core.step(actions[step])
                assert mixed_trunc[b] == trunc[b] and mixed_rew[b] == rew[b]
                np.testing.assert_array_equal(mixed_obs[b], core.observe()[b])
    # each road had its own lanes: env 0's traffic on lanes 0-1 only, env 1's on lanes 3-4 too
    assert mixed.state.lane[0].max() == 1 and mixed.state.lane[1].max() == 4


def _cut(state, b: int, count: int):
    """Env b's first ``count`` slots as a one-env numpy state."""
    from dataclasses import fields
    return type(state)(**{f.name: getattr(state, f.name)[b : b + 1, :count] if getattr(state, f.name).ndim > 1
                          else getattr(state, f.name)[b : b + 1] for f in fields(state)})


@pytest.mark.parametrize("config", [{}, {"traffic_collisions": True, "vehicles_density": 2.0}],
                         ids=["ego-collisions", "all-pairs"])
def test_padding_changes_nothing_env_b_with_absent_slots_runs_as_alone(config):
    """Envs with 3, 8, 20 and 12 vehicles in one batch of 21 slots: each runs bit for bit as the
    same scene alone (no slots to spare), observation and reward included, and no absent slot
    ever moves, is seen or is hit."""
    counts = [3, 8, 20, 12]
    mixed = FastHighwayCore(4, {**config, "vehicles_count": 12})
    mixed.set_scenarios([{"vehicles_count": c} for c in counts])
    mixed.seed(5)
    mixed.reset_envs()
    assert mixed.params.vehicles == 21 and mixed.params.padded
    np.testing.assert_array_equal(mixed.state.present.sum(axis=1), np.array(counts) + 1)
    alone = []
    for b, c in enumerate(counts):
        core = FastHighwayCore(1, {**config, "vehicles_count": c})
        core.set_state(_cut(mixed.state, b, c + 1))
        alone.append(core)
    parked = mixed.state.x[~mixed.state.present].copy()
    rng = np.random.default_rng(1)
    crashes = 0
    for _ in range(12):
        actions = rng.integers(0, 5, 4)
        rew, term, _, _ = mixed.step(actions)
        obs = mixed.observe()
        for b, core in enumerate(alone):
            r, t, _, _ = core.step(actions[b : b + 1])
            n = counts[b] + 1
            for name in ("x", "y", "speed", "heading", "lane", "target_lane", "crashed"):
                assert getattr(mixed.state, name)[b, :n].tobytes() == getattr(core.state, name)[0].tobytes(), name
            assert rew[b] == r[0] and term[b] == t[0] and obs[b].tobytes() == core.observe()[0].tobytes()
        crashes += int(mixed.state.crashed.sum())
        assert mixed.state.x[~mixed.state.present].tobytes() == parked.tobytes()
        assert not mixed.state.crashed[~mixed.state.present].any()
    assert crashes > 0


def test_per_env_vehicle_counts_beyond_the_batch_grow_it_and_pad_running_scenes():
    venv = FastHighwayVectorEnv(3, {"vehicles_count": 5})
    venv.reset(seed=0, options={"config": [{"vehicles_count": 2}, {"vehicles_count": 30}, {}]})
    assert venv.core.params.vehicles == 31
    np.testing.assert_array_equal(venv.core.state.present.sum(axis=1), [3, 31, 6])
    for _ in range(3):
        venv.step(np.ones(3, int))
    # a family drawing more vehicles at an autoreset: the running scenes are padded, unchanged
    grown, same = venv.core, copy.deepcopy(venv.core)
    grown._fit_vehicles(np.array([41]))
    assert grown.params.vehicles == 41 and grown.state.present.sum() == same.state.present.sum()
    for _ in range(4):
        actions = np.random.default_rng(0).integers(0, 5, 3)
        assert grown.step(actions)[0].tobytes() == same.step(actions)[0].tobytes()
        assert grown.state.x[:, :31].tobytes() == same.state.x.tobytes()
        assert grown.observe().tobytes() == same.observe().tobytes()
    frames = FastHighwayVectorEnv(3, {"vehicles_count": 5}, render_mode="rgb_array")
    frames.reset(seed=0, options={"config": [{"vehicles_count": 2}, {"vehicles_count": 30}, {}]})
    assert len(frames.render()) == 3  # absent slots are not drawn (the mirror road holds env b's vehicles)


def test_vector_env_takes_a_list_of_per_env_configs_and_each_env_keeps_its_own():
    venv = FastHighwayVectorEnv(4, {"vehicles_count": 5})
    venv.reset(seed=1, options={"config": MIXED})
    lengths = np.zeros(4, int)
    truncated_at: dict[int, set[int]] = {b: set() for b in range(4)}
    for _ in range(60):
        _, _, term, trunc, _ = venv.step(np.full(4, 4))  # SLOWER: few crashes in sparse traffic
        lengths += 1
        for b in np.flatnonzero(trunc & ~term):
            truncated_at[b].add(int(lengths[b]))
        lengths[term | trunc] = 0
    # every time-limited episode lasted its env's own duration (1 Hz policy), also after
    # autoresets: 10, 20, 30 (highway-fast-v0's) and 5 s
    assert truncated_at == {0: {10}, 1: {20}, 2: {30}, 3: {5}}
    np.testing.assert_array_equal(venv.core.scenarios.duration, [10, 20, 30, 5])
    venv.reset(options={"config": {"duration": 7}})  # a config for the whole batch: every env on it
    assert venv.core.scenarios is None and venv.core.config["duration"] == 7


@pytest.mark.parametrize("configs, message", [
    ([{"policy_frequency": 5}] * 3 + [{}], r"policy_frequency: env 3 has '\(not set\)', env 0 5: only lanes_count, vehicles_count"),
    ([{"simulation_frequency": 10}, {"simulation_frequency": 5}, {}, {}], r"simulation_frequency: env 1 has 5, env 0 10"),
    ([{"vehicles_count": 1001}, {}, {}, {}], r"vehicles_count"),
    ([{"vehicles_density": -1.0}, {}, {}, {}], r"vehicles_density: must be > 0"),
    ([{"initial_lane_id": 3}, {}, {}, {}], r"initial_lane_id"),
    ([{}, {}, {}], r"one dict of config keys per env \(4\)"),
])
def test_bad_per_env_configs_are_refused_and_change_nothing(configs, message):
    venv = FastHighwayVectorEnv(4, {"vehicles_count": 5})
    venv.reset(seed=2, options={"config": MIXED})
    before = (copy.deepcopy(venv.config), venv.core.scenarios, venv.core)
    with pytest.raises((EnvConfigError, ValueError), match=message):
        venv.reset(options={"config": configs})
    assert (venv.config, venv.core.scenarios, venv.core) == before


def test_shared_keys_in_a_list_apply_to_the_whole_batch():
    venv = FastHighwayVectorEnv(2, {"vehicles_count": 5})
    obs, _ = venv.reset(seed=0, options={"config": [{"policy_frequency": 5, "duration": 3},
                                                    {"policy_frequency": 5, "duration": 6}]})
    assert venv.core.params.policy_frequency == 5 and venv.config["policy_frequency"] == 5
    np.testing.assert_array_equal(venv.core.scenarios.duration, [3, 6])


def test_sb3_set_options_per_env_matches_dummy_vec_env_of_single_envs():
    """DummyVecEnv's per-env options (env i's config update at its next reset), through the SB3
    adapter, give each env the episode length of DummyVecEnv over single envs configured alike."""
    config = {"vehicles_count": 3, "vehicles_density": 0.5}
    ours = make_sb3_vec_env(3, config, seed=0)
    theirs = DummyVecEnv([lambda: gym.make("laneforge/FastHighway-v0", config=dict(config))] * 3)
    options = [{"config": {"duration": 3}}, {}, {"config": {"duration": 5}}]
    ends = []
    for venv in (ours, theirs):
        venv.set_options(options)
        venv.reset()
        first_end = np.zeros(3, int)
        for step in range(1, 40):
            _, _, done, _ = venv.step(np.full(3, 4))
            first_end[(first_end == 0) & done] = step
        ends.append(first_end.tolist())
    assert ends[0] == ends[1] and ends[0][0] == 3 and ends[0][2] == 5


def test_the_per_env_keys_are_the_road_spawn_driver_hazard_and_time_limit_keys():
    assert PER_ENV_KEYS == ("lanes_count", "vehicles_count", "vehicles_density", "ego_spacing", "initial_lane_id",
                            "duration", "other_vehicles_type", "driver_mix", "driver_ranges", "hazard", "ego_speed",
                            "closed_lanes",
                            "zone_start", "zone_length", "cone_spacing", "ego_lane", "lead_distance",
                            "brake_time_range", "brake_decel")


def test_a_driver_mix_gives_each_vehicle_a_profile_with_the_mix_weights():
    core = FastHighwayCore(400, {"driver_mix": {"normal": 0.5, "aggressive": 0.3, "defensive": 0.2}})
    core.seed(0)
    core.reset_envs()
    from envs.drivers import AggressiveDriver, DefensiveDriver, NormalDriver
    headway = core.state.time_wanted[:, 1:].ravel()  # 8000 traffic vehicles
    shares = [np.mean(headway == d.TIME_WANTED) for d in (NormalDriver, AggressiveDriver, DefensiveDriver)]
    np.testing.assert_allclose(shares, [0.5, 0.3, 0.2], atol=0.02)
    aggressive = core.state.time_wanted == AggressiveDriver.TIME_WANTED
    assert aggressive.sum() > 2000
    # every parameter of a vehicle comes from its one profile (envs.drivers.AggressiveDriver's constants)
    assert (core.state.comfort_acc_max[aggressive] == AggressiveDriver.COMFORT_ACC_MAX).all()
    assert (core.state.lane_change_min_acc_gain[aggressive] == AggressiveDriver.LANE_CHANGE_MIN_ACC_GAIN).all()
    assert (core.state.time_wanted[:, 0] == 1.5).all()  # the ego is not a driver of the mix


def test_driver_ranges_give_each_traffic_vehicle_its_own_parameters():
    ranges = {"time_headway": [1.0, 2.0], "politeness": [0.1, 0.5], "desired_speed": [20.0, 35.0],
              "comfort_acc_max": [2.0, 8.0], "comfort_decel": [4.0, 6.0]}
    core = FastHighwayCore(4, {"vehicles_count": 12})
    core.set_scenarios([{"driver_ranges": ranges}, {"hazard": "work_zone", "driver_ranges": ranges}, {}, {}])
    core.seed(0)
    core.reset_envs()
    s = core.state
    for b in (0, 1):
        traffic = s.present[b] & ~s.static[b]
        traffic[0] = False
        for field, (low, high) in (("time_wanted", ranges["time_headway"]), ("politeness", ranges["politeness"]),
                                   ("target_speed", ranges["desired_speed"])):
            values = getattr(s, field)[b, traffic]
            assert (low <= values).all() and (values <= high).all() and len(set(values)) == traffic.sum()
        assert (-s.comfort_acc_min[b, traffic] >= 4).all() and (-s.comfort_acc_min[b, traffic] <= 6).all()
        np.testing.assert_array_equal(s.acc_max[b, traffic], np.maximum(6.0, s.comfort_acc_max[b, traffic]))
    assert (s.time_wanted[2:] == 1.5).all() and (s.time_wanted[:, 0] == 1.5).all()  # others and egos: defaults
    assert s.target_speed[0, 0] in (20.0, 25.0, 30.0)


@pytest.mark.parametrize("config, message", [
    ({"driver_ranges": {"time_headway": [2.0, 1.0]}}, r"driver_ranges\.time_headway: low must not exceed high"),
    ({"driver_ranges": {"politness": [0, 1]}}, r"driver_ranges\.politness: unknown parameter \(did you mean 'politeness'"),
    ({"driver_ranges": {"politeness": [0, 2]}}, r"driver_ranges\.politeness"),
    ({"driver_ranges": {"delta": 4}}, r"driver_ranges\.delta: must be \[low, high\]"),
    ({"driver_mix": {"agressive": 1}}, r"driver_mix\.agressive: unknown driver profile \(did you mean 'aggressive'"),
    ({"driver_mix": {"normal": 0}}, r"driver_mix: give at least one positive weight"),
    ({"driver_mix": {"normal": -1, "aggressive": 2}}, r"driver_mix\.normal"),
    ({"driver_mix": {"normal": 1}, "other_vehicles_type": "idm_defensive"}, r"driver_mix: a mix draws each"),
    ({"other_vehicles_type": "highway_env.vehicle.behavior.LinearVehicle"}, r"other_vehicles_type: FastHighway"),
])
def test_bad_driver_configs_name_the_key(config, message):
    with pytest.raises(EnvConfigError, match=message):
        FastHighwayCore(2, config)
