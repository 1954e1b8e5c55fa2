"""laneforge/WorkZone-v0: lanes closed by a line of cones ahead; merge through traffic to pass.

The road is highway-env's straight multi-lane road (lane 0 is the leftmost, the highest index
the rightmost). Over ``zone_length`` metres, starting ``zone_start`` metres ahead of the ego's
start, every lane in ``closed_lanes`` holds a line of static cones (highway-env ``Obstacle``
objects: solid, seen by the Kinematics observation and by the IDM drivers as a stopped
leader). The ego starts in a closed lane by default, so it must find a gap in the open
lanes before the zone. Traffic is spawned highway-env style (one vehicle after another,
spaced by ``1 / vehicles_density``) around the ego, some of it behind, none inside the zone
on a closed lane.

Reward terms (``info["rewards"]``, each weighted by the config key of the same name):
``collision_reward`` (1 on a crash), ``high_speed_reward`` (forward speed mapped from
``reward_speed_range`` to [0, 1]) and ``zone_passed_reward`` (1 on the step the ego's rear
clears the last cone without a crash). The reward is their weighted sum, not normalized.
The episode terminates on a crash or once the zone is passed, and is truncated at
``duration``. ``info["success"]`` is True once the zone was passed without a collision.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from highway_env import utils
from highway_env.envs.common.abstract import AbstractEnv
from highway_env.envs.common.action import Action
from highway_env.road.road import Road, RoadNetwork
from highway_env.vehicle.objects import Obstacle

from envs.drivers import CheckedConfig, check_number, check_range

ENV_ID = "laneforge/WorkZone-v0"
SPEED_LIMIT = 30.0  # [m/s], as highway-env's highway
# Vehicles spawned on a closed lane this far before the zone are moved to an open lane [m].
SPAWN_CLEARANCE = 40.0
# Share of the traffic spawned behind the ego (the rest is ahead of it).
BEHIND_SHARE = 0.25


class Cone(Obstacle):
    """A work-zone cone (a short barrier element); long enough that a fast car cannot skip it
    between two 5 Hz collision checks (3 m + 5 m car > 40 m/s x 0.2 s)."""

    LENGTH = 3.0
    WIDTH = 2.0


def spawn_positions(np_random: np.random.Generator, count: int, lanes: int, density: float,
                    first_x: float = 20.0) -> np.ndarray:
    """Longitudinal positions [m] of ``count`` vehicles spawned one after another, spaced as
    highway-env's ``Vehicle.create_random`` does for a mean speed of 22.5 m/s."""
    offset = (12.0 + 22.5) * np.exp(-5 / 40 * lanes) / density
    steps = offset * np_random.uniform(0.9, 1.1, size=count)
    return first_x + np.cumsum(steps)


class WorkZoneEnv(CheckedConfig, AbstractEnv):
    ENV_ID = ENV_ID
    """A highway with one or more lanes closed ahead by cones (see the module docstring)."""

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        config = super().default_config()
        config.update({
            "observation": {"type": "Kinematics"},
            "action": {"type": "DiscreteMetaAction"},
            "simulation_frequency": 5,  # [Hz] as highway-fast-v0
            "policy_frequency": 1,  # [Hz]
            "lanes_count": 3,
            "closed_lanes": [2],  # lane indices, 0 = leftmost; at least one lane stays open
            "zone_start": 200.0,  # [m] from the ego's start to the first cone
            "zone_length": 100.0,  # [m] from the first cone to the last
            # [m] between cone centres. Cutting into the closed lane inside the zone still hits
            # a cone at 30 m; 20 m keeps cones from filling the 5-row observation.
            "cone_spacing": 20.0,
            "vehicles_count": 15,
            "vehicles_density": 1.0,  # > 0; as highway-env's: higher is denser
            "ego_lane": None,  # None: a random closed lane; or a lane index
            "ego_speed": 25.0,  # [m/s] initial speed of the ego
            "duration": 30,  # [s] time limit
            "collision_reward": -1.0,
            "high_speed_reward": 0.4,
            "zone_passed_reward": 1.0,
            "reward_speed_range": [20.0, 30.0],  # [m/s] forward speed mapped to [0, 1]
        })
        return config

    # ------------------------------------------------------------ config checks

    @staticmethod
    def _check_config(c: dict[str, Any]) -> None:
        lanes = check_number(c, "lanes_count", low=1, integer=True)
        closed = c["closed_lanes"]
        if isinstance(closed, (str, bytes)) or not isinstance(closed, (list, tuple)):
            raise ValueError(f"closed_lanes: expected a list of lane indices, got {closed!r}")
        for i, lane in enumerate(closed):
            check_number({f"closed_lanes[{i}]": lane}, f"closed_lanes[{i}]", low=0, integer=True)
            if lane >= lanes:
                raise ValueError(f"closed_lanes: lane {lane} does not exist "
                                 f"(lanes_count is {lanes}: lanes 0 to {lanes - 1})")
        if not closed:
            raise ValueError("closed_lanes: close at least one lane (with none closed this is "
                             "highway-fast-v0 with a finish line)")
        if len(set(closed)) != len(closed):
            raise ValueError(f"closed_lanes: lists a lane twice: {list(closed)}")
        if len(set(closed)) >= lanes:
            raise ValueError(f"closed_lanes: closes every lane ({list(closed)} of {lanes}); "
                             "leave at least one lane open")
        check_number(c, "zone_start", low=0, strict_low=True)
        check_number(c, "zone_length", low=0, strict_low=True)
        check_number(c, "cone_spacing", low=0, strict_low=True)
        check_number(c, "vehicles_count", low=0, integer=True)
        check_number(c, "vehicles_density", low=0, strict_low=True)
        if c["ego_lane"] is not None:
            check_number(c, "ego_lane", low=0, high=lanes - 1, integer=True)
        check_number(c, "ego_speed", low=0)
        check_number(c, "duration", low=0, strict_low=True)
        for key in ("collision_reward", "high_speed_reward", "zone_passed_reward"):
            check_number(c, key)
        lo, hi = check_range(c, "reward_speed_range")
        if lo == hi:
            raise ValueError(f"reward_speed_range: min and max are both {lo!r}; make max larger")

    # ------------------------------------------------------------ scene

    def _reset(self) -> None:
        self._create_road()
        self._create_vehicles()

    def _create_road(self) -> None:
        self.road = Road(
            network=RoadNetwork.straight_road_network(self.config["lanes_count"], speed_limit=SPEED_LIMIT),
            np_random=self.np_random,
            record_history=self.config["show_trajectories"],
            neighbour_vehicles_connected_lanes=self.config["neighbour_vehicles_connected_lanes"],
        )

    def _create_vehicles(self) -> None:
        c = self.config
        lanes = c["lanes_count"]
        closed = sorted(set(c["closed_lanes"]))
        open_lanes = [lane for lane in range(lanes) if lane not in closed]
        rng = self.np_random
        n_others = c["vehicles_count"]
        xs = spawn_positions(rng, n_others + 1, lanes, c["vehicles_density"])
        ego_slot = int(round(BEHIND_SHARE * n_others))
        ego_x = float(xs[ego_slot])
        self.zone_begin = ego_x + c["zone_start"]
        self.zone_end = self.zone_begin + c["zone_length"]

        ego_lane = c["ego_lane"] if c["ego_lane"] is not None else int(rng.choice(closed))
        lane = self.road.network.get_lane(("0", "1", ego_lane))
        ego = self.action_type.vehicle_class(self.road, lane.position(ego_x, 0), lane.heading_at(ego_x),
                                             c["ego_speed"])
        self.controlled_vehicles = [ego]
        self.road.vehicles.append(ego)

        vehicle_type = utils.class_from_path(c["other_vehicles_type"])
        for slot, x in enumerate(xs):
            if slot == ego_slot:
                continue
            lane_id = int(rng.integers(lanes))
            if lane_id in closed and self.zone_begin - SPAWN_CLEARANCE <= x <= self.zone_end + Cone.LENGTH:
                lane_id = int(rng.choice(open_lanes))
            lane = self.road.network.get_lane(("0", "1", lane_id))
            speed = rng.uniform(0.7 * SPEED_LIMIT, 0.8 * SPEED_LIMIT)
            vehicle = vehicle_type(self.road, lane.position(x, 0), lane.heading_at(x), speed)
            vehicle.randomize_behavior()
            self.road.vehicles.append(vehicle)

        n_cones = int(np.floor(c["zone_length"] / c["cone_spacing"])) + 1
        for lane_id in closed:
            lane = self.road.network.get_lane(("0", "1", lane_id))
            for k in range(n_cones):
                x = self.zone_begin + min(k * c["cone_spacing"], c["zone_length"])
                self.road.objects.append(Cone(self.road, lane.position(x, 0), lane.heading_at(x)))

    # ------------------------------------------------------------ reward and end

    @property
    def zone_passed(self) -> bool:
        """The ego's rear has cleared the last cone."""
        rear = self.vehicle.position[0] - self.vehicle.LENGTH / 2
        return bool(rear > self.zone_end + Cone.LENGTH / 2)

    def _rewards(self, action: Action) -> dict[str, float]:
        forward_speed = self.vehicle.speed * np.cos(self.vehicle.heading)
        scaled = utils.lmap(forward_speed, self.config["reward_speed_range"], [0, 1])
        return {
            "collision_reward": float(self.vehicle.crashed),
            "high_speed_reward": float(np.clip(scaled, 0, 1)),
            "zone_passed_reward": float(self.zone_passed and not self.vehicle.crashed),
        }

    def _reward(self, action: Action) -> float:
        return float(sum(self.config[name] * value for name, value in self._rewards(action).items()))

    def _is_terminated(self) -> bool:
        return bool(self.vehicle.crashed or self.zone_passed)

    def _is_truncated(self) -> bool:
        return bool(self.time >= self.config["duration"])

    def _info(self, obs, action: Action | None = None) -> dict[str, Any]:
        info = super()._info(obs, action)
        info["zone_passed"] = self.zone_passed
        info["success"] = bool(self.zone_passed and not self.vehicle.crashed)
        return info
