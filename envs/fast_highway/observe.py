"""Kinematics observation, rewards and episode ends of FastHighway, batched.

Mirrors highway-env 1.12: ``KinematicObservation.observe`` (ego row in absolute coordinates,
up to ``vehicles_count - 1`` nearest vehicles within 200 m, sorted by longitudinal distance,
relative coordinates, lmap to [-1, 1] and clip, zero rows for absent vehicles, float32) and
``HighwayEnv._rewards`` / ``_reward`` / ``_is_terminated`` / ``_is_truncated``.

One deliberate difference: with observation ``vehicles_count`` 1 highway-env returns the ego row
plus every visible vehicle (``close_objects_to(count=0)`` means no limit), breaking its own
observation space; FastHighway returns the ego row alone, the shape its space declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from .sim import CONE_LENGTH, LANE_LENGTH, LANE_WIDTH, MAX_SPEED, SPEED_LIMIT, V_LENGTH, SimState, wrap_to_pi

PERCEPTION_DISTANCE = 5.0 * MAX_SPEED  # AbstractEnv.PERCEPTION_DISTANCE
RELATIVE = ("x", "y", "vx", "vy")
# features RoadObject.to_dict (an obstacle's) lacks: highway-env's DataFrame leaves them NaN
OBJECT_MISSING = ("heading", "long_off", "lat_off", "ang_off")


class KinematicsObserver:
    """Batched KinematicObservation with highway-env's parameters and defaults.

    Without ``features_range`` highway-env scales y by the lane count of the observer's road
    (``[-4 L, 4 L]``): so does this, per env (``SimState.lanes``). A family whose observations
    should not depend on the lane count sets ``features_range`` explicitly."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.features = list(config.get("features") or ["presence", "x", "y", "vx", "vy"])
        self.vehicles_count = int(config.get("vehicles_count", 5))
        self.features_range = config.get("features_range")
        self.absolute = bool(config.get("absolute", False))
        self.order = config.get("order", "sorted")
        self.normalize = bool(config.get("normalize", True))
        self.clip = bool(config.get("clip", True))
        self.see_behind = bool(config.get("see_behind", False))
        self.include_obstacles = bool(config.get("include_obstacles", True))

    def space(self) -> spaces.Box:
        return spaces.Box(shape=(self.vehicles_count, len(self.features)), low=-np.inf, high=np.inf,
                          dtype=np.float32)

    def _features(self, xp, s: SimState, rows, idx) -> dict[str, Any]:
        """Vehicle.to_dict() of vehicles idx[b, k] of envs ``rows`` (B, K), the configured features
        only; idx None: the ego (B, 1)."""
        def take(a):
            a = a if rows is None else a[rows]
            return a[:, :1] if idx is None else xp.take_along_axis(a, idx, axis=1)

        x, y, h, v = take(s.x), take(s.y), take(s.heading), take(s.speed)
        wanted = set(self.features)
        c = xp.cos(h) if wanted & {"vx", "cos_h"} else None
        sn = xp.sin(h) if wanted & {"vy", "sin_h"} else None
        zero = x * 0.0
        make = {
            "presence": lambda: zero + 1.0, "x": lambda: x, "y": lambda: y, "vx": lambda: v * c,
            "vy": lambda: v * sn, "heading": lambda: h, "cos_h": lambda: c, "sin_h": lambda: sn,
            "cos_d": lambda: zero, "sin_d": lambda: zero, "long_off": lambda: x,
            "lat_off": lambda: y - LANE_WIDTH * take(s.lane), "ang_off": lambda: wrap_to_pi(xp, h),
        }
        return {name: make[name]() for name in self.features}

    def ranges(self, xp, lanes) -> dict[str, Any]:
        """The features' [low, high] ranges; highway-env's defaults when ``features_range`` is
        unset, y's per env from ``lanes`` (B,), as (B, 1) arrays."""
        if self.features_range:
            return self.features_range
        half = xp.astype(lanes, np.float64)[:, None] * LANE_WIDTH
        return {"x": [-5.0 * MAX_SPEED, 5.0 * MAX_SPEED], "y": [-half, half],
                "vx": [-2 * MAX_SPEED, 2 * MAX_SPEED], "vy": [-2 * MAX_SPEED, 2 * MAX_SPEED]}

    def observe(self, xp, s: SimState, rows=None, rng: np.random.Generator | None = None,
                hazards: bool = False, padded: bool = False) -> np.ndarray:
        """Observation of envs ``rows`` (all by default): numpy (len(rows), vehicles_count, F) float32.
        ``hazards``: the state may hold obstacles (road.objects: seen ahead only, whatever
        see_behind; left out without include_obstacles); ``padded``: absent slots."""
        x, y = (s.x, s.y) if rows is None else (s.x[rows], s.y[rows])
        ranges = self.ranges(xp, s.lanes if rows is None else s.lanes[rows])
        B, N = x.shape
        dx, dy = x - x[:, :1], y - y[:, :1]
        visible = xp.sqrt(dx * dx + dy * dy) < PERCEPTION_DISTANCE
        if padded:  # absent slots are no vehicles
            visible &= s.present if rows is None else s.present[rows]
        visible[:, 0] = False
        if not self.see_behind:
            visible &= -2 * V_LENGTH < dx
        static = None
        if hazards:
            static = s.static if rows is None else s.static[rows]
            visible &= ~static | ((-2 * V_LENGTH < dx) & self.include_obstacles)
        # sorted: the nearest along the road; shuffled: highway-env's close_objects_to(sort=False)
        # keeps the first visible ones in road order (slot order), shuffled afterwards
        rank = xp.abs(dx) if self.order == "sorted" else xp.astype(xp.arange(N), np.float64)[None, :] + 0 * dx
        key = xp.where(visible, rank, float("inf"))
        count = min(self.vehicles_count - 1, N - 1)
        order = xp.argsort_stable(key, axis=1)[:, :count]
        present = xp.take_along_axis(visible, order, axis=1)
        ego = self._features(xp, s, rows, None)
        others = self._features(xp, s, rows, order)
        if static is not None:
            static_row = xp.take_along_axis(static, order, axis=1)
            for name in OBJECT_MISSING:
                if name in others:
                    others[name] = xp.where(static_row, float("nan"), others[name])
        columns = []
        for name in self.features:
            col_ego, col = ego[name], others[name]
            if name in RELATIVE and not self.absolute:
                col = col - col_ego
            col = xp.concatenate([col_ego, col], axis=1)
            if self.normalize and name in ranges:
                low, high = ranges[name]
                col = -1 + (col - low) * 2 / (high - low)
                if self.clip:
                    col = xp.clip(col, -1, 1)
            columns.append(col)
        rows_present = xp.concatenate([xp.full((B, 1), True, np.bool_), present], axis=1)
        block = xp.where(rows_present[..., None], xp.stack(columns, axis=-1), 0.0)
        out = np.zeros((B, self.vehicles_count, len(self.features)), np.float32)
        out[:, : count + 1] = xp.to_numpy(block).astype(np.float32)
        if self.order == "shuffled" and rng is not None:
            for b in range(B):
                rng.shuffle(out[b, 1:])
        return out


REWARD_TERMS = ("collision_reward", "right_lane_reward", "high_speed_reward", "on_road_reward")


def on_road(xp, s: SimState):
    """Ego's lane.on_lane(position) (margin 0)."""
    x, y, lane = s.x[:, 0], s.y[:, 0], s.lane[:, 0]
    return (xp.abs(y - LANE_WIDTH * lane) <= LANE_WIDTH / 2) & (-V_LENGTH <= x) & (x < LANE_LENGTH + V_LENGTH)


def reward_terms(xp, s: SimState, config: Mapping[str, Any]) -> dict[str, Any]:
    """HighwayEnv._rewards for every env (right_lane_reward on each env's own lane count)."""
    forward_speed = s.speed[:, 0] * xp.cos(s.heading[:, 0])
    low, high = config["reward_speed_range"]
    scaled = 0 + (forward_speed - low) * (1 - 0) / (high - low)
    return {
        "collision_reward": xp.astype(s.crashed[:, 0], np.float64),
        "right_lane_reward": xp.astype(s.target_lane[:, 0], np.float64) / xp.astype(xp.maximum(s.lanes - 1, 1), np.float64),
        "high_speed_reward": xp.clip(scaled, 0, 1),
        "on_road_reward": xp.astype(on_road(xp, s), np.float64),
    }


def reward(terms: Mapping[str, np.ndarray], config: Mapping[str, Any], xp=None, work_zone=None) -> np.ndarray:
    """HighwayEnv._reward: weighted sum, lmap to [0, 1] when normalize_reward, times on_road.

    ``work_zone`` (B,) bool backend array: those envs are WorkZone-v1's, whose reward has no
    right-lane term (weight 0 there: adding 0.0 changes no bit of highway-env's two-term sum)."""
    weights = config
    if work_zone is not None:
        weights = {**config, "right_lane_reward": xp.where(work_zone, 0.0, float(config["right_lane_reward"]))}
    total = sum(weights.get(name, 0) * value for name, value in terms.items())
    if config["normalize_reward"]:
        low = config["collision_reward"]
        high = config["high_speed_reward"] + weights["right_lane_reward"]
        total = 0 + (total - low) * (1 - 0) / (high - low)
    return total * terms["on_road_reward"]


def zone_passed(s: SimState):
    """WorkZone.zone_passed: the ego's rear beyond the last cone's (False where no work zone)."""
    return s.x[:, 0] - V_LENGTH / 2 > s.zone_end


def terminated(xp, s: SimState, config: Mapping[str, Any], hazards: bool = False):
    """HighwayEnv._is_terminated: crashed, or off-road when offroad_terminal; a work zone ends
    on a crash or once passed (WorkZone._is_terminated, which ignores offroad_terminal)."""
    done = xp.copy(s.crashed[:, 0])
    work_zone = s.zone_end < np.inf if hazards else None
    if config["offroad_terminal"]:
        off = ~on_road(xp, s)
        done = done | (off if work_zone is None else off & ~work_zone)
    if work_zone is not None:
        done = done | zone_passed(s)
    return done


def hazard_info(xp, s: SimState) -> dict[str, Any]:
    """The info keys of laneforge's hazard envs, each with its Gymnasium ``_key`` mask (the envs
    that have it): WorkZone's ``zone_passed``, EmergencyBraking's ``leader_braking``, and both
    envs' ``success``; empty where no env of the batch has a hazard."""
    work_zone = xp.to_numpy(s.zone_end < np.inf)
    leader = xp.to_numpy(s.leader)
    braking = leader >= 0
    info: dict[str, Any] = {}
    crashed = xp.to_numpy(s.crashed[:, 0])
    x = xp.to_numpy(s.x)
    success = np.zeros(len(leader), bool)
    if work_zone.any():
        passed = xp.to_numpy(zone_passed(s)) & work_zone
        info["zone_passed"], info["_zone_passed"] = passed, work_zone
        success |= passed & ~crashed
    if braking.any():
        rows, slot = np.flatnonzero(braking), leader[braking]
        lead = np.zeros(len(leader), bool)
        lead[rows] = xp.to_numpy(s.elapsed)[rows, slot] >= xp.to_numpy(s.brake_time)[rows, slot]
        info["leader_braking"], info["_leader_braking"] = lead, braking
        hazard_passed = np.zeros(len(leader), bool)
        hazard_passed[rows] = x[rows, 0] - x[rows, slot] > V_LENGTH
        success |= hazard_passed & ~crashed
    if work_zone.any() or braking.any():
        info["success"], info["_success"] = success, work_zone | braking
    return info


def truncated(s: SimState, duration):
    """HighwayEnv._is_truncated: time >= duration [s] (a number, or one per env)."""
    return s.time >= duration


def drive_state(xp, s: SimState) -> dict[str, np.ndarray]:
    """The ego's drive state in every env (:data:`envs.drive_probe.FIELDS`), numpy arrays (B,).

    The leader is ``Road.neighbour_vehicles``' front vehicle on the ego's lane (on_lane with a
    1 m margin: |y - 4 l| <= 3 and -5 <= x < 10005, at or ahead of the ego's x); the gap is
    bumper to bumper and the closing speed the difference of the speeds along the road, as
    :func:`envs.drive_probe.leader` computes them in highway-env.
    """
    x, y = xp.to_numpy(s.x), xp.to_numpy(s.y)
    speed, heading = xp.to_numpy(s.speed), xp.to_numpy(s.heading)
    lane = xp.to_numpy(s.lane)[:, :1]
    ahead = (xp.to_numpy(s.present) & (np.abs(y - LANE_WIDTH * lane) <= LANE_WIDTH / 2 + 1) & (x >= -V_LENGTH)
             & (x < LANE_LENGTH + V_LENGTH) & (x >= x[:, :1]))
    ahead[:, 0] = False
    front_x = np.where(ahead, x, np.inf)
    # highway-env keeps the last vehicle in road order among equally near ones (s_v <= s_front)
    front = x.shape[1] - 1 - np.argmin(front_x[:, ::-1], axis=1)
    rows = np.arange(x.shape[0])
    has = np.isfinite(front_x[rows, front])
    vx = speed * np.cos(heading)
    # bumper to bumper, half of each length (a cone is shorter than a car)
    front_length = np.where(xp.to_numpy(s.static)[rows, front], CONE_LENGTH, V_LENGTH)
    gap = np.where(has, front_x[rows, front] - x[:, 0] - (front_length + V_LENGTH) / 2, np.inf)
    closing = np.where(has, vx[:, 0] - vx[rows, front], 0.0)
    return {"s": x[:, 0].copy(), "x": x[:, 0].copy(), "y": y[:, 0].copy(), "lane": lane[:, 0].copy(),
            "speed": speed[:, 0].copy(),
            "speed_limit": np.full(x.shape[0], SPEED_LIMIT), "gap": gap, "closing_speed": closing,
            "crashed": xp.to_numpy(s.crashed)[:, 0].copy(), "arrived": np.zeros(x.shape[0], bool)}
