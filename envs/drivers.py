"""Named driver types for the other vehicles, and the parameter checks the laneforge envs share.

A driver type is a named set of IDM (longitudinal) and MOBIL (lane change) parameters,
expressed relative to a *base* driver so that an env can randomize the base and keep the
types' differences: an aggressive driver wants 10% more speed and 60% of the base time
headway, whatever the base is. Config names driver types from :data:`DRIVER_PROFILES`; it
never holds an import path.

Each profile also exists as an ``IDMVehicle`` subclass applied to highway-env's IDM defaults
(:data:`DRIVER_CLASS_PATHS`), so a highway-env ``other_vehicles_type`` can name it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from highway_env.vehicle.behavior import IDMVehicle
from envs.suggest import did_you_mean as suggest


@dataclass(frozen=True)
class IDMParams:
    """Absolute IDM/MOBIL parameters of one driver."""

    desired_speed: float  # [m/s]; highway-env caps it at the lane's speed limit (30 m/s)
    time_headway: float  # [s]
    politeness: float  # MOBIL politeness in [0, 1]
    comfort_acc_max: float  # [m/s2] desired maximum acceleration
    comfort_decel: float  # [m/s2] desired maximum deceleration (a positive number)
    lane_change_min_acc_gain: float  # [m/s2] MOBIL threshold


# highway-env's IDMVehicle defaults (TIME_WANTED, POLITENESS, COMFORT_ACC_MAX/MIN, ...).
HIGHWAY_ENV_IDM = IDMParams(
    desired_speed=30.0,
    time_headway=IDMVehicle.TIME_WANTED,
    politeness=IDMVehicle.POLITENESS,
    comfort_acc_max=IDMVehicle.COMFORT_ACC_MAX,
    comfort_decel=-IDMVehicle.COMFORT_ACC_MIN,
    lane_change_min_acc_gain=IDMVehicle.LANE_CHANGE_MIN_ACC_GAIN,
)


@dataclass(frozen=True)
class DriverProfile:
    """A driver type as factors on a base driver's parameters."""

    speed_factor: float = 1.0
    headway_factor: float = 1.0
    politeness_factor: float = 1.0
    accel_factor: float = 1.0  # on both comfort acceleration and comfort deceleration
    lane_change_gain_factor: float = 1.0

    def apply(self, base: IDMParams) -> IDMParams:
        return IDMParams(
            desired_speed=base.desired_speed * self.speed_factor,
            time_headway=base.time_headway * self.headway_factor,
            politeness=min(1.0, base.politeness * self.politeness_factor),
            comfort_acc_max=base.comfort_acc_max * self.accel_factor,
            comfort_decel=base.comfort_decel * self.accel_factor,
            lane_change_min_acc_gain=base.lane_change_min_acc_gain * self.lane_change_gain_factor,
        )


DRIVER_PROFILES: dict[str, DriverProfile] = {
    "normal": DriverProfile(),
    # Faster, closer, harder on the pedals, changes lane for small gains, ignores others.
    "aggressive": DriverProfile(speed_factor=1.1, headway_factor=0.6, politeness_factor=0.0,
                                accel_factor=1.3, lane_change_gain_factor=0.5),
    # Slower, keeps its distance, gentle, changes lane only for a clear gain, considerate.
    "defensive": DriverProfile(speed_factor=0.9, headway_factor=1.5, politeness_factor=2.0,
                               accel_factor=0.7, lane_change_gain_factor=2.5),
}



def driver_profile(name: str, key: str = "driver type") -> DriverProfile:
    if name not in DRIVER_PROFILES:
        raise ValueError(f"{key}: unknown driver type '{name}'{suggest(name, DRIVER_PROFILES)}; "
                         f"valid: {', '.join(DRIVER_PROFILES)}")
    return DRIVER_PROFILES[name]


def apply_params(vehicle: IDMVehicle, params: IDMParams) -> None:
    """Give one vehicle its own IDM/MOBIL parameters (instance attributes shadow the class's)."""
    vehicle.target_speed = params.desired_speed
    vehicle.TIME_WANTED = params.time_headway
    vehicle.POLITENESS = params.politeness
    vehicle.COMFORT_ACC_MAX = params.comfort_acc_max
    vehicle.COMFORT_ACC_MIN = -params.comfort_decel
    vehicle.ACC_MAX = max(IDMVehicle.ACC_MAX, params.comfort_acc_max)
    vehicle.LANE_CHANGE_MIN_ACC_GAIN = params.lane_change_min_acc_gain


def _driver_class(name: str, profile: DriverProfile) -> type[IDMVehicle]:
    p = profile.apply(HIGHWAY_ENV_IDM)
    cls_name = f"{name.capitalize()}Driver"
    return type(cls_name, (IDMVehicle,), {
        "__module__": __name__,
        "__qualname__": cls_name,
        "__doc__": f"IDM/MOBIL driver with the '{name}' profile on highway-env's defaults.",
        "TIME_WANTED": p.time_headway,
        "POLITENESS": p.politeness,
        "COMFORT_ACC_MAX": p.comfort_acc_max,
        "COMFORT_ACC_MIN": -p.comfort_decel,
        "LANE_CHANGE_MIN_ACC_GAIN": p.lane_change_min_acc_gain,
    })


NormalDriver = _driver_class("normal", DRIVER_PROFILES["normal"])
AggressiveDriver = _driver_class("aggressive", DRIVER_PROFILES["aggressive"])
DefensiveDriver = _driver_class("defensive", DRIVER_PROFILES["defensive"])

# Name -> class path, for highway-env's ``other_vehicles_type`` (see envs.factory.DRIVER_TYPES).
DRIVER_CLASS_PATHS: dict[str, str] = {
    f"idm_{name}": f"{__name__}.{name.capitalize()}Driver" for name in DRIVER_PROFILES
}


# ---------------------------------------------------------------- shared config checks
# Every laneforge env checks its config when it is configured (construction and
# ``reset(options={"config": ...})``); a ValueError names the key.


def check_known_keys(config: Mapping[str, Any], defaults: Mapping[str, Any], env_name: str) -> None:
    for name in config:
        if name not in defaults:
            raise ValueError(f"{name}: unknown key for {env_name}{suggest(name, defaults)}; "
                             f"valid keys: {', '.join(sorted(defaults))}")


def check_number(config: Mapping[str, Any], key: str, *, low: float | None = None,
                 high: float | None = None, strict_low: bool = False, integer: bool = False) -> float:
    value = config[key]
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"{key}: expected {'an integer' if integer else 'a number'}, got {value!r}")
    if low is not None and (value <= low if strict_low else value < low):
        raise ValueError(f"{key}: must be {'>' if strict_low else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{key}: must be <= {high}, got {value!r}")
    return value


def check_range(config: Mapping[str, Any], key: str, *, low: float | None = None,
                high: float | None = None, strict_low: bool = False,
                integer: bool = False) -> tuple[float, float]:
    """A ``[min, max]`` pair inside ``[low, high]`` with ``min <= max``."""
    value = config[key]
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{key}: expected a [min, max] pair, got {value!r}")
    pair = {f"{key}[0]": value[0], f"{key}[1]": value[1]}
    for sub in pair:
        check_number(pair, sub, low=low, high=high, strict_low=strict_low, integer=integer)
    lo, hi = value
    if lo > hi:
        raise ValueError(f"{key}: min {lo!r} is larger than max {hi!r}")
    return lo, hi


class CheckedConfig:
    """Mixin for the laneforge envs: config values are checked before highway-env applies
    them (its ``configure`` is a silent dict update). Subclasses set ``ENV_ID`` and a
    ``_check_config(full_config)`` staticmethod that raises ValueError naming the key."""

    ENV_ID: str = ""

    @classmethod
    def check_config(cls, overrides: dict[str, Any]) -> None:
        """Raise ValueError naming the key if ``overrides`` on the defaults cannot work."""
        check_known_keys(overrides, cls.default_config(), cls.ENV_ID)
        cls._check_config({**cls.default_config(), **overrides})

    def configure(self, config: dict | None) -> None:
        if config:  # checked before it is applied, so a rejected config changes nothing
            check_known_keys(config, self.default_config(), self.ENV_ID)
            self._check_config({**self.config, **config})
        super().configure(config)
