"""Scene building shared by laneforge's highway scenarios: the road, the ego, the traffic line.

The road is highway-env's straight multi-lane road (``HighwayEnv._create_road``) with any lane
count. WorkZone and EmergencyBraking place the ego and the traffic on one line of spawn
positions spaced as highway-env's ``Vehicle.create_random`` spaces them, the ego at the
:data:`BEHIND_SHARE` slot so that some traffic starts behind it; each scenario only says
which lanes a vehicle may not spawn in (:func:`spawn_traffic`'s ``reroute``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from highway_env import utils
from highway_env.envs.common.abstract import AbstractEnv
from highway_env.road.lane import AbstractLane
from highway_env.road.road import Road, RoadNetwork
from highway_env.vehicle.kinematics import Vehicle

SPEED_LIMIT = 30.0  # [m/s] highway-env's highway; IDM desired speeds are capped at it
BEHIND_SHARE = 0.25  # share of the traffic line spawned behind the ego (the rest is ahead)
# The highway-env key a scenario that places its ego with traffic_line() does not honour, and why.
TRAFFIC_LINE_UNUSED_KEYS = {"ego_spacing": "the ego starts in the traffic line, a quarter of it behind"}

# reroute(lane_id, x) -> the lane a vehicle spawned at x on lane_id goes to, or None to drop it
Reroute = Callable[[int, float], int | None]


def straight_road(env: AbstractEnv, lanes: int) -> Road:
    """highway-env's straight road of ``lanes`` lanes at :data:`SPEED_LIMIT`, with the env's settings."""
    return Road(
        network=RoadNetwork.straight_road_network(lanes, speed_limit=SPEED_LIMIT),
        np_random=env.np_random,
        record_history=env.config["show_trajectories"],
        neighbour_vehicles_connected_lanes=env.config["neighbour_vehicles_connected_lanes"],
    )


def spawn_positions(np_random: np.random.Generator, count: int, lanes: int, density: float,
                    first_x: float = 20.0) -> np.ndarray:
    """Longitudinal positions [m] of ``count`` vehicles spawned one after another, spaced as
    highway-env's ``Vehicle.create_random`` does for a mean speed of 22.5 m/s."""
    offset = (12.0 + 22.5) * np.exp(-5 / 40 * lanes) / density
    steps = offset * np_random.uniform(0.9, 1.1, size=count)
    return first_x + np.cumsum(steps)


def traffic_line(env: AbstractEnv) -> tuple[np.ndarray, int]:
    """Spawn positions for the ego and ``vehicles_count`` others, and the ego's slot among them."""
    others = env.config["vehicles_count"]
    xs = spawn_positions(env.np_random, others + 1, env.config["lanes_count"], env.config["vehicles_density"])
    return xs, int(round(BEHIND_SHARE * others))


def lane_of(env: AbstractEnv, lane_id: int) -> AbstractLane:
    return env.road.network.get_lane(("0", "1", lane_id))


def add_ego(env: AbstractEnv, position: np.ndarray, heading: float, speed: float) -> Vehicle:
    """The one controlled vehicle, of the action type's class, first on the road."""
    ego = env.action_type.vehicle_class(env.road, position, heading, speed)
    env.controlled_vehicles = [ego]
    env.road.vehicles.append(ego)
    return ego


def place_ego(env: AbstractEnv, lane_id: int, x: float, speed: float) -> Vehicle:
    lane = lane_of(env, lane_id)
    return add_ego(env, lane.position(x, 0), lane.heading_at(x), speed)


def spawn_traffic(env: AbstractEnv, xs: np.ndarray, ego_slot: int, reroute: Reroute,
                  check_collisions: bool = True) -> None:
    """``other_vehicles_type`` drivers at every position but the ego's, each on a random lane
    (``reroute`` may move or drop it), at 70-80% of the speed limit, behaviour randomized."""
    rng = env.np_random
    vehicle_type = utils.class_from_path(env.config["other_vehicles_type"])
    for slot, x in enumerate(xs):
        if slot == ego_slot:
            continue
        lane_id = reroute(int(rng.integers(env.config["lanes_count"])), x)
        if lane_id is None:
            continue
        lane = lane_of(env, lane_id)
        speed = rng.uniform(0.7 * SPEED_LIMIT, 0.8 * SPEED_LIMIT)
        vehicle = vehicle_type(env.road, lane.position(x, 0), lane.heading_at(x), speed)
        vehicle.randomize_behavior()
        vehicle.check_collisions = check_collisions
        env.road.vehicles.append(vehicle)
