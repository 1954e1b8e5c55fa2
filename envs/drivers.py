"""Named driver types for the other vehicles: IDM/MOBIL parameter sets relative to a base driver.

A driver type is a named set of IDM (longitudinal) and MOBIL (lane change) parameters,
expressed relative to a *base* driver so that an env can randomize the base and keep the
types' differences: an aggressive driver wants 10% more speed and 60% of the base time
headway, whatever the base is. Config names driver types from :data:`DRIVER_PROFILES`; it
never holds an import path.

Each profile also exists as an ``IDMVehicle`` subclass applied to highway-env's IDM defaults
(:data:`DRIVER_CLASS_PATHS`), so a highway-env ``other_vehicles_type`` can name it.
"""

from __future__ import annotations

from dataclasses import dataclass

from highway_env.vehicle.behavior import IDMVehicle

from envs.checks import config_error
from envs.suggest import did_you_mean


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
        raise config_error(key, f"unknown driver type '{name}'{did_you_mean(name, DRIVER_PROFILES)}; "
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


def class_constants(profile: DriverProfile) -> dict[str, float]:
    """The IDMVehicle class constants of a profile applied to highway-env's defaults (what its
    driver class below overrides; the target speed stays the vehicle's own)."""
    p = profile.apply(HIGHWAY_ENV_IDM)
    return {"TIME_WANTED": p.time_headway, "POLITENESS": p.politeness, "COMFORT_ACC_MAX": p.comfort_acc_max,
            "COMFORT_ACC_MIN": -p.comfort_decel, "LANE_CHANGE_MIN_ACC_GAIN": p.lane_change_min_acc_gain}


def _driver_class(name: str, profile: DriverProfile) -> type[IDMVehicle]:
    cls_name = f"{name.capitalize()}Driver"
    return type(cls_name, (IDMVehicle,), {
        "__module__": __name__,
        "__qualname__": cls_name,
        "__doc__": f"IDM/MOBIL driver with the '{name}' profile on highway-env's defaults.",
        **class_constants(profile),
    })


NormalDriver = _driver_class("normal", DRIVER_PROFILES["normal"])
AggressiveDriver = _driver_class("aggressive", DRIVER_PROFILES["aggressive"])
DefensiveDriver = _driver_class("defensive", DRIVER_PROFILES["defensive"])

# Name -> class path, for highway-env's ``other_vehicles_type`` (see envs.factory.DRIVER_TYPES).
DRIVER_CLASS_PATHS: dict[str, str] = {
    f"idm_{name}": f"{__name__}.{name.capitalize()}Driver" for name in DRIVER_PROFILES
}
