"""Move scenes between highway-env and FastHighway: import a highway-env road state, and
mirror one FastHighway env into highway-env's road (for its renderer, and for parity checks).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from highway_env.road.road import Road, RoadNetwork
from highway_env.vehicle.behavior import IDMVehicle, LinearVehicle
from highway_env.vehicle.controller import MDPVehicle
from highway_env.vehicle.objects import Obstacle

from .sim import CONE_LENGTH, CONE_WIDTH, DELTA_DEFAULT, DRIVER_ATTRIBUTES, DRIVER_DEFAULTS, SimParams, SimState


def state_from_highway(hw_env: Any) -> SimState:
    """A batch of one from a highway-env HighwayEnv/HighwayEnvFast (or its wrapper), laneforge's
    WorkZone (its cones and zone end) and EmergencyBraking (its braking leader) included."""
    env = hw_env.unwrapped
    if env.road.vehicles[0] is not env.vehicle:
        raise ValueError("state_from_highway: the ego must be road.vehicles[0]")
    s = state_from_road(env.road, env.time)
    if hasattr(env, "zone_end"):  # WorkZone: the ego's rear must pass the last cone's rear
        s.zone_end[0] = env.zone_end + CONE_LENGTH / 2
    if hasattr(env, "leader"):  # EmergencyBraking
        s.leader[0] = env.road.vehicles.index(env.leader)
    return s


def state_from_road(road: Road, time: float = 0.0) -> SimState:
    """A batch of one from a highway-env Road on a straight road network.

    road.vehicles[0] is the ego (an MDPVehicle); the others are IDMVehicles (laneforge's
    BrakingVehicle included), in road order; road.objects may hold cones (3 x 2 m Obstacles),
    which follow the vehicles as static slots.
    """
    vehicles = road.vehicles
    if not isinstance(vehicles[0], MDPVehicle):
        raise ValueError("state_from_road: road.vehicles[0] must be the ego MDPVehicle")
    for k, o in enumerate(road.objects):
        if not isinstance(o, Obstacle) or (o.LENGTH, o.WIDTH) != (CONE_LENGTH, CONE_WIDTH) or o.speed:
            raise ValueError(f"state_from_road: object {k} is a {type(o).__name__} of {o.LENGTH} x {o.WIDTH} m; "
                             f"FastHighway's obstacles are still {CONE_LENGTH:g} x {CONE_WIDTH:g} m cones")
    s = SimState.zeros(1, len(vehicles) + len(road.objects), lanes=len(road.network.graph["0"]["1"]))
    for k, o in enumerate(road.objects):
        n = len(vehicles) + k
        s.x[0, n], s.y[0, n] = o.position
        s.heading[0, n] = o.heading
        s.lane[0, n] = s.target_lane[0, n] = road.network.get_closest_lane_index(o.position, o.heading)[2]
        s.static[0, n], s.check[0, n], s.crashed[0, n] = True, o.check_collisions, o.crashed
    for n, v in enumerate(vehicles):
        if n and (not isinstance(v, IDMVehicle) or isinstance(v, LinearVehicle)):
            raise ValueError(f"state_from_road: vehicle {n} is a {type(v).__name__}, not an IDM driver")
        if n and not v.enable_lane_change and not hasattr(v, "brake_time"):
            raise ValueError(f"state_from_road: vehicle {n} keeps its lane but is no BrakingVehicle")
        s.check[0, n] = v.check_collisions
        if hasattr(v, "brake_time"):  # laneforge's BrakingVehicle
            s.brake_time[0, n], s.brake_decel[0, n], s.elapsed[0, n] = v.brake_time, v.brake_decel, v.elapsed
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
    from envs.emergency_braking import BrakingVehicle
    from envs.work_zone import Cone

    road.vehicles, road.objects = [], []
    for n in range(s.x.shape[1]):
        if not s.present[b, n]:  # an absent slot (env b has fewer vehicles than the batch)
            continue
        pos = np.array([s.x[b, n], s.y[b, n]])
        if s.static[b, n]:
            cone = Cone(road, pos, float(s.heading[b, n]))
            cone.crashed = bool(s.crashed[b, n])
            road.objects.append(cone)
            continue
        lane_index = ("0", "1", int(s.target_lane[b, n]))
        if n == 0:
            v = MDPVehicle(road, pos, float(s.heading[b, n]), float(s.speed[b, n]),
                           target_lane_index=lane_index, target_speed=float(s.target_speed[b, n]),
                           target_speeds=params.target_speeds)
            v.speed_index = int(s.speed_index[b])
            v.target_speed = float(s.target_speed[b, n])
        elif np.isfinite(s.brake_time[b, n]):
            v = BrakingVehicle(road, pos, float(s.heading[b, n]), float(s.speed[b, n]),
                               brake_time=float(s.brake_time[b, n]), brake_decel=float(s.brake_decel[b, n]),
                               target_lane_index=lane_index, target_speed=float(s.target_speed[b, n]))
            v.elapsed = float(s.elapsed[b, n])
        else:
            v = IDMVehicle(road, pos, float(s.heading[b, n]), float(s.speed[b, n]),
                           target_lane_index=lane_index, target_speed=float(s.target_speed[b, n]),
                           timer=float(s.timer[b, n]))
        if n:
            v.timer = float(s.timer[b, n])  # highway-env's `timer or ...` would replace 0.0
            v.DELTA = float(s.delta[b, n])
            for name, attr in DRIVER_ATTRIBUTES.items():
                value = float(getattr(s, name)[b, n])
                if value != DRIVER_DEFAULTS[name]:
                    setattr(v, attr, value)  # an instance value shadows the class's
            v.check_collisions = bool(s.check[b, n]) if params.hazards else params.traffic_collisions
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
