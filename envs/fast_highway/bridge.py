"""Move scenes between highway-env and FastHighway: import a highway-env road state, and
mirror one FastHighway env into highway-env's road (for its renderer, and for parity checks).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from highway_env.road.road import Road, RoadNetwork
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.controller import MDPVehicle

from .sim import DELTA_DEFAULT, DRIVER_ATTRIBUTES, DRIVER_DEFAULTS, SimParams, SimState


def state_from_highway(hw_env: Any) -> SimState:
    """A batch of one from a highway-env HighwayEnv/HighwayEnvFast (or its wrapper)."""
    env = hw_env.unwrapped
    if env.road.vehicles[0] is not env.vehicle:
        raise ValueError("state_from_highway: the ego must be road.vehicles[0]")
    return state_from_road(env.road, env.time)


def state_from_road(road: Road, time: float = 0.0) -> SimState:
    """A batch of one from a highway-env Road on a straight road network.

    road.vehicles[0] is the ego (an MDPVehicle); the others are IDMVehicles, in road order.
    """
    vehicles = road.vehicles
    if not isinstance(vehicles[0], MDPVehicle):
        raise ValueError("state_from_road: road.vehicles[0] must be the ego MDPVehicle")
    s = SimState.zeros(1, len(vehicles), lanes=len(road.network.graph["0"]["1"]))
    for n, v in enumerate(vehicles):
        if n and not isinstance(v, IDMVehicle):
            raise ValueError(f"state_from_road: vehicle {n} is a {type(v).__name__}, not an IDMVehicle")
        s.x[0, n], s.y[0, n] = v.position
        s.heading[0, n], s.speed[0, n] = v.heading, v.speed
        s.lane[0, n], s.target_lane[0, n] = v.lane_index[2], v.target_lane_index[2]
        s.target_speed[0, n] = v.target_speed
        s.delta[0, n] = getattr(v, "DELTA", DELTA_DEFAULT)
        if n:  # the driver's own IDM/MOBIL parameters (instance or class values)
            for name, attr in DRIVER_ATTRIBUTES.items():
                getattr(s, name)[0, n] = getattr(v, attr)
        s.timer[0, n] = getattr(v, "timer", 0.0)
        s.crashed[0, n] = v.crashed
        if getattr(v, "impact", None) is not None:
            s.impact[0, n] = v.impact
            s.has_impact[0, n] = True
    s.speed_index[0] = vehicles[0].speed_index
    s.time[0] = time
    return s


def road_from_state(s: SimState, b: int, params: SimParams, road: Road | None = None) -> Road:
    """highway-env Road holding env ``b``'s vehicles (MDPVehicle ego first, IDMVehicles after)."""
    lanes = int(s.lanes[b])
    if road is None:
        road = Road(network=RoadNetwork.straight_road_network(lanes, speed_limit=30),
                    np_random=np.random.default_rng(0))
    elif len(road.network.graph["0"]["1"]) != lanes:  # env b's own road
        road.network = RoadNetwork.straight_road_network(lanes, speed_limit=30)
    road.vehicles = []
    for n in range(s.x.shape[1]):
        if not s.present[b, n]:  # an absent slot (env b has fewer vehicles than the batch)
            continue
        pos = np.array([s.x[b, n], s.y[b, n]])
        lane_index = ("0", "1", int(s.target_lane[b, n]))
        if n == 0:
            v = MDPVehicle(road, pos, float(s.heading[b, n]), float(s.speed[b, n]),
                           target_lane_index=lane_index, target_speed=float(s.target_speed[b, n]),
                           target_speeds=params.target_speeds)
            v.speed_index = int(s.speed_index[b])
            v.target_speed = float(s.target_speed[b, n])
        else:
            v = IDMVehicle(road, pos, float(s.heading[b, n]), float(s.speed[b, n]),
                           target_lane_index=lane_index, target_speed=float(s.target_speed[b, n]),
                           timer=float(s.timer[b, n]))
            v.timer = float(s.timer[b, n])  # highway-env's `timer or ...` would replace 0.0
            v.DELTA = float(s.delta[b, n])
            for name, attr in DRIVER_ATTRIBUTES.items():
                value = float(getattr(s, name)[b, n])
                if value != DRIVER_DEFAULTS[name]:
                    setattr(v, attr, value)  # an instance value shadows the class's
            if not params.traffic_collisions:
                v.check_collisions = False
        v.crashed = bool(s.crashed[b, n])
        if s.has_impact[b, n]:
            v.impact = s.impact[b, n].copy()
        road.vehicles.append(v)
    return road


def load_into_highway(s: SimState, b: int, params: SimParams, hw_env: Any) -> None:
    """Replace highway-env env's scene by FastHighway env ``b`` (vehicles, ego, time)."""
    env = hw_env.unwrapped
    road_from_state(s, b, params, env.road)
    env.controlled_vehicles = [env.road.vehicles[0]]
    env.time = float(s.time[b])
    if hasattr(env, "observation_type"):
        env.observation_type.observer_vehicle = None
    env.define_spaces()
