"""The suite's own envs: checker, determinism, rendering, scenario logic, config errors."""

from __future__ import annotations

import importlib
import multiprocessing as mp
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from highway_env.envs.highway_env import HighwayEnvFast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import envs
from envs.checks import EnvConfigError
from envs.drivers import DRIVER_CLASS_PATHS, DRIVER_PROFILES, HIGHWAY_ENV_IDM
from envs.emergency_braking import EmergencyBrakingEnv
from envs.factory import make_env
from envs.randomized_highway import DESIRED_SPEED_SPREAD, RandomizedHighwayEnv
from envs.work_zone import Cone, WorkZoneEnv

OWN_IDS = ["laneforge/WorkZone-v0", "laneforge/RandomizedHighway-v0", "laneforge/EmergencyBraking-v0"]
SMALL = {"vehicles_count": 6}  # keeps every test fast
LANE_LEFT, IDLE, LANE_RIGHT = 0, 1, 2  # DiscreteMetaAction


def _make(env_id: str, **config) -> gym.Env:
    return make_env(env_id, {**SMALL, **config})


# ---------------------------------------------------------------- registration


def test_ids_registered_and_registration_idempotent():
    envs.register_envs()
    envs.register_envs()
    for env_id in OWN_IDS:
        assert env_id in gym.registry
        assert env_id.startswith(envs.NAMESPACE + "/")


def _build_in_worker(env_id: str) -> tuple[int, ...]:
    from envs.factory import make_env as worker_make_env

    obs, _ = worker_make_env(env_id, {"vehicles_count": 2}).reset(seed=0)
    return obs.shape


def test_envs_build_in_spawn_worker():
    with mp.get_context("spawn").Pool(1) as pool:
        shapes = pool.map(_build_in_worker, OWN_IDS)
    assert shapes == [(5, 5)] * len(OWN_IDS)


# ---------------------------------------------------------------- gymnasium contract


@pytest.mark.parametrize("env_id", OWN_IDS)
def test_gymnasium_env_checker_passes(env_id):
    env = make_env(env_id, SMALL, render_mode="rgb_array")
    with warnings.catch_warnings():
        # highway-env's Kinematics space is unbounded by design; the checker warns about it.
        warnings.filterwarnings("ignore", message=".*infinity.*")
        check_env(env.unwrapped)
    env.close()


def _rollout(env_id: str, seed: int, steps: int = 100) -> tuple[list[np.ndarray], list[float]]:
    env = _make(env_id)
    actions = np.random.default_rng(123).integers(0, 5, size=steps)
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for a in actions:
        obs, reward, terminated, truncated, _ = env.step(int(a))
        observations.append(obs)
        rewards.append(float(reward))
        if terminated or truncated:
            obs, _ = env.reset()
            observations.append(obs)
    env.close()
    return observations, rewards


@pytest.mark.parametrize("env_id", OWN_IDS)
def test_same_seed_same_rollout_other_seed_differs(env_id):
    obs_a, rew_a = _rollout(env_id, seed=3)
    obs_b, rew_b = _rollout(env_id, seed=3)
    assert len(obs_a) == len(obs_b)
    assert all(np.array_equal(a, b) for a, b in zip(obs_a, obs_b))
    assert rew_a == rew_b
    obs_c, rew_c = _rollout(env_id, seed=4)
    same = len(obs_a) == len(obs_c) and all(np.array_equal(a, c) for a, c in zip(obs_a, obs_c))
    assert not (same and rew_a == rew_c)
    assert not np.array_equal(obs_a[0], obs_c[0])


@pytest.mark.parametrize("env_id", OWN_IDS)
def test_rgb_array_frames_headless_and_not_black(env_id, monkeypatch):
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)  # "dummy" draws black frames
    monkeypatch.delenv("DISPLAY", raising=False)
    env = make_env(env_id, SMALL, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(IDLE)
    frame = env.render()
    env.close()
    assert frame.shape == (150, 600, 3) and frame.dtype == np.uint8
    assert frame.mean() > 20
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 4  # road, lines, ego, others


# ---------------------------------------------------------------- WorkZone


def _drive(env: gym.Env, policy, max_steps: int = 100):
    total, steps = 0.0, 0
    infos = []
    terminated = truncated = False
    while not (terminated or truncated) and steps < max_steps:
        _, reward, terminated, truncated, info = env.step(policy(steps))
        total += reward
        steps += 1
        infos.append(info)
    return total, steps, terminated, truncated, infos


@pytest.mark.parametrize("lanes, closed, ego_lane", [(3, [2], 2), (3, [0], 0), (4, [1, 2], 1), (4, [1, 2], 2)])
def test_work_zone_closed_lane_is_blocked(lanes, closed, ego_lane):
    env = WorkZoneEnv(config={"lanes_count": lanes, "closed_lanes": closed, "ego_lane": ego_lane,
                              "vehicles_count": 0, "zone_start": 100.0})
    env.reset(seed=0)
    _, _, terminated, truncated, infos = _drive(env, lambda _: IDLE)
    assert terminated and not truncated
    assert infos[-1]["crashed"] and not infos[-1]["success"] and not infos[-1]["zone_passed"]
    assert infos[-1]["rewards"]["collision_reward"] == 1.0
    # what it hit is the first cone of its own lane
    # (a crash can push the car into the cone beside it too, so others may be hit as well)
    hit = [o for o in env.road.objects if o.crashed]
    assert hit and all(isinstance(o, Cone) and o.position[0] == pytest.approx(env.zone_begin) for o in hit)
    assert ego_lane in {o.lane_index[2] for o in hit}
    assert not any(v.crashed for v in env.road.vehicles[1:])  # there is no other traffic to hit


@pytest.mark.parametrize("lanes", [2, 3, 4])
def test_work_zone_negative_lane_counts_from_the_right(lanes):
    """closed_lanes [-1] is the rightmost lane of any road: the same scene, cone for cone and
    car for car, as naming that lane (a family draws it for roads of every width)."""
    scenes = []
    for closed in ([-1], [lanes - 1]):
        env = WorkZoneEnv(config={"lanes_count": lanes, "closed_lanes": closed, "vehicles_count": 10})
        env.reset(seed=3)
        scenes.append(([tuple(o.position) + (o.lane_index[2],) for o in env.road.objects],
                       [tuple(v.position) + (v.speed,) for v in env.road.vehicles]))
    assert scenes[0] == scenes[1]
    assert {c[2] for c in scenes[0][0]} == {lanes - 1}


@pytest.mark.parametrize("offset", [5.0, 45.0, 85.0])
def test_work_zone_cutting_into_the_closed_lane_inside_the_zone_collides(offset):
    env = WorkZoneEnv(config={"vehicles_count": 0, "closed_lanes": [2], "ego_lane": 1, "zone_start": 100.0})
    env.reset(seed=0)
    cut_in = []

    def policy(_):
        if not cut_in and env.vehicle.position[0] > env.zone_begin + offset - 25:
            cut_in.append(True)
            return LANE_RIGHT
        return IDLE

    *_, infos = _drive(env, policy)
    assert cut_in and infos[-1]["crashed"] and not infos[-1]["success"]
    assert env.road.vehicles == [env.vehicle]  # no other traffic: it can only have hit a cone
    assert env.zone_begin < env.vehicle.position[0] < env.zone_end + Cone.LENGTH


def test_work_zone_open_lane_passes_and_success():
    env = WorkZoneEnv(config={"vehicles_count": 0, "closed_lanes": [2], "ego_lane": 2, "zone_start": 100.0})
    env.reset(seed=0)
    assert env.vehicle.lane_index[2] == 2
    total, steps, terminated, truncated, infos = _drive(env, lambda t: LANE_LEFT if t == 0 else IDLE)
    assert terminated and not truncated
    last = infos[-1]
    assert last["success"] and last["zone_passed"] and not last["crashed"]
    assert not any(i["success"] for i in infos[:-1])  # success only once the zone is passed
    assert last["rewards"]["zone_passed_reward"] == 1.0
    assert env.vehicle.lane_index[2] == 1
    assert env.vehicle.position[0] - env.vehicle.LENGTH / 2 > env.zone_end
    speed_terms = sum(i["rewards"]["high_speed_reward"] for i in infos)
    assert total == pytest.approx(0.4 * speed_terms + 1.0)


def test_work_zone_time_limit_truncates_without_success():
    env = WorkZoneEnv(config={"vehicles_count": 0, "ego_lane": 0, "duration": 3, "zone_start": 500.0})
    env.reset(seed=0)
    _, steps, terminated, truncated, infos = _drive(env, lambda _: IDLE)
    assert truncated and not terminated and steps == 3
    assert not infos[-1]["success"]


def test_work_zone_ego_starts_in_a_closed_lane_by_default():
    env = WorkZoneEnv(config={"lanes_count": 4, "closed_lanes": [0, 3], "vehicles_count": 4})
    lanes = set()
    for s in range(8):
        env.reset(seed=s)
        lanes.add(env.vehicle.lane_index[2])
    assert lanes == {0, 3}
    # no traffic spawned inside the zone on a closed lane
    for s in range(5):
        env.reset(seed=s)
        for v in env.road.vehicles[1:]:
            if v.lane_index[2] in (0, 3):
                assert not env.zone_begin - 40 <= v.position[0] <= env.zone_end + Cone.LENGTH


# ---------------------------------------------------------------- EmergencyBraking


def test_emergency_braking_leader_stops_idle_ego_crashes_into_it():
    env = EmergencyBrakingEnv(config={"vehicles_count": 0, "initial_lane_id": 1, "brake_time_range": [1.0, 1.0]})
    env.reset(seed=0)
    _, _, terminated, _, infos = _drive(env, lambda _: IDLE)
    assert terminated and infos[-1]["crashed"] and not infos[-1]["success"]
    assert env.leader.crashed and env.leader.braking


def test_emergency_braking_evading_ego_succeeds():
    env = EmergencyBrakingEnv(config={"vehicles_count": 0, "initial_lane_id": 1, "brake_time_range": [1.0, 1.0],
                                      "duration": 12})
    env.reset(seed=0)
    _, _, terminated, truncated, infos = _drive(env, lambda t: LANE_LEFT if t == 0 else IDLE)
    assert truncated and not terminated
    assert infos[-1]["success"] and not infos[-1]["crashed"]
    assert env.leader.speed == 0.0 and env.vehicle.lane_index[2] == 0


# ---------------------------------------------------------------- RandomizedHighway


def _pair(low: float, high: float, integer: bool = False):
    values = st.integers(int(low), int(high)) if integer else st.floats(low, high, allow_nan=False)
    return st.tuples(values, values).map(sorted).map(list)


@st.composite
def _ranges(draw):
    aggressive = draw(_pair(0.0, 0.5))
    defensive = draw(_pair(0.0, 0.5))
    return {
        "lanes_count_range": draw(_pair(1, 5, integer=True)),
        "vehicles_density_range": draw(_pair(0.3, 3.0)),
        "desired_speed_range": draw(_pair(15.0, 30.0)),
        "time_headway_range": draw(_pair(0.3, 3.0)),
        "politeness_range": draw(_pair(0.0, 1.0)),
        "comfort_acc_max_range": draw(_pair(0.5, 5.0)),
        "comfort_decel_range": draw(_pair(1.0, 9.0)),
        "driver_shares": {"aggressive": aggressive, "defensive": defensive},
        "initial_speed_range": draw(_pair(0.0, 35.0)),
        "ego_speed_range": draw(_pair(15.0, 35.0)),
    }


def _inside(value: float, pair: list[float]) -> bool:
    return pair[0] <= value <= pair[1]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ranges=_ranges(), seed=st.integers(0, 2**31 - 1))
def test_randomized_highway_samples_stay_in_ranges(ranges, seed):
    env = RandomizedHighwayEnv(config={**ranges, "vehicles_count": 4})
    _, info = env.reset(seed=seed)
    s = info["scenario"]
    for key in ("lanes_count", "vehicles_density", "desired_speed", "time_headway", "politeness",
                "comfort_acc_max", "comfort_decel"):
        assert _inside(s[key], ranges[f"{key}_range"]), key
    assert _inside(s["share_aggressive"], ranges["driver_shares"]["aggressive"])
    assert _inside(s["share_defensive"], ranges["driver_shares"]["defensive"])
    assert _inside(s["ego_speed"], ranges["ego_speed_range"])
    assert _inside(s["initial_speed_min"], ranges["initial_speed_range"])
    assert _inside(s["initial_speed_max"], ranges["initial_speed_range"])
    assert s["count_normal"] + s["count_aggressive"] + s["count_defensive"] == 4
    # the world matches the scenario
    assert len(env.road.network.lanes_list()) == s["lanes_count"]
    others = env.road.vehicles[1:]
    assert len(others) == 4
    time_headways = {round(v.TIME_WANTED, 9) for v in others}
    allowed = {round(s["time_headway"] * p.headway_factor, 9) for p in DRIVER_PROFILES.values()}
    assert time_headways <= allowed
    for v in others:
        assert abs(v.target_speed) <= (s["desired_speed"] + DESIRED_SPEED_SPREAD) * 1.1 + 1e-9
    assert all(isinstance(v, (int, float)) for v in s.values())  # plain numbers, ready to log


def test_randomized_highway_resamples_every_reset_and_pins_exact_values():
    env = RandomizedHighwayEnv(config={"vehicles_count": 4})
    env.reset(seed=0)
    densities = {env.reset()[1]["scenario"]["vehicles_density"] for _ in range(4)}
    assert len(densities) == 4
    pinned = RandomizedHighwayEnv(config={"vehicles_count": 4, "lanes_count_range": [2, 2],
                                          "time_headway_range": [1.5, 1.5], "driver_shares": {}})
    _, info = pinned.reset(seed=1)
    assert info["scenario"]["lanes_count"] == 2 and info["scenario"]["time_headway"] == 1.5
    assert info["scenario"]["count_normal"] == 4
    assert all(v.TIME_WANTED == 1.5 for v in pinned.road.vehicles[1:])
    assert HIGHWAY_ENV_IDM.time_headway == 1.5  # the highway-env default it is compared with


@pytest.mark.parametrize("name", sorted(DRIVER_CLASS_PATHS))
def test_driver_classes_work_as_other_vehicles_type(name):
    profile = DRIVER_PROFILES[name.removeprefix("idm_")]
    env = WorkZoneEnv(config={"other_vehicles_type": DRIVER_CLASS_PATHS[name], "vehicles_count": 3})
    env.reset(seed=0)
    others = env.road.vehicles[1:]
    assert len(others) == 3
    for v in others:
        assert type(v).__name__ == DRIVER_CLASS_PATHS[name].rsplit(".", 1)[1]
        assert v.TIME_WANTED == pytest.approx(HIGHWAY_ENV_IDM.time_headway * profile.headway_factor)
    env.step(IDLE)


# ---------------------------------------------------------------- bad parameters

BAD = [
    ("laneforge/WorkZone-v0", {"lanes_count": 0}, "lanes_count"),
    ("laneforge/WorkZone-v0", {"vehicles_density": 0}, "vehicles_density"),
    ("laneforge/WorkZone-v0", {"vehicles_density": -1.0}, "vehicles_density"),
    ("laneforge/WorkZone-v0", {"closed_lanes": [3]}, "closed_lanes"),
    ("laneforge/WorkZone-v0", {"closed_lanes": [-4]}, "closed_lanes"),  # 3 lanes: -1 to -3
    ("laneforge/WorkZone-v0", {"closed_lanes": [2, -1]}, "closed_lanes"),  # the same lane twice
    ("laneforge/WorkZone-v0", {"closed_lanes": [0.5]}, "closed_lanes[0]"),
    ("laneforge/WorkZone-v0", {"closed_lanes": [0, 1, 2]}, "closed_lanes"),
    ("laneforge/WorkZone-v0", {"lanes_count": 1, "closed_lanes": [0]}, "closed_lanes"),
    ("laneforge/WorkZone-v0", {"closed_lanes": [1, 1]}, "closed_lanes"),
    ("laneforge/WorkZone-v0", {"closed_lanes": []}, "closed_lanes"),
    ("laneforge/WorkZone-v0", {"closed_lanes": 2}, "closed_lanes"),
    ("laneforge/WorkZone-v0", {"zone_length": 0}, "zone_length"),
    ("laneforge/WorkZone-v0", {"ego_lane": 5}, "ego_lane"),
    ("laneforge/WorkZone-v0", {"reward_speed_range": [30, 20]}, "reward_speed_range"),
    ("laneforge/WorkZone-v0", {"zone_lenght": 50}, "zone_lenght"),
    ("laneforge/RandomizedHighway-v0", {"lanes_count_range": [0, 2]}, "lanes_count_range[0]"),
    ("laneforge/RandomizedHighway-v0", {"lanes_count_range": [4, 2]}, "lanes_count_range"),
    ("laneforge/RandomizedHighway-v0", {"vehicles_density_range": [0.0, 1.0]}, "vehicles_density_range[0]"),
    ("laneforge/RandomizedHighway-v0", {"time_headway_range": [2.0, 1.0]}, "time_headway_range"),
    ("laneforge/RandomizedHighway-v0", {"politeness_range": [0.0, 1.5]}, "politeness_range[1]"),
    ("laneforge/RandomizedHighway-v0", {"driver_shares": {"reckless": [0, 0.1]}}, "driver_shares.reckless"),
    ("laneforge/RandomizedHighway-v0", {"driver_shares": {"aggressive": [0.2, 0.1]}}, "aggressive"),
    ("laneforge/RandomizedHighway-v0", {"driver_shares": {"aggressive": [0, 0.6], "defensive": [0, 0.6]}},
     "driver_shares"),
    ("laneforge/RandomizedHighway-v0", {"lanes_count": 3}, "lanes_count"),
    ("laneforge/EmergencyBraking-v0", {"lanes_count": 0}, "lanes_count"),
    ("laneforge/EmergencyBraking-v0", {"vehicles_density": 0}, "vehicles_density"),
    ("laneforge/EmergencyBraking-v0", {"brake_time_range": [5.0, 1.0]}, "brake_time_range"),
    ("laneforge/EmergencyBraking-v0", {"brake_decel": 0}, "brake_decel"),
    ("laneforge/EmergencyBraking-v0", {"initial_lane_id": 3}, "initial_lane_id"),
    ("laneforge/EmergencyBraking-v0", {"reward_speed_range": [25, 25]}, "reward_speed_range"),
    # inherited highway-env keys an env does not honour
    ("laneforge/WorkZone-v0", {"ego_spacing": 2}, "ego_spacing"),
    ("laneforge/WorkZone-v0", {"normalize_reward": False}, "normalize_reward"),
    ("laneforge/WorkZone-v0", {"initial_lane_id": 1}, "initial_lane_id"),
    ("laneforge/EmergencyBraking-v0", {"controlled_vehicles": 2}, "controlled_vehicles"),
    ("laneforge/RandomizedHighway-v0", {"other_vehicles_type": "idm"}, "other_vehicles_type"),
]
CLASSES = {"laneforge/WorkZone-v0": WorkZoneEnv, "laneforge/RandomizedHighway-v0": RandomizedHighwayEnv,
           "laneforge/EmergencyBraking-v0": EmergencyBrakingEnv}


@pytest.mark.parametrize("env_id, config, key", BAD, ids=[f"{e.split('/')[1]}-{k}" for e, _, k in BAD])
def test_bad_parameters_raise_one_line_naming_the_key(env_id, config, key):
    with pytest.raises(EnvConfigError) as built:
        make_env(env_id, config)
    message = str(built.value)
    assert "\n" not in message and message.startswith("env.config.") and key in message.split(":")[0]
    with pytest.raises(EnvConfigError) as checked:
        CLASSES[env_id].check_config(config)  # the same check without building (used by envs.suites)
    assert f"env.config.{checked.value}" == message
    assert isinstance(checked.value, ValueError)


def test_unused_inherited_key_says_why():
    with pytest.raises(EnvConfigError) as err:
        make_env("laneforge/WorkZone-v0", {"ego_spacing": 2})
    assert str(err.value) == ("env.config.ego_spacing: laneforge/WorkZone-v0 does not use this highway-env key "
                              "(the ego starts in the traffic line, a quarter of it behind); remove it")
    for cls in CLASSES.values():
        assert not set(cls.UNUSED_KEYS) & set(cls.default_config())


def test_message_format():
    with pytest.raises(EnvConfigError) as err:
        make_env("laneforge/WorkZone-v0", {"zone_length": -5})
    assert str(err.value) == "env.config.zone_length: must be > 0 (got -5)"


def test_bad_config_through_reset_options_is_rejected_too():
    env = WorkZoneEnv(config=SMALL)
    with pytest.raises(ValueError, match="closed_lanes"):
        env.reset(options={"config": {"closed_lanes": [7]}})
    assert env.config["closed_lanes"] == [2]  # the rejected value was not applied


EDITS = [
    ("laneforge/WorkZone-v0", "zone_length", -5),
    ("laneforge/WorkZone-v0", "lanes_count", 2),  # closed_lanes [2] no longer exists
    ("laneforge/WorkZone-v0", "zone_lenght", 50.0),  # a misspelt key
    ("laneforge/RandomizedHighway-v0", "lanes_count_range", [0, 2]),
    ("laneforge/RandomizedHighway-v0", "lanes_count", 5),  # sampled: not honoured
    ("laneforge/EmergencyBraking-v0", "brake_decel", 0),
]


@pytest.mark.parametrize("env_id, key, value", EDITS, ids=[f"{e.split('/')[1]}-{k}" for e, k, _ in EDITS])
def test_config_edited_between_resets_is_checked_at_reset(env_id, key, value):
    """highway-env's documented pattern: env.unwrapped.config[key] = value; env.reset()."""
    env = make_env(env_id, SMALL)
    env.reset(seed=0)
    env.unwrapped.config[key] = value
    with pytest.raises(EnvConfigError) as at_reset:
        env.reset(seed=0)
    with pytest.raises(EnvConfigError) as at_construction:
        CLASSES[env_id](config={**SMALL, key: value})
    assert str(at_reset.value) == str(at_construction.value)
    assert "\n" not in str(at_reset.value)
    defaults = CLASSES[env_id].default_config()
    if key in defaults:
        env.unwrapped.config[key] = defaults[key]
    else:
        del env.unwrapped.config[key]
    env.reset(seed=0)  # fixed again: resets as before


def test_valid_edit_between_resets_applies():
    env = make_env("laneforge/WorkZone-v0", SMALL)
    env.reset(seed=0)
    env.unwrapped.config["lanes_count"] = 5
    env.reset(seed=0)
    assert len(env.unwrapped.road.network.lanes_list()) == 5


# ---------------------------------------------------------------- inheritance and documentation


@pytest.mark.parametrize("cls", list(CLASSES.values()), ids=list(CLASSES))
def test_envs_inherit_highway_fast_and_override_only_what_differs(cls):
    assert issubclass(cls, HighwayEnvFast)
    inherited = HighwayEnvFast.default_config()
    config = cls.default_config()
    assert set(inherited) - set(config) == set(cls.UNUSED_KEYS)
    assert "SPEED_LIMIT" not in vars(sys.modules[cls.__module__]), "one speed limit: envs.scene.SPEED_LIMIT"


README_DEFAULTS = {  # README's Environments table (values and their types)
    "laneforge/WorkZone-v0": {
        "closed_lanes": [2], "zone_start": 200.0, "zone_length": 100.0, "cone_spacing": 20.0, "vehicles_count": 15,
        "vehicles_density": 1.0, "ego_lane": None, "ego_speed": 25.0, "duration": 30, "lanes_count": 3,
        "simulation_frequency": 5, "collision_reward": -1.0, "high_speed_reward": 0.4, "zone_passed_reward": 1.0,
        "reward_speed_range": [20.0, 30.0],
    },
    "laneforge/RandomizedHighway-v0": {
        "lanes_count_range": [2, 4], "vehicles_density_range": [0.8, 1.5], "desired_speed_range": [21.0, 25.0],
        "time_headway_range": [1.0, 2.0], "politeness_range": [0.0, 0.3], "comfort_acc_max_range": [2.5, 3.5],
        "comfort_decel_range": [4.0, 6.0], "driver_shares": {"aggressive": [0.0, 0.2], "defensive": [0.0, 0.2]},
        "initial_speed_range": [20.0, 25.0], "ego_speed_range": [25.0, 25.0], "vehicles_count": 20,
    },
    "laneforge/EmergencyBraking-v0": {
        "lead_distance": 50.0, "brake_time_range": [2.0, 6.0], "brake_decel": 7.0, "ego_speed": 25.0,
        "vehicles_count": 15, "vehicles_density": 0.8, "lanes_count": 3, "initial_lane_id": None,
    },
}


@pytest.mark.parametrize("env_id", OWN_IDS)
def test_documented_defaults(env_id):
    config = CLASSES[env_id].default_config()
    for key, value in README_DEFAULTS[env_id].items():
        assert config[key] == value and type(config[key]) is type(value), key


@pytest.mark.parametrize("module", ["envs.work_zone", "envs.randomized_highway", "envs.emergency_braking",
                                    "envs.base", "envs.scene", "envs.checks"])
def test_modules_and_classes_have_docstrings(module):
    mod = importlib.import_module(module)
    assert mod.__doc__
    for obj in vars(mod).values():
        if isinstance(obj, type) and obj.__module__ == module:
            assert obj.__dict__.get("__doc__"), obj.__name__


# ---------------------------------------------------------------- training configs and the CLI

TRAIN_CONFIGS = ["randomized_highway_dqn.yaml", "randomized_highway_ppo.yaml", "work_zone_ppo.yaml"]


@pytest.mark.parametrize("name", TRAIN_CONFIGS)
def test_training_configs_load_and_their_env_builds(name):
    from agents.config import load_config
    from tests.conftest import ROOT

    cfg = load_config(ROOT / "configs" / name)
    assert cfg.env.id in OWN_IDS and cfg.network.type == "mlp"
    env = make_env(cfg.env.id, {**cfg.env.config, **SMALL})
    obs, _ = env.reset(seed=0)
    assert obs.shape == (5, 5) and env.action_space == gym.spaces.Discrete(5)


def test_cli_bad_env_parameter_exits_2_naming_the_key():
    from tests.conftest import run_cli

    proc = run_cli("train.py", "--config", "configs/work_zone_ppo.yaml", "env.config.closed_lanes=[0,1,2]",
                   "--dry-run", "env.n_envs=1")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "closed_lanes" in lines[0] and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- solvability (statistical, slow)


def _gap_policy(env, avoid) -> int:
    """A scripted driver: leave a lane in ``avoid(env)`` through a safe gap, keep distance."""
    ego = env.vehicle
    lane = ego.lane_index

    def gaps(index):
        front, rear = env.road.neighbour_vehicles(ego, index)
        return (ego.lane_distance_to(front) if front else 1e9), (rear.lane_distance_to(ego) if rear else 1e9)

    if avoid(env):
        for side in (lane[2] - 1, lane[2] + 1):
            if 0 <= side < len(env.road.network.all_side_lanes(lane)):
                front, rear = gaps((lane[0], lane[1], side))
                if front > 25 and rear > 15:
                    return LANE_LEFT if side < lane[2] else LANE_RIGHT
        return 4  # SLOWER
    front, _ = gaps(lane)
    return 4 if front < 25 else (3 if front > 60 else IDLE)


@pytest.mark.slow
@pytest.mark.parametrize("env_id, avoid", [
    ("laneforge/WorkZone-v0", lambda env: env.vehicle.lane_index[2] in env.config["closed_lanes"]),
    ("laneforge/EmergencyBraking-v0",
     lambda env: env.vehicle.lane_index[2] == env.leader.lane_index[2] and not env.hazard_passed),
])
def test_scenarios_are_solvable_by_a_scripted_driver_and_not_by_idle(env_id, avoid):
    env = make_env(env_id)
    scripted, idle = [], []
    for seed in range(20):
        env.reset(seed=seed)
        *_, infos = _drive(env, lambda _: _gap_policy(env.unwrapped, avoid))
        scripted.append(infos[-1]["success"])
        env.reset(seed=seed)
        *_, infos = _drive(env, lambda _: IDLE)
        idle.append(infos[-1]["success"])
    assert np.mean(scripted) >= 0.5  # measured 0.7-0.8 on 20-30 seeds
    assert np.mean(idle) <= 0.1


def test_intersection_keeps_its_idm_constants_to_itself():
    """highway-env's IntersectionEnv writes IDM constants onto the IDMVehicle class at every
    reset; through make_env that write stays inside the intersection's own calls."""
    from highway_env.vehicle.behavior import IDMVehicle

    from envs.factory import make_env

    names = ("DISTANCE_WANTED", "COMFORT_ACC_MAX", "COMFORT_ACC_MIN")
    before = {n: IDMVehicle.__dict__[n] for n in names}

    def trajectory(env):
        env.reset(seed=3)
        out = []
        for _ in range(8):
            env.step(1)
            out.append([tuple(v.position) + (v.speed,) for v in env.unwrapped.road.vehicles])
        return out

    try:
        wrapped = make_env("intersection-v0", {})
        isolated = trajectory(wrapped)
        assert {n: IDMVehicle.__dict__[n] for n in names} == before  # nothing leaked
        # ... and the intersection drove exactly as highway-env's own (leaking) env does
        raw = gym.make("intersection-v0")
        leaked = trajectory(raw)
        assert IDMVehicle.DISTANCE_WANTED == 7  # highway-env's own write, outside the wrapper
        assert isolated == leaked
        wrapped.close()
        raw.close()
    finally:
        for n, v in before.items():
            setattr(IDMVehicle, n, v)


def test_work_zone_v1_is_v0_with_highway_envs_normalized_reward_and_success_not_reward():
    """Same scene, actions and ending as v0; the reward is highway-env's normalized one,
    recomputed here from the logged terms, and passing the zone earns no bonus."""
    from highway_env import utils

    avoid = lambda env: env.vehicle.lane_index[2] in env.config["closed_lanes"]  # noqa: E731
    v0, v1 = make_env("laneforge/WorkZone-v0"), make_env("laneforge/WorkZone-v1")
    c = v1.unwrapped.config
    assert "zone_passed_reward" not in c and c["normalize_reward"] is True
    successes = 0
    for seed in range(6):
        v0.reset(seed=seed)
        v1.reset(seed=seed)
        done = False
        while not done:
            action = _gap_policy(v0.unwrapped, avoid)
            _, r0, t0, tr0, i0 = v0.step(action)
            _, r1, t1, tr1, i1 = v1.step(action)
            assert (t0, tr0, i0["success"], i0["crashed"]) == (t1, tr1, i1["success"], i1["crashed"])
            np.testing.assert_array_equal(v0.unwrapped.vehicle.position, v1.unwrapped.vehicle.position)
            terms = i1["rewards"]
            raw = c["collision_reward"] * terms["collision_reward"] + c["high_speed_reward"] * terms["high_speed_reward"]
            expected = utils.lmap(raw, [c["collision_reward"], c["high_speed_reward"]], [0, 1]) * terms["on_road_reward"]
            assert r1 == pytest.approx(expected) and 0.0 <= r1 <= 1.0
            assert "zone_passed_reward" not in terms
            done = t0 or tr0
        successes += i1["success"]
        if i1["success"]:  # the passing step: v0 adds its zone bonus (1.0), v1 stays in [0, 1]
            assert r0 == pytest.approx(raw + v0.unwrapped.config["zone_passed_reward"]) and r1 <= 1.0
    assert successes >= 1  # the comparison covered a passed zone
    with pytest.raises(EnvConfigError, match="zone_passed_reward"):
        make_env("laneforge/WorkZone-v1", {"zone_passed_reward": 1.0})
