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
from typing import Any, NamedTuple

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


_HAZARD_OF = {key: name for name, keys in KEYS.items() for key in keys}  # a hazard's key -> the hazard


def hazard_of(key: str) -> str | None:
    """The hazard whose key ``key`` is (None: not a hazard's key)."""
    return _HAZARD_OF.get(key)


def applicable(update: Mapping[str, Any]) -> dict[str, Any]:
    """A family's draw with the keys of the hazards it did not draw left out (a family may draw
    work-zone settings for the envs that draw ``hazard: work_zone``; the others leave them)."""
    drawn = update.get("hazard")
    return {k: v for k, v in update.items() if _HAZARD_OF.get(k, drawn) == drawn}


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


class Scene(NamedTuple):
    """One hazard env's scene as :func:`draw_scene` draws it; :func:`place_scenes` writes it."""

    lanes: int
    ego_x: float
    ego_lane: int
    ego_speed: float
    first: int  # the traffic's first slot (after the ego, and the leader if any)
    traffic_x: np.ndarray
    traffic_lanes: np.ndarray  # int64
    traffic_speeds: np.ndarray
    traffic_deltas: np.ndarray
    check: bool  # the traffic's check_collisions
    zone_end: float  # inf: no work zone
    cone_x: list[float]  # empty: no cones
    cone_lanes: list[int]
    leader: tuple | None  # (x, brake_time, brake_decel) of the braking leader, or None


_NO_CONES: tuple[list, list] = ([], [])


def choice(rng: np.random.Generator, values: list, size: int | None = None):
    """``rng.choice(values, size)`` (uniform, with replacement), the same draws from the same
    stream: numpy's Generator.choice draws ``rng.integers(0, len(values), size)`` and indexes
    (tests/test_fast_highway_hazards.py checks it), at a fraction of its overhead."""
    if size is None:
        return values[int(rng.integers(0, len(values)))]
    return np.asarray(values, np.int64)[rng.integers(0, len(values), size=size)]


def draw_scene(config: Mapping[str, Any], rng: np.random.Generator, decay: float) -> Scene:
    """Every random draw of the hazard env of ``config``'s scene, in the order its env makes
    them, as the hazard env builds its scene; ``decay``: exp(-5/40 lanes). Nothing is written:
    :func:`place_scenes` writes the scenes of many envs at once."""
    lanes, count = int(config["lanes_count"]), int(config["vehicles_count"])
    # envs.scene.traffic_line: spawn_positions, the ego at the BEHIND_SHARE slot
    offset = (12.0 + 22.5) * decay / config["vehicles_density"]
    xs = 20.0 + np.cumsum(offset * rng.uniform(0.9, 1.1, size=count + 1))
    ego_slot = int(round(BEHIND_SHARE * count))
    ego_x = float(xs[ego_slot])
    others = np.concatenate((xs[:ego_slot], xs[ego_slot + 1 :]))
    traffic_lanes = rng.integers(lanes, size=count)
    speeds = rng.uniform(0.7 * SPEED_LIMIT, 0.8 * SPEED_LIMIT, size=count)
    deltas = rng.uniform(*_DELTA_RANGE, size=count)
    ego_speed = float(config["ego_speed"])
    zone_end, (cone_x, cone_lanes), leader = np.inf, _NO_CONES, None
    if config["hazard"] == "work_zone":
        closed = closed_lane_ids(config)
        open_lanes = [lane for lane in range(lanes) if lane not in closed]
        begin = ego_x + config["zone_start"]
        end = begin + config["zone_length"]
        ego_lane = config["ego_lane"] if config["ego_lane"] is not None else choice(rng, closed)
        is_closed = np.zeros(lanes, bool)
        is_closed[closed] = True
        moved = is_closed[traffic_lanes] & (begin - SPAWN_CLEARANCE <= others) & (others <= end + _CONE_LENGTH)
        traffic_lanes[moved] = choice(rng, open_lanes, int(moved.sum()))
        first, check = 1, True  # WorkZone's traffic checks collisions (spawn_traffic's default)
        zone_end = end + _CONE_LENGTH / 2
        # WorkZone._place_cones: per closed lane, one every cone_spacing metres, the last at the end
        length, spacing = config["zone_length"], config["cone_spacing"]
        along = [begin + min(k * spacing, length) for k in range(int(np.floor(length / spacing)) + 1)]
        cone_x, cone_lanes = along * len(closed), [lane for lane in closed for _ in along]
    else:
        ego_lane = config["initial_lane_id"] if config["initial_lane_id"] is not None else int(rng.integers(lanes))
        lead_x = ego_x + config["lead_distance"]
        near = (traffic_lanes == ego_lane) & (ego_x - LANE_CLEARANCE <= others) & (others <= lead_x + LANE_CLEARANCE)
        other_lanes = [lane for lane in range(lanes) if lane != ego_lane]
        keep = np.ones(count, bool)
        if other_lanes:
            traffic_lanes[near] = choice(rng, other_lanes, int(near.sum()))
        else:  # a one-lane road: no room beside the hazard, the vehicle is dropped
            keep = ~near
        lo, hi = config["brake_time_range"]
        leader = (lead_x, float(rng.uniform(lo, hi)), float(config["brake_decel"]))
        others, traffic_lanes, speeds, deltas = others[keep], traffic_lanes[keep], speeds[keep], deltas[keep]
        first, check = 2, False  # as highway-fast-v0: only the ego (and the leader) check
    return Scene(lanes, ego_x, int(ego_lane), ego_speed, first, others, traffic_lanes, speeds, deltas, check, zone_end, cone_x, cone_lanes, leader)


def traffic_slots(scene: Scene) -> slice:
    """The slots of a scene's traffic (other_vehicles_type's drivers: the caller gives them
    their profiles)."""
    return slice(scene.first, scene.first + len(scene.traffic_x))


def place_scenes(s, rows: np.ndarray, scenes: list[Scene], target_speeds: np.ndarray, speed_to_index) -> None:
    """Write ``scenes`` into envs ``rows`` of numpy state ``s`` (all their slots absent and
    parked, with highway-env's IDM parameters), all envs at once: the ego, the braking leader,
    the traffic after them, then the cones (static slots)."""
    if not scenes:
        return
    # one entry per placed slot, env after env: the ego, the leader, the traffic, the cones
    env, slot, x, lane, speed, check, delta, static = [], [], [], [], [], [], [], []
    for b, scene in zip(rows, scenes):
        head = [scene.ego_x] if scene.leader is None else [scene.ego_x, scene.leader[0]]
        traffic, cones = len(scene.traffic_x), len(scene.cone_x)
        count = len(head) + traffic + cones
        env += [b] * count
        slot += range(count)
        x += head + scene.traffic_x.tolist() + scene.cone_x
        lane += [scene.ego_lane] * len(head) + scene.traffic_lanes.tolist() + scene.cone_lanes
        speed += [scene.ego_speed] * len(head) + scene.traffic_speeds.tolist() + [0.0] * cones
        check += [True] * len(head) + [scene.check] * traffic + [True] * cones
        delta += [_DELTA_DEFAULT] * len(head) + scene.traffic_deltas.tolist() + [_DELTA_DEFAULT] * cones
        static += [False] * (len(head) + traffic) + [True] * cones
    env, slot, lane = np.array(env, np.int64), np.array(slot, np.int64), np.array(lane, np.int64)
    x, speed, delta = np.array(x, float), np.array(speed, float), np.array(delta, float)
    check, static = np.array(check, bool), np.array(static, bool)
    at = (env, slot)
    y = _LANE_WIDTH * lane.astype(float)
    # on its lane's centre, heading along the road, target speed = speed, not crashed
    s.present[at], s.x[at], s.y[at], s.heading[at] = True, x, y, 0.0
    s.speed[at] = s.target_speed[at] = speed
    s.lane[at] = s.target_lane[at] = lane
    s.check[at], s.delta[at], s.static[at] = check, delta, static
    # IDMVehicle's lane-change timer from its position, as highway-env initializes it; the
    # ego has none and an obstacle never changes lane
    s.timer[at] = np.where((slot == 0) | static, 0.0, ((x + y) * np.pi) % _LANE_CHANGE_DELAY)
    rows = np.asarray(rows)
    s.lanes[rows] = [scene.lanes for scene in scenes]
    # the ego's target speed snaps to the nearest of the target speeds (MDPVehicle)
    index = speed_to_index(target_speeds, np.array([scene.ego_speed for scene in scenes]))
    s.speed_index[rows] = index
    s.target_speed[rows, 0] = target_speeds[index]
    s.zone_end[rows] = [scene.zone_end for scene in scenes]
    braking = [i for i, scene in enumerate(scenes) if scene.leader is not None]
    if braking:
        lead = rows[braking]
        s.leader[lead] = 1
        s.brake_time[lead, 1] = [scenes[i].leader[1] for i in braking]
        s.brake_decel[lead, 1] = [scenes[i].leader[2] for i in braking]
        s.elapsed[lead, 1] = 0.0
