"""What the ego is doing, read the same way from highway-env's envs and from the batched twins.

Evaluation metrics (progress, stalls, success, time-to-collision, headway, braking, speeding)
come from a few per-step quantities of the ego and of the vehicle ahead of it. This module
reads them:

- from any highway-env env (highway-env's own and laneforge's scenarios, which subclass
  them): :func:`read`, from ``env.road`` and ``env.vehicle``, with the leader found as
  highway-env's ``Road.neighbour_vehicles`` finds it (objects such as work-zone cones count);
- from a batched twin: the env's own ``drive_state()`` (``FastHighwayCore.drive_state``),
  which returns the same fields as arrays over the batch.

Nothing here changes an env: the probe only reads, so no env's reward, termination or info
moves (and no env version changes).

Each env gets a :class:`Goal` that says how its progress is measured (envs not listed here,
such as racetrack, parking or lane keeping, have none: their progress is NaN):

- highway-like roads (no goal, a time limit): distance along the road / (``duration`` x
  :data:`REFERENCE_SPEED`);
- merge: the share of the way from the ego's start x to the x where the episode ends on
  passing the ramp (merge-v0/v1: 370 m); passing it is arrival;
- roundabout: the share of the planned route covered from the start to the exit lane;
  reaching the exit lane is arrival;
- intersection: the same up to highway-env's ``has_arrived`` point (25 m into the exit
  lane); arrival is ``has_arrived``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

REFERENCE_SPEED = 30.0  # [m/s] highway progress: distance / (duration x this); highway-env's top target speed
MERGE_END_X = 370.0  # [m] merge-v0/v1 terminate once the ego's x passes this (MergeEnv._is_terminated)
INTERSECTION_EXIT_DISTANCE = 25.0  # [m] IntersectionEnv.has_arrived's default exit_distance

# Field names of a drive state (one value per env; arrays over the batch for a twin).
FIELDS = ("s", "x", "y", "lane", "speed", "speed_limit", "gap", "closing_speed", "crashed", "arrived")


@dataclass
class Goal:
    """How an env's progress is measured: ``kind`` "distance" (progress = distance along the
    road / ``length``) or "route" (progress = position along the route / ``length``)."""

    kind: str  # "distance" | "route" | "none" (no progress measure: racetrack, parking, ...)
    length: float  # [m]
    route: list[tuple[str, str, int]] = field(default_factory=list)  # lanes of the route, in order
    starts: list[float] = field(default_factory=list)  # [m] where each route lane starts along the route
    arrival: str = "none"  # none | last_lane | has_arrived | end_x

    def progress(self, s0: float, s: float) -> float:
        """Progress in [0, 1] at position ``s`` for an episode that started at ``s0``: the distance
        gained over ``length`` ("distance"), or the share of the way from ``s0`` to the goal at
        ``length`` ("route"), so that an ego that never moves has progress 0 on every road."""
        if self.kind == "none":
            return float("nan")
        whole = self.length if self.kind == "distance" else self.length - s0
        return float(np.clip((s - s0) / whole, 0.0, 1.0)) if whole > 0 else float("nan")


def _highway_env_classes() -> dict[str, type]:
    from highway_env.envs.highway_env import HighwayEnv
    from highway_env.envs.intersection_env import IntersectionEnv
    from highway_env.envs.merge_env import MergeEnv
    from highway_env.envs.roundabout_env import RoundaboutEnv

    return {"merge": MergeEnv, "roundabout": RoundaboutEnv, "intersection": IntersectionEnv, "highway": HighwayEnv}


def _route_goal(road: Any, route: list, arrival: str, extra: float = 0.0) -> Goal:
    lanes = [(a, b, 0 if i is None else i) for a, b, i in route]
    starts, total = [], 0.0
    for index in lanes:
        starts.append(total)
        total += float(road.network.get_lane(index).length)
    goal_start = starts[-1] if starts else 0.0
    return Goal("route", goal_start + extra, route=lanes, starts=starts, arrival=arrival)


def goal_of(env: Any) -> Goal:
    """The goal of ``env`` (unwrapped or not) as it stands after ``reset()``."""
    env = getattr(env, "unwrapped", env)
    if hasattr(env, "drive_goal"):  # a batched twin says it itself
        return env.drive_goal()
    kinds = _highway_env_classes()
    ego = env.vehicle
    if isinstance(env, kinds["merge"]):
        return Goal("route", float(getattr(env, "end_position", 0) or MERGE_END_X), arrival="end_x")
    route = list(getattr(ego, "route", None) or [ego.lane_index])
    if isinstance(env, kinds["roundabout"]):
        return _route_goal(env.road, route, "last_lane")
    if isinstance(env, kinds["intersection"]):
        return _route_goal(env.road, route, "has_arrived", INTERSECTION_EXIT_DISTANCE)
    if isinstance(env, kinds["highway"]):  # highway-env's straight highway and laneforge's scenarios on it
        return Goal("distance", float(env.config["duration"]) * REFERENCE_SPEED)
    return Goal("none", float("nan"))  # racetrack, parking, lane keeping, two-way, u-turn: no measure yet


def _route_position(road: Any, ego: Any, goal: Goal, last: float) -> float:
    """Distance along the route: the start of the ego's route lane plus its position on it; off
    the route, the last position on it."""
    here = tuple(ego.lane_index[:2])
    for (a, b, i), start in zip(goal.route, goal.starts):
        if (a, b) == here:
            lane = road.network.get_lane(ego.lane_index)
            return max(last, start + float(lane.local_coordinates(ego.position)[0]))
    return last


def _search_lanes(road: Any, lane_index: tuple) -> list[tuple[Any, float]]:
    """The lanes ``Road.neighbour_vehicles`` searches for ``lane_index`` and their offsets into its
    frame. Copied from highway-env 1.12 (which returns the vehicles but not their distances)."""
    lane = road.network.get_lane(lane_index)
    lanes: list[tuple[Any, float]] = [(lane, 0.0)]
    if getattr(road, "neighbour_vehicles_connected_lanes", False):
        _from, _to, _id = lane_index
        for next_lanes in road.network.graph.get(_to, {}).values():
            if next_lanes:
                lanes.append((next_lanes[_id] if _id < len(next_lanes) else next_lanes[0], lane.length))
        for to_dict in road.network.graph.values():
            prev = to_dict.get(_from) if _from in to_dict else None
            if prev:
                p = prev[_id] if _id < len(prev) else prev[0]
                lanes.append((p, -p.length))
    return lanes


def leader(road: Any, ego: Any) -> tuple[float, float]:
    """(gap [m] bumper to bumper, closing speed [m/s]) to the vehicle or object ahead on the ego's
    lane, as ``Road.neighbour_vehicles`` picks it; (inf, 0) when there is none."""
    if not ego.lane_index:
        return float("inf"), 0.0
    front, _ = road.neighbour_vehicles(ego, ego.lane_index)
    if front is None:
        return float("inf"), 0.0
    lanes = _search_lanes(road, ego.lane_index)
    own, _ = lanes[0][0].local_coordinates(ego.position)
    for lane, offset in lanes:
        s_v, lat_v = lane.local_coordinates(front.position)
        if lane.on_lane(front.position, s_v, lat_v, margin=1):
            gap = s_v + offset - own - (front.LENGTH + ego.LENGTH) / 2
            ego_v = ego.speed * np.cos(ego.heading - lanes[0][0].heading_at(own))
            front_v = getattr(front, "speed", 0.0) * np.cos(front.heading - lane.heading_at(s_v))
            return float(gap), float(ego_v - front_v)
    return float("inf"), 0.0


def _arrived(env: Any, ego: Any, goal: Goal) -> bool:
    if goal.arrival == "last_lane":
        return bool(goal.route) and tuple(ego.lane_index[:2]) == tuple(goal.route[-1][:2])
    if goal.arrival == "has_arrived":
        return bool(env.has_arrived(ego))
    if goal.arrival == "end_x":
        return bool(ego.position[0] > goal.length)
    return False


def batch_row(batch: dict[str, Any], b: int) -> dict[str, Any]:
    """Env ``b`` of a batched twin's dict of arrays (nested dicts too) as plain Python values; a
    key with a Gymnasium ``_key`` mask only where the mask holds for env b."""
    return {k: batch_row(v, b) if isinstance(v, dict) else v[b].item() for k, v in batch.items()
            if not k.startswith("_") and (f"_{k}" not in batch or batch[f"_{k}"][b])}


def read(env: Any, goal: Goal, last_s: float = 0.0) -> dict[str, Any]:
    """The ego's drive state in ``env`` (a single env; unwrapped or not) as :data:`FIELDS`."""
    env = getattr(env, "unwrapped", env)
    if hasattr(env, "drive_state"):
        return batch_row(env.drive_state(), 0)
    ego = env.vehicle
    if goal.kind == "route" and goal.route:
        s = _route_position(env.road, ego, goal, last_s)
    else:
        s = float(ego.position[0])
    gap, closing = leader(env.road, ego)
    limit = env.road.network.get_lane(ego.lane_index).speed_limit if ego.lane_index else None
    return {"s": s, "x": float(ego.position[0]), "y": float(ego.position[1]),
            "lane": int(ego.lane_index[2]) if ego.lane_index else -1, "speed": float(ego.speed),
            "speed_limit": float("inf") if limit is None else float(limit), "gap": gap,
            "closing_speed": closing, "crashed": bool(ego.crashed), "arrived": _arrived(env, ego, goal)}
