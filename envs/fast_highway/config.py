"""Configuration of FastHighway: highway-env's keys plus the batched simulator's own.

The defaults are highway-env 1.12's ``highway-fast-v0`` (``HighwayEnvFast.default_config()``);
:func:`highway_v0_config` gives the overrides that turn it into ``highway-v0``. Every key is
checked at construction: an unknown key, or a value this simulator cannot honour, is a
:class:`envs.checks.EnvConfigError` (a ``ValueError``) that names the key and says what to do.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from envs.checks import HIGHWAY_RULES, MAX_VEHICLES, Number, Rule, check_config, check_keys, config_error
from envs.drivers import DRIVER_CLASS_PATHS, DRIVER_PROFILES
from envs.suggest import did_you_mean as _suggest

from . import hazards

IDM_PATH = "highway_env.vehicle.behavior.IDMVehicle"
# The traffic's driver profiles, in the order of per-env weight rows (envs.drivers.DRIVER_PROFILES)
PROFILES = tuple(DRIVER_PROFILES)
# other_vehicles_type -> profile: highway-env's IDMVehicle (the "normal" profile: the same
# constants) and laneforge's driver classes, by name or class path
TRAFFIC_TYPES = {"idm": "normal", IDM_PATH: "normal",
                 **{name: name[len("idm_"):] for name in DRIVER_CLASS_PATHS},
                 **{path: name[len("idm_"):] for name, path in DRIVER_CLASS_PATHS.items()}}
BACKENDS = ("numpy", "torch")
DEVICES = ("cpu", "cuda")
KINEMATIC_FEATURES = (
    "presence", "x", "y", "vx", "vy", "heading", "cos_h", "sin_h",
    "cos_d", "sin_d", "long_off", "lat_off", "ang_off",
)
OBSERVATION_KEYS = {
    "type", "features", "vehicles_count", "features_range", "absolute", "order", "normalize",
    "clip", "see_behind", "observe_intentions", "include_obstacles",
}
ACTION_KEYS = {"type", "longitudinal", "lateral", "target_speeds"}


def default_config() -> dict[str, Any]:
    """highway-fast-v0's configuration, plus ``backend``, ``device`` and ``traffic_collisions``."""
    return {
        "observation": {"type": "Kinematics"},
        "action": {"type": "DiscreteMetaAction"},
        "simulation_frequency": 5,  # [Hz] integration steps per simulated second
        "policy_frequency": 1,  # [Hz] decisions per simulated second
        "other_vehicles_type": IDM_PATH,  # only IDM traffic is simulated
        "screen_width": 600,  # [px]
        "screen_height": 150,  # [px]
        "centering_position": [0.3, 0.5],
        "scaling": 5.5,  # [px/m]
        "show_trajectories": False,
        "render_agent": True,
        "offscreen_rendering": None,
        "manual_control": False,
        "real_time_rendering": False,
        "neighbour_vehicles_connected_lanes": False,
        "lanes_count": 3,
        "vehicles_count": 20,  # other vehicles besides the ego
        "controlled_vehicles": 1,
        "initial_lane_id": None,
        "duration": 30,  # [s]
        "ego_spacing": 1.5,
        "vehicles_density": 1,
        "collision_reward": -1,
        "right_lane_reward": 0.1,
        "high_speed_reward": 0.4,
        "lane_change_reward": 0,
        "reward_speed_range": [20, 30],  # [m/s]
        "normalize_reward": True,
        "offroad_terminal": False,
        # FastHighway's own keys
        "traffic_collisions": False,  # highway-fast-v0 checks only the ego; highway-v0 all pairs
        # {profile: weight}: each traffic vehicle draws its driver profile (envs.drivers) at
        # spawn; None: every vehicle is other_vehicles_type
        "driver_mix": None,
        # {parameter: [low, high]}: each traffic vehicle draws these IDM/MOBIL parameters
        # uniformly at spawn (over its profile's); None: the profiles' values (DRIVER_RANGES)
        "driver_ranges": None,
        # laneforge's hazards per env (envs.fast_highway.hazards): None, "work_zone" (WorkZone-v1)
        # or "emergency_braking" (EmergencyBraking-v0), with those envs' keys and defaults
        **hazards.DEFAULTS,
        "backend": "numpy",  # "numpy" or "torch"
        "device": "cpu",  # "cpu" or "cuda" (torch backend only)
    }


def highway_v0_config() -> dict[str, Any]:
    """Overrides that make FastHighway simulate ``highway-v0`` instead of ``highway-fast-v0``."""
    return {
        "simulation_frequency": 15,
        "lanes_count": 4,
        "vehicles_count": 50,
        "duration": 40,
        "ego_spacing": 2,
        "traffic_collisions": True,
    }


# Values checked by envs.checks' rules (highway-env's, stricter where the simulator needs it);
# the rest by validate_config below.
RULES: dict[str, Rule] = {
    **HIGHWAY_RULES,
    "vehicles_count": Number(low=1, high=MAX_VEHICLES, integer=True),  # (arrays are (B, vehicles_count + 1))
    "simulation_frequency": Number(low=1, integer=True),  # [Hz]
    "policy_frequency": Number(low=1, integer=True),  # [Hz]
}


def resolve_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults updated with ``config`` (nested observation/action merged), all keys checked."""
    resolved = default_config()
    check_keys(config or {}, resolved, "laneforge/FastHighway-v0")
    for key, value in (config or {}).items():
        resolved[key] = copy.deepcopy(value)
    validate_config(resolved)
    return resolved


def validate_config(config: Mapping[str, Any]) -> None:
    """Raise EnvConfigError (a ValueError) naming the first key FastHighway cannot honour."""
    check_config(config, RULES)
    if config["simulation_frequency"] % config["policy_frequency"]:
        raise config_error("simulation_frequency", "must be a multiple of policy_frequency "
                                                   f"({config['policy_frequency']})", config["simulation_frequency"])
    if config["controlled_vehicles"] != 1:
        raise config_error("controlled_vehicles", "FastHighway simulates exactly 1 ego; set it to 1",
                           config["controlled_vehicles"])
    if config["other_vehicles_type"] not in TRAFFIC_TYPES:
        raise config_error("other_vehicles_type", "FastHighway simulates IDM traffic only: 'idm' (highway-env's "
                                                  f"IDMVehicle) or one of laneforge's profiles {', '.join(DRIVER_CLASS_PATHS)}",
                           config["other_vehicles_type"])
    _check_driver_mix(config)
    _check_driver_ranges(config["driver_ranges"])
    hazards.check(config)
    if config["neighbour_vehicles_connected_lanes"]:
        raise config_error("neighbour_vehicles_connected_lanes", "only False (highway-v0's value) is supported",
                           config["neighbour_vehicles_connected_lanes"])
    if config["backend"] not in BACKENDS:
        raise config_error("backend", f"unknown backend{_suggest(config['backend'], BACKENDS)}; "
                                      f"valid: {', '.join(BACKENDS)}", config["backend"])
    _check_device(config)
    _check_observation(config["observation"])
    _check_action(config["action"])


def _check_driver_mix(config: Mapping[str, Any]) -> None:
    mix = config["driver_mix"]
    if mix is None:
        return
    if not isinstance(mix, Mapping) or not mix:
        raise config_error("driver_mix", f"must be a mapping of driver profile -> weight ({', '.join(PROFILES)}), "
                                         "or null", mix)
    for name, weight in mix.items():
        if name not in DRIVER_PROFILES:
            raise config_error(f"driver_mix.{name}", f"unknown driver profile{_suggest(str(name), PROFILES)}; "
                                                     f"valid: {', '.join(PROFILES)}")
        Number(low=0)(f"driver_mix.{name}", weight)
    if not sum(mix.values()) > 0:
        raise config_error("driver_mix", "give at least one positive weight", dict(mix))
    if TRAFFIC_TYPES[config["other_vehicles_type"]] != "normal":
        raise config_error("driver_mix", "a mix draws each vehicle's profile; leave other_vehicles_type at 'idm'",
                           dict(mix))


# driver_ranges parameter -> (SimState field, sign, rule): the field gets sign * the drawn value
DRIVER_RANGES = {
    "desired_speed": ("target_speed", 1.0, Number(low=0, high=40)),  # [m/s] (IDM caps it at the speed limit)
    "time_headway": ("time_wanted", 1.0, Number(low=0, strict=True)),  # [s]
    "distance_wanted": ("distance_wanted", 1.0, Number(low=0)),  # [m] minimum gap
    "comfort_acc_max": ("comfort_acc_max", 1.0, Number(low=0, strict=True)),  # [m/s2]
    "comfort_decel": ("comfort_acc_min", -1.0, Number(low=0, strict=True)),  # [m/s2], a positive number
    "delta": ("delta", 1.0, Number(low=0, strict=True)),  # IDM exponent
    "politeness": ("politeness", 1.0, Number(low=0, high=1)),
    "lane_change_min_acc_gain": ("lane_change_min_acc_gain", 1.0, Number(low=0)),  # [m/s2]
    "lane_change_max_braking_imposed": ("lane_change_max_braking_imposed", 1.0, Number(low=0, strict=True)),
}


def _check_driver_ranges(ranges: Any) -> None:
    if ranges is None:
        return
    if not isinstance(ranges, Mapping) or not ranges:
        raise config_error("driver_ranges", f"must be a mapping of parameter -> [low, high] "
                                            f"({', '.join(DRIVER_RANGES)}), or null", ranges)
    for name, pair in ranges.items():
        if name not in DRIVER_RANGES:
            raise config_error(f"driver_ranges.{name}", f"unknown parameter{_suggest(str(name), DRIVER_RANGES)}; "
                                                        f"valid: {', '.join(DRIVER_RANGES)}")
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise config_error(f"driver_ranges.{name}", "must be [low, high]", pair)
        rule = DRIVER_RANGES[name][2]
        rule(f"driver_ranges.{name}", pair[0], {})
        rule(f"driver_ranges.{name}", pair[1], {})
        if pair[0] > pair[1]:
            raise config_error(f"driver_ranges.{name}", "low must not exceed high", list(pair))


def driver_weights(config: Mapping[str, Any]) -> np.ndarray:
    """The probability of each profile (:data:`PROFILES` order) for a traffic vehicle of ``config``."""
    mix = config["driver_mix"] or {TRAFFIC_TYPES[config["other_vehicles_type"]]: 1.0}
    weights = np.array([float(mix.get(name, 0.0)) for name in PROFILES])
    return weights / weights.sum()


def _check_device(config: Mapping[str, Any]) -> None:
    device = str(config["device"])
    if device.split(":")[0] not in DEVICES:
        raise config_error("device", "unknown device; valid: cpu, cuda", device)
    if device == "cpu":
        return
    if config["backend"] != "torch":
        raise config_error("device", "a GPU device needs backend 'torch'", device)
    import torch

    if not torch.cuda.is_available():
        raise config_error("device", "torch sees no CUDA GPU; use device 'cpu' on this machine", device)


def _check_observation(obs: Any) -> None:
    if not isinstance(obs, Mapping) or obs.get("type", "Kinematics") != "Kinematics":
        raise config_error("observation", "FastHighway supports only {'type': 'Kinematics', ...}", obs)
    for key in obs:
        if key not in OBSERVATION_KEYS:
            raise config_error(f"observation.{key}", f"unknown Kinematics parameter{_suggest(key, OBSERVATION_KEYS)}; "
                                                     f"valid: {', '.join(sorted(OBSERVATION_KEYS))}")
    for feature in obs.get("features") or ():
        if feature not in KINEMATIC_FEATURES:
            raise config_error("observation.features", f"unknown feature {feature!r}; "
                                                       f"valid: {', '.join(KINEMATIC_FEATURES)}")
    if obs.get("order", "sorted") not in ("sorted", "shuffled"):
        raise config_error("observation.order", "must be 'sorted' or 'shuffled'", obs.get("order"))
    Number(low=1, integer=True)("observation.vehicles_count", obs.get("vehicles_count", 5))


def _check_action(action: Any) -> None:
    if not isinstance(action, Mapping) or action.get("type") != "DiscreteMetaAction":
        raise config_error("action", "FastHighway supports only {'type': 'DiscreteMetaAction', ...}", action)
    for key in action:
        if key not in ACTION_KEYS:
            raise config_error(f"action.{key}", f"unknown DiscreteMetaAction parameter{_suggest(key, ACTION_KEYS)}; "
                                                f"valid: {', '.join(sorted(ACTION_KEYS))}")
    if not (action.get("longitudinal", True) or action.get("lateral", True)):
        raise config_error("action", "at least one of 'longitudinal' or 'lateral' must be True")
    speeds = action.get("target_speeds")
    if speeds is not None and len(speeds) < 2:
        raise config_error("action.target_speeds", "needs at least 2 speeds [m/s]", speeds)
