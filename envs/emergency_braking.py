"""laneforge/EmergencyBraking-v0: the car ahead brakes hard to a standstill; get around it.

Why this env: highway-fast-v0, merge-v0, roundabout-v0, the work zone and the randomized
highway all test *planned* interaction: gaps to take, lanes to leave, drivers that slow down
smoothly under IDM. None tests the reaction to a sudden hazard, the situation behind most
real rear-end crashes and the one Euro NCAP's AEB car-to-car tests stage. Here the leader,
``lead_distance`` metres ahead of the ego in its lane, drives normally and then, at a random
moment in ``brake_time_range``, brakes at ``brake_decel`` to a full stop and stays there.
With highway-env's DiscreteMetaAction the ego cannot slow below 20 m/s, so braking behind
the leader is not enough: it must notice the closing speed early and change lanes into a
gap in the traffic beside it. An agent that learnt to follow a leader at a fixed distance on
highway-fast-v0 fails here, which is the generalization gap this env measures.

Road, traffic, observation, action and reward are highway-fast-v0's (this class subclasses
``HighwayEnvFast``: named terms ``collision_reward``, ``right_lane_reward``,
``high_speed_reward``, ``on_road_reward`` normalized to [0, 1] per step), so returns compare
with highway-fast-v0's. The episode ends on a crash or at ``duration``.
``info["success"]`` is True once the ego has passed the stopped leader without a collision.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.kinematics import Vehicle

from envs.base import LaneforgeHighwayEnv
from envs.checks import NON_NEGATIVE, POSITIVE, Number, Pair, Rule
from envs.scene import TRAFFIC_LINE_UNUSED_KEYS, lane_of, place_ego, spawn_traffic, traffic_line

ENV_ID = "laneforge/EmergencyBraking-v0"
# Other traffic is kept out of the ego's lane from this far behind the ego to this far
# beyond the leader [m], so that the hazard is the leader and not a random queue.
LANE_CLEARANCE = 15.0


class BrakingVehicle(IDMVehicle):
    """An IDM driver that keeps its lane and, ``brake_time`` seconds after the start, brakes
    at ``brake_decel`` m/s2 to a standstill, where it stays."""

    def __init__(self, road, position, heading: float = 0, speed: float = 0,
                 brake_time: float = 0.0, brake_decel: float = 8.0, **kwargs) -> None:
        super().__init__(road, position, heading, speed, enable_lane_change=False, **kwargs)
        self.brake_time = brake_time
        self.brake_decel = brake_decel
        self.elapsed = 0.0

    @property
    def braking(self) -> bool:
        return self.elapsed >= self.brake_time

    def act(self, action: dict | str = None) -> None:
        if self.crashed or not self.braking:
            super().act(action)
            return
        steering = float(np.clip(self.steering_control(self.target_lane_index),
                                 -self.MAX_STEERING_ANGLE, self.MAX_STEERING_ANGLE))
        Vehicle.act(self, {"steering": steering, "acceleration": -self.brake_decel if self.speed > 0 else 0.0})

    def step(self, dt: float) -> None:
        self.elapsed += dt
        super().step(dt)
        if self.braking and self.speed < 0:
            self.speed = 0.0


class EmergencyBrakingEnv(LaneforgeHighwayEnv):
    """highway-fast-v0 with a leader that brakes hard to a stop (see the module docstring)."""

    ENV_ID: ClassVar[str] = ENV_ID
    UNUSED_KEYS: ClassVar[dict[str, str]] = {**LaneforgeHighwayEnv.UNUSED_KEYS, **TRAFFIC_LINE_UNUSED_KEYS}
    RULES: ClassVar[dict[str, Rule]] = {
        "lead_distance": Number(low=Vehicle.LENGTH, strict=True),  # [m]
        "brake_time_range": Pair(NON_NEGATIVE),  # [s]
        "brake_decel": POSITIVE,  # [m/s2]
    }

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        config = super().default_config()
        config.update({
            "vehicles_count": 15,
            "vehicles_density": 0.8,  # sparser than highway-fast-v0 (1): a scripted evasive
            # policy passed ~75% of seeds at 0.8, ~60% at 1.0
            "ego_speed": 25.0,  # [m/s] initial speed of the ego and of the leader
            "lead_distance": 50.0,  # [m] leader ahead of the ego, centre to centre
            "brake_time_range": [2.0, 6.0],  # [s] when the leader starts braking
            "brake_decel": 7.0,  # [m/s2] leader's deceleration (an emergency stop: 7-9)
        })
        return config

    # ------------------------------------------------------------ scene

    def _create_vehicles(self) -> None:
        c, rng = self.config, self.np_random
        lanes = c["lanes_count"]
        xs, ego_slot = traffic_line(self)
        ego_x = float(xs[ego_slot])
        ego_lane = c["initial_lane_id"] if c["initial_lane_id"] is not None else int(rng.integers(lanes))
        place_ego(self, ego_lane, ego_x, c["ego_speed"])
        lead_x = ego_x + c["lead_distance"]
        self._add_leader(ego_lane, lead_x)
        other_lanes = [i for i in range(lanes) if i != ego_lane]

        def reroute(lane_id: int, x: float) -> int | None:
            if lane_id != ego_lane or not ego_x - LANE_CLEARANCE <= x <= lead_x + LANE_CLEARANCE:
                return lane_id
            # (a one-lane road: no room beside the hazard)
            return int(rng.choice(other_lanes)) if other_lanes else None

        spawn_traffic(self, xs, ego_slot, reroute, check_collisions=False)  # as highway-fast-v0

    def _add_leader(self, lane_id: int, x: float) -> None:
        c = self.config
        lane = lane_of(self, lane_id)
        t_lo, t_hi = c["brake_time_range"]
        self.leader = BrakingVehicle(self.road, lane.position(x, 0), lane.heading_at(x), c["ego_speed"],
                                     brake_time=float(self.np_random.uniform(t_lo, t_hi)),
                                     brake_decel=c["brake_decel"])
        self.leader.target_speed = c["ego_speed"]
        self.road.vehicles.append(self.leader)

    # ------------------------------------------------------------ info

    @property
    def hazard_passed(self) -> bool:
        """The ego's rear is beyond the leader's front."""
        return bool(self.vehicle.position[0] - self.leader.position[0] > self.vehicle.LENGTH)

    def _info(self, obs, action=None) -> dict[str, Any]:
        info = super()._info(obs, action)
        info["leader_braking"] = self.leader.braking
        info["success"] = bool(self.hazard_passed and not self.vehicle.crashed)
        return info
