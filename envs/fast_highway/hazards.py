"""The hazards of laneforge's own envs, per env of a FastHighway batch.

``hazard: work_zone`` makes an env laneforge/WorkZone-v1 (lanes closed by a line of cones
ahead; reward without the right-lane term; the episode ends on a crash or once the zone is
passed; ``info["zone_passed"]`` and ``info["success"]``), ``hazard: emergency_braking`` makes it
laneforge/EmergencyBraking-v0 (the car ahead brakes hard to a standstill; highway-fast-v0's
reward; ``info["leader_braking"]`` and ``info["success"]``). Their keys and defaults are those
envs' own (envs/work_zone.py, envs/emergency_braking.py), checked by those envs' rules.

Scenes are built as those envs build theirs (:mod:`envs.scene`: one line of spawn positions,
the ego at a quarter of it, traffic rerouted off the closed lanes near the zone or out of the
ego's lane near the leader), drawn from the same distributions with a numpy Generator (not
highway-env's stream, so scenes match in distribution; step parity holds on imported scenes).

Slot layout of a hazard env: the ego, the vehicles (EmergencyBraking: the leader first, then
the traffic; dropped traffic leaves absent slots), then the cones (static slots, as
highway-env's road.objects follow road.vehicles).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from envs.checks import config_error
from envs.emergency_braking import LANE_CLEARANCE, EmergencyBrakingEnv
from envs.scene import BEHIND_SHARE, SPEED_LIMIT
from envs.work_zone import SPAWN_CLEARANCE, Cone, WorkZoneV1Env, closed_lane_ids
from highway_env.road.lane import AbstractLane
from highway_env.vehicle.behavior import IDMVehicle

_CONE_LENGTH = Cone.LENGTH
_DELTA_DEFAULT, _DELTA_RANGE = IDMVehicle.DELTA, tuple(IDMVehicle.DELTA_RANGE)
_LANE_CHANGE_DELAY = IDMVehicle.LANE_CHANGE_DELAY
_LANE_WIDTH = AbstractLane.DEFAULT_WIDTH

HAZARDS = (None, "work_zone", "emergency_braking")
CODES = {None: 0, "work_zone": 1, "emergency_braking": 2}
_WZ_DEFAULTS = WorkZoneV1Env.default_config()
_EB_DEFAULTS = EmergencyBrakingEnv.default_config()
# hazard -> its keys and their defaults (the env's own); ego_speed is shared by both
KEYS: dict[str, dict[str, Any]] = {
    "work_zone": {k: _WZ_DEFAULTS[k] for k in ("closed_lanes", "zone_start", "zone_length", "cone_spacing",
                                              "ego_lane")},
    "emergency_braking": {k: _EB_DEFAULTS[k] for k in ("lead_distance", "brake_time_range", "brake_decel")},
}
# (ego_speed: both envs' own key, with the same default as highway-env's highway, 25 m/s)
DEFAULTS = {"hazard": None, "ego_speed": _WZ_DEFAULTS["ego_speed"], **KEYS["work_zone"], **KEYS["emergency_braking"]}
RULES = {"work_zone": WorkZoneV1Env.RULES, "emergency_braking": EmergencyBrakingEnv.RULES}


def check(config: Mapping[str, Any]) -> None:
    """Raise EnvConfigError naming the key: an unknown hazard, a hazard key out of its env's
    rules, or a hazard's key set while the env has another hazard (it would not apply)."""
    hazard = config["hazard"]
    if hazard not in HAZARDS:
        raise config_error("hazard", f"unknown hazard; valid: null, {', '.join(h for h in HAZARDS if h)}", hazard)
    speed = config["ego_speed"]
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0 <= speed <= SPEED_LIMIT + 10:
        raise config_error("ego_speed", "must be a speed in [0, 40] m/s", speed)
    for name, keys in KEYS.items():
        if name == hazard:
            rules = RULES[name]
            for key in keys:
                if key in rules:
                    rules[key](key, config[key], config)
            continue
        for key, default in keys.items():
            if config[key] != default:
                raise config_error(key, f"is a key of hazard '{name}' (this env's hazard is {hazard!r}); set "
                                        f"hazard: {name} or leave {key} out", config[key])


def hazard_of(key: str) -> str | None:
    """The hazard whose key ``key`` is (None: not a hazard's key)."""
    return next((name for name, keys in KEYS.items() if key in keys), None)


def applicable(update: Mapping[str, Any]) -> dict[str, Any]:
    """A family's draw with the keys of the hazards it did not draw left out (a family may draw
    work-zone settings for the envs that draw ``hazard: work_zone``; the others leave them)."""
    drawn = update.get("hazard")
    return {k: v for k, v in update.items() if hazard_of(k) in (None, drawn)}


def context(key: str) -> dict[str, Any]:
    """What a drawn value of ``key`` is checked with: its hazard set."""
    hazard = hazard_of(key)
    return {"hazard": hazard} if hazard else {}


ENV_IDS = {None: "highway-fast-v0", "work_zone": "laneforge/WorkZone-v1", "emergency_braking": "laneforge/EmergencyBraking-v0"}
# keys the hazard envs do not use (their UNUSED_KEYS, which they refuse): a draw's value of them is left out
_UNUSED = {None: {}, "work_zone": WorkZoneV1Env.UNUSED_KEYS, "emergency_braking": EmergencyBrakingEnv.UNUSED_KEYS}


def highway_env_scenario(update: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The highway-env env id (highway-fast-v0 or the hazard's laneforge env) and the config
    update that simulate a FastHighway draw ``update`` (highway-env's own keys and the hazard's;
    ``other_vehicles_type`` names as given, see envs.factory.to_highway_config)."""
    update = applicable(update)
    hazard = update.get("hazard")
    own = set(KEYS.get(hazard, ())) | ({"ego_speed"} if hazard else set())
    fast_only = {"hazard", "ego_speed", "driver_mix", *DEFAULTS} - own
    return ENV_IDS[hazard], {k: v for k, v in update.items() if k not in fast_only and k not in _UNUSED[hazard]}


def cone_count(config: Mapping[str, Any]) -> int:
    """The cones of a work-zone config (WorkZone._place_cones): per closed lane, one every
    cone_spacing metres over the zone, the last at its end."""
    per_lane = int(np.floor(config["zone_length"] / config["cone_spacing"])) + 1
    return len(closed_lane_ids(config)) * per_lane


def slots(config: Mapping[str, Any]) -> int:
    """Slots an env of ``config`` needs: the ego, its traffic, and its hazard's leader or cones."""
    extra = {None: 0, "work_zone": cone_count(config), "emergency_braking": 1}[config["hazard"]]
    return int(config["vehicles_count"]) + 1 + extra


def spawn_row(s, b: int, config: Mapping[str, Any], rng: np.random.Generator, target_speeds: np.ndarray,
              speed_to_index, decay: float) -> slice:
    """Build env ``b`` of numpy state ``s`` (all its slots absent and parked, with highway-env's
    IDM parameters) as the hazard env of ``config`` builds its scene; ``decay``: exp(-5/40
    lanes). Returns the traffic's slots (other_vehicles_type's drivers: the caller gives them
    their profiles)."""
    lanes, count = int(config["lanes_count"]), int(config["vehicles_count"])
    # envs.scene.traffic_line: spawn_positions, the ego at the BEHIND_SHARE slot
    offset = (12.0 + 22.5) * decay / config["vehicles_density"]
    xs = 20.0 + np.cumsum(offset * rng.uniform(0.9, 1.1, size=count + 1))
    ego_slot = int(round(BEHIND_SHARE * count))
    ego_x = float(xs[ego_slot])
    others = np.delete(xs, ego_slot)
    traffic_lanes = rng.integers(lanes, size=count).astype(float)
    speeds = rng.uniform(0.7 * SPEED_LIMIT, 0.8 * SPEED_LIMIT, size=count)
    deltas = rng.uniform(*_DELTA_RANGE, size=count)
    ego_speed = float(config["ego_speed"])
    if config["hazard"] == "work_zone":
        closed = closed_lane_ids(config)
        open_lanes = [lane for lane in range(lanes) if lane not in closed]
        begin = ego_x + config["zone_start"]
        end = begin + config["zone_length"]
        ego_lane = config["ego_lane"] if config["ego_lane"] is not None else int(rng.choice(closed))
        moved = np.isin(traffic_lanes, closed) & (begin - SPAWN_CLEARANCE <= others) & (others <= end + _CONE_LENGTH)
        traffic_lanes[moved] = rng.choice(open_lanes, size=int(moved.sum()))
        first, check = 1, True  # WorkZone's traffic checks collisions (spawn_traffic's default)
        s.zone_end[b] = end + _CONE_LENGTH / 2
    else:
        ego_lane = config["initial_lane_id"] if config["initial_lane_id"] is not None else int(rng.integers(lanes))
        lead_x = ego_x + config["lead_distance"]
        near = (traffic_lanes == ego_lane) & (ego_x - LANE_CLEARANCE <= others) & (others <= lead_x + LANE_CLEARANCE)
        other_lanes = [lane for lane in range(lanes) if lane != ego_lane]
        keep = np.ones(count, bool)
        if other_lanes:
            traffic_lanes[near] = rng.choice(other_lanes, size=int(near.sum()))
        else:  # a one-lane road: no room beside the hazard, the vehicle is dropped
            keep = ~near
        lo, hi = config["brake_time_range"]
        _place(s, b, 1, lead_x, ego_lane, ego_speed, check=True)
        s.delta[b, 1] = _DELTA_DEFAULT
        s.brake_time[b, 1], s.brake_decel[b, 1] = float(rng.uniform(lo, hi)), float(config["brake_decel"])
        s.elapsed[b, 1] = 0.0
        s.leader[b] = 1
        others, traffic_lanes, speeds, deltas = others[keep], traffic_lanes[keep], speeds[keep], deltas[keep]
        first, check = 2, False  # as highway-fast-v0: only the ego (and the leader) check
    # the ego (MDPVehicle: its target speed snaps to the nearest of the target speeds)
    _place(s, b, 0, ego_x, ego_lane, ego_speed, check=True)
    index = int(speed_to_index(target_speeds, np.array([ego_speed]))[0])
    s.speed_index[b] = index
    s.target_speed[b, 0] = target_speeds[index]
    s.delta[b, 0] = _DELTA_DEFAULT
    traffic = slice(first, first + len(others))
    _place(s, b, traffic, others, traffic_lanes.astype(np.int64), speeds, check=check)
    s.delta[b, traffic] = deltas
    if config["hazard"] == "work_zone":
        length, spacing = config["zone_length"], config["cone_spacing"]
        along = np.array([begin + min(k * spacing, length) for k in range(int(np.floor(length / spacing)) + 1)])
        cones = slice(traffic.stop, traffic.stop + len(closed) * len(along))
        _place(s, b, cones, np.tile(along, len(closed)), np.repeat(closed, len(along)), 0.0, check=True)
        s.static[b, cones], s.timer[b, cones] = True, 0.0
    s.lanes[b] = lanes
    return traffic


def _place(s, b: int, n, x, lane, speed, check: bool) -> None:
    """Vehicles (slot ``n``: an index or a slice) on lane ``lane``'s centre at ``x``, heading
    along the road, target speed = speed (IDMVehicle's lane-change timer from its position, as
    highway-env initializes it; the ego has none)."""
    y = _LANE_WIDTH * np.asarray(lane, dtype=float)
    s.present[b, n], s.x[b, n], s.y[b, n], s.heading[b, n] = True, x, y, 0.0
    s.speed[b, n] = s.target_speed[b, n] = speed
    s.lane[b, n] = s.target_lane[b, n] = lane
    s.timer[b, n] = ((np.asarray(x) + y) * np.pi) % _LANE_CHANGE_DELAY if n != 0 else 0.0
    s.check[b, n] = check
