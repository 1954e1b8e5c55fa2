"""laneforge/RandomizedHighway-v0: highway-fast-v0 whose scenario is sampled at every reset.

Road, ego, observation, action, reward and episode end are highway-env's ``highway-fast-v0``
(this class subclasses ``HighwayEnvFast``). What changes is the traffic: every reset samples,
uniformly from the configured ``[min, max]`` ranges and with the env's seeded generator,

- the lane count (integers, both ends included) and the traffic density;
- the *base* driver's IDM/MOBIL parameters: desired speed (the traffic's mean: each vehicle
  adds a uniform +-1.5 m/s of its own, as highway-env's drivers differ by their initial
  speeds), time headway, politeness, comfort acceleration and comfort deceleration;
- the share of each named driver type in ``driver_shares`` (types from
  :data:`envs.drivers.DRIVER_PROFILES`; the rest of the traffic drives as the base driver,
  ``normal``); each vehicle then draws its type from these shares and drives with the
  type's factors applied to the base parameters (an aggressive driver's headway is 0.6 x the
  sampled one, so per-vehicle values can lie outside the ranges);
- every other vehicle's initial speed, and the ego's (the ego's target speed then snaps to
  the nearest of DiscreteMetaAction's target speeds, 20/25/30 m/s by default).

The sampled values are in ``info["scenario"]`` (a fresh dict of plain numbers on every call,
the same values for the whole episode) from ``reset`` on; ``env.unwrapped.scenario`` holds
them too: ``lanes_count``, ``vehicles_density``, ``desired_speed``, ``time_headway``,
``politeness``, ``comfort_acc_max``, ``comfort_decel``, ``share_<type>`` for each type in
``driver_shares``, ``ego_speed``, ``initial_speed_min``/``initial_speed_max`` (over the other
vehicles; absent without any) and ``count_<type>`` (vehicles of each type, ``normal``
included). Ranges are config, so training and held-out ranges can be set apart: a suite's
unseen scenario is the same id with other ranges (configs/suites/randomized_generalization.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.kinematics import Vehicle

from envs.base import LaneforgeHighwayEnv
from envs.checks import POSITIVE, Number, Pair, Rule, config_error
from envs.drivers import IDMParams, apply_params, driver_profile
from envs.scene import add_ego, straight_road

ENV_ID = "laneforge/RandomizedHighway-v0"
DESIRED_SPEED_SPREAD = 1.5  # [m/s] per-vehicle offset around the sampled desired speed
SPEED = Number(low=0, high=Vehicle.MAX_SPEED)  # [m/s]


def check_driver_shares(key: str, value: Any, config: Mapping[str, Any]) -> None:
    """A rule: driver type -> [min, max] share of the traffic, the maximum shares adding up to <= 1."""
    if not isinstance(value, Mapping):
        raise config_error(key, "must be a mapping of driver type -> [min, max]", value)
    for name, pair in value.items():
        driver_profile(name, key=f"{key}.{name}")
        if name == "normal":
            raise config_error(f"{key}.normal", "'normal' is the remainder of the traffic; list only the other types")
        Pair(Number(low=0, high=1))(f"{key}.{name}", pair)
    if sum(hi for _, hi in value.values()) > 1:
        raise config_error(key, "the maximum shares add up to more than 1", dict(value))


class RandomizedHighwayEnv(LaneforgeHighwayEnv):
    """highway-fast-v0 with traffic sampled from configured ranges (see the module docstring)."""

    ENV_ID: ClassVar[str] = ENV_ID
    UNUSED_KEYS: ClassVar[dict[str, str]] = {  # highway-fast-v0 keys the sampled scenario replaces
        **LaneforgeHighwayEnv.UNUSED_KEYS,
        "lanes_count": "it is sampled from lanes_count_range",
        "vehicles_density": "it is sampled from vehicles_density_range",
        "other_vehicles_type": "the traffic is IDM drivers of the driver_shares types",
        "initial_lane_id": "the ego's lane is random",
    }
    RULES: ClassVar[dict[str, Rule]] = {
        "lanes_count_range": Pair(Number(low=1, integer=True)),
        "vehicles_density_range": Pair(POSITIVE),
        "desired_speed_range": Pair(POSITIVE),
        "time_headway_range": Pair(POSITIVE),
        "politeness_range": Pair(Number(low=0, high=1)),
        "comfort_acc_max_range": Pair(POSITIVE),
        "comfort_decel_range": Pair(POSITIVE),
        "driver_shares": check_driver_shares,
        "initial_speed_range": Pair(SPEED),
        "ego_speed_range": Pair(SPEED),
    }

    scenario: dict[str, Any]

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        config = super().default_config()
        config.update({
            "lanes_count_range": [2, 4],  # integers, both ends included
            "vehicles_density_range": [0.8, 1.5],  # > 0; highway-fast-v0 uses 1
            # [m/s] base driver; capped at 30. highway-fast-v0's drivers keep their initial
            # speed, 21-24 m/s, as desired speed.
            "desired_speed_range": [21.0, 25.0],
            "time_headway_range": [1.0, 2.0],  # [s] base driver; highway-env: 1.5
            "politeness_range": [0.0, 0.3],  # base driver, in [0, 1]; highway-env: 0
            "comfort_acc_max_range": [2.5, 3.5],  # [m/s2] base driver; highway-env: 3
            "comfort_decel_range": [4.0, 6.0],  # [m/s2] base driver; highway-env: 5
            # Driver type -> [min, max] share of the traffic; the rest is "normal".
            "driver_shares": {"aggressive": [0.0, 0.2], "defensive": [0.0, 0.2]},
            "initial_speed_range": [20.0, 25.0],  # [m/s] other vehicles (highway-fast-v0: 21-24)
            "ego_speed_range": [25.0, 25.0],  # [m/s] the ego (highway-fast-v0: 25)
        })
        return config

    # ------------------------------------------------------------ sampling

    def sample_scenario(self) -> dict[str, Any]:
        """Draw one scenario from the configured ranges with the env's generator."""
        c, rng = self.config, self.np_random

        def uniform(key: str) -> float:
            lo, hi = c[key]
            return float(rng.uniform(lo, hi))

        lo, hi = c["lanes_count_range"]
        scenario: dict[str, Any] = {
            "lanes_count": int(rng.integers(lo, hi + 1)),
            "vehicles_density": uniform("vehicles_density_range"),
            "desired_speed": uniform("desired_speed_range"),
            "time_headway": uniform("time_headway_range"),
            "politeness": uniform("politeness_range"),
            "comfort_acc_max": uniform("comfort_acc_max_range"),
            "comfort_decel": uniform("comfort_decel_range"),
        }
        for name, (s_lo, s_hi) in sorted(c["driver_shares"].items()):
            scenario[f"share_{name}"] = float(rng.uniform(s_lo, s_hi))
        return scenario

    def _reset(self) -> None:
        self.scenario = self.sample_scenario()
        super()._reset()

    def _create_road(self) -> None:
        self.road = straight_road(self, self.scenario["lanes_count"])

    def _create_vehicles(self) -> None:
        """highway-fast-v0's spawn procedure, with sampled speeds, types and parameters."""
        s, c, rng = self.scenario, self.config, self.np_random
        ego_speed = float(rng.uniform(*c["ego_speed_range"]))
        vehicle = Vehicle.create_random(self.road, speed=ego_speed, spacing=c["ego_spacing"])
        add_ego(self, vehicle.position, vehicle.heading, vehicle.speed)
        names = ["normal", *sorted(c["driver_shares"])]
        probs = self._type_probabilities(names)
        counts = dict.fromkeys(names, 0)
        speeds = []
        for _ in range(c["vehicles_count"]):
            speed = float(rng.uniform(*c["initial_speed_range"]))
            vehicle = IDMVehicle.create_random(self.road, speed=speed, spacing=1 / s["vehicles_density"])
            vehicle.randomize_behavior()
            name = names[int(rng.choice(len(names), p=probs))]
            apply_params(vehicle, self._driver_params(name))
            vehicle.check_collisions = False  # as highway-fast-v0: only the ego checks
            counts[name] += 1
            speeds.append(speed)
            self.road.vehicles.append(vehicle)
        s["ego_speed"] = ego_speed
        if speeds:  # (no other vehicles: no other speeds to report)
            s["initial_speed_min"], s["initial_speed_max"] = min(speeds), max(speeds)
        s.update({f"count_{n}": k for n, k in counts.items()})

    def _type_probabilities(self, names: list[str]) -> np.ndarray:
        """Probability of each driver type (``names[0]`` is "normal", the remainder)."""
        shares = np.array([self.scenario[f"share_{n}"] for n in names[1:]])
        probs = np.concatenate([[max(0.0, 1.0 - shares.sum())], shares])
        return probs / probs.sum() if probs.sum() > 0 else np.eye(len(names))[0]

    def _driver_params(self, name: str) -> IDMParams:
        """The sampled base driver with type ``name``'s factors and a desired speed jitter of its own."""
        s = self.scenario
        base = IDMParams(desired_speed=s["desired_speed"], time_headway=s["time_headway"],
                         politeness=s["politeness"], comfort_acc_max=s["comfort_acc_max"],
                         comfort_decel=s["comfort_decel"],
                         lane_change_min_acc_gain=IDMVehicle.LANE_CHANGE_MIN_ACC_GAIN)
        params = driver_profile(name).apply(base)
        jitter = float(self.np_random.uniform(-DESIRED_SPEED_SPREAD, DESIRED_SPEED_SPREAD))
        speed_factor = params.desired_speed / base.desired_speed
        return replace(params, desired_speed=(base.desired_speed + jitter) * speed_factor)

    def _info(self, obs, action=None) -> dict[str, Any]:
        info = super()._info(obs, action)
        info["scenario"] = dict(self.scenario)  # a copy: infos must not share objects
        return info
