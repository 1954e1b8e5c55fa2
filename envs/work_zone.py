"""laneforge/WorkZone-v0 and -v1: lanes closed by a line of cones ahead; merge through traffic to pass.

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

``laneforge/WorkZone-v1`` (:class:`WorkZoneV1Env`) is the same scene and ending with
highway-env's reward: collision and high-speed terms normalized to [0, 1] per step
(``normalize_reward``, as highway-env's highway) and multiplied by the on-road term, so its
returns compare with highway-env's scenarios; passing the zone is ``info["success"]``, not
reward. v0 stays as it was (an env's reward, termination or info changes only with its version).

Everything else (observation, action, frequencies, lanes, duration, reward speed range) is
highway-fast-v0's: the class subclasses it through :class:`envs.base.LaneforgeHighwayEnv`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from highway_env import utils
from highway_env.envs.common.action import Action
from highway_env.vehicle.objects import Obstacle

from envs.base import LaneforgeHighwayEnv
from envs.checks import POSITIVE, Number, Rule, config_error, lane_index
from envs.scene import TRAFFIC_LINE_UNUSED_KEYS, lane_of, place_ego, spawn_traffic, traffic_line

ENV_ID = "laneforge/WorkZone-v0"
# Vehicles spawned on a closed lane this far before the zone are moved to an open lane [m].
SPAWN_CLEARANCE = 40.0


class Cone(Obstacle):
    """A work-zone cone (a short barrier element); long enough that a fast car cannot skip it
    between two 5 Hz collision checks (3 m + 5 m car > 40 m/s x 0.2 s)."""

    LENGTH = 3.0
    WIDTH = 2.0


def closed_lane_ids(config: Mapping[str, Any]) -> list[int]:
    """The closed lanes of a valid config as sorted lane indices: a negative index counts from
    the right, as Python's do (-1 is the rightmost lane whatever ``lanes_count``), so that one
    family draw closes the right lane of roads of any width."""
    lanes = int(config["lanes_count"])
    return sorted({int(lane) % lanes for lane in config["closed_lanes"]})


def check_closed_lanes(key: str, value: Any, config: Mapping[str, Any]) -> None:
    """A rule: a list of distinct lane indices (negative ones count from the right) that leaves
    at least one lane open."""
    lanes = config["lanes_count"]
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise config_error(key, "must be a list of lane indices (0 = leftmost, -1 = rightmost)", value)
    for i, lane in enumerate(value):
        Number(integer=True)(f"{key}[{i}]", lane)
        if not -lanes <= lane < lanes:
            raise config_error(key, f"lane {lane} does not exist (lanes_count is {lanes}: lanes 0 to "
                                    f"{lanes - 1}, or -1 to -{lanes} from the right)", list(value))
    if not value:
        raise config_error(key, "close at least one lane (with none closed this is highway-fast-v0 "
                                "with a finish line)", list(value))
    if len({lane % lanes for lane in value}) != len(value):
        raise config_error(key, "lists a lane twice", list(value))
    if len(value) >= lanes:
        raise config_error(key, f"closes every one of the {lanes} lanes; leave at least one open", list(value))


class WorkZoneEnv(LaneforgeHighwayEnv):
    """A highway with one or more lanes closed ahead by cones (see the module docstring)."""

    ENV_ID: ClassVar[str] = ENV_ID
    UNUSED_KEYS: ClassVar[dict[str, str]] = {
        **LaneforgeHighwayEnv.UNUSED_KEYS,
        **TRAFFIC_LINE_UNUSED_KEYS,
        "initial_lane_id": "the ego's lane is ego_lane",
        "right_lane_reward": "the reward terms are collision, high speed and zone passed",
        "normalize_reward": "the reward is a weighted sum, not normalized",
        "offroad_terminal": "the episode ends on a crash or once the zone is passed",
    }
    RULES: ClassVar[dict[str, Rule]] = {
        "closed_lanes": check_closed_lanes,
        "zone_start": POSITIVE,
        "zone_length": POSITIVE,
        "cone_spacing": POSITIVE,
        "ego_lane": lane_index,
        "zone_passed_reward": Number(),
    }

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        config = super().default_config()
        config.update({
            "closed_lanes": [2],  # lane indices, 0 = leftmost, -1 = rightmost; at least one lane stays open
            "zone_start": 200.0,  # [m] from the ego's start to the first cone
            "zone_length": 100.0,  # [m] from the first cone to the last
            # [m] between cone centres. Cutting into the closed lane inside the zone still hits
            # a cone at 30 m; 20 m keeps cones from filling the 5-row observation.
            "cone_spacing": 20.0,
            "vehicles_count": 15,
            "vehicles_density": 1.0,  # > 0; as highway-env's: higher is denser
            "ego_lane": None,  # None: a random closed lane; or a lane index
            "ego_speed": 25.0,  # [m/s] initial speed of the ego
            # highway-fast-v0's values, written as floats as this env always has
            "collision_reward": -1.0,
            "reward_speed_range": [20.0, 30.0],  # [m/s] forward speed mapped to [0, 1]
            "zone_passed_reward": 1.0,
        })
        return config

    # ------------------------------------------------------------ scene

    def _create_vehicles(self) -> None:
        c, rng = self.config, self.np_random
        closed = closed_lane_ids(c)
        open_lanes = [lane for lane in range(c["lanes_count"]) if lane not in closed]
        xs, ego_slot = traffic_line(self)
        ego_x = float(xs[ego_slot])
        self.zone_begin = ego_x + c["zone_start"]
        self.zone_end = self.zone_begin + c["zone_length"]
        ego_lane = c["ego_lane"] if c["ego_lane"] is not None else int(rng.choice(closed))
        place_ego(self, ego_lane, ego_x, c["ego_speed"])

        def reroute(lane_id: int, x: float) -> int:
            in_zone = self.zone_begin - SPAWN_CLEARANCE <= x <= self.zone_end + Cone.LENGTH
            return int(rng.choice(open_lanes)) if lane_id in closed and in_zone else lane_id

        spawn_traffic(self, xs, ego_slot, reroute)
        self._place_cones(closed)

    def _place_cones(self, closed: list[int]) -> None:
        spacing, length = self.config["cone_spacing"], self.config["zone_length"]
        for lane_id in closed:
            lane = lane_of(self, lane_id)
            for k in range(int(np.floor(length / spacing)) + 1):
                x = self.zone_begin + min(k * spacing, length)
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

    def _info(self, obs, action: Action | None = None) -> dict[str, Any]:
        info = super()._info(obs, action)
        info["zone_passed"] = self.zone_passed
        info["success"] = bool(self.zone_passed and not self.vehicle.crashed)
        return info


class WorkZoneV1Env(WorkZoneEnv):
    """WorkZone with highway-env's normalized reward; passing the zone is success, not reward."""

    ENV_ID: ClassVar[str] = "laneforge/WorkZone-v1"
    UNUSED_KEYS: ClassVar[dict[str, str]] = {
        **{k: v for k, v in WorkZoneEnv.UNUSED_KEYS.items() if k != "normalize_reward"},
        "zone_passed_reward": "passing the zone is info['success'] in v1, not reward (v0 rewards it)",
    }
    RULES: ClassVar[dict[str, Rule]] = {k: v for k, v in WorkZoneEnv.RULES.items() if k != "zone_passed_reward"}

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        config = super().default_config()
        config.pop("zone_passed_reward")  # added by v0's defaults
        return config

    def _rewards(self, action: Action) -> dict[str, float]:
        terms = super()._rewards(action)
        del terms["zone_passed_reward"]
        terms["on_road_reward"] = float(self.vehicle.on_road)
        return terms

    def _reward(self, action: Action) -> float:
        """highway-env's ``HighwayEnv._reward`` with the terms this env has."""
        terms, c = self._rewards(action), self.config
        reward = c["collision_reward"] * terms["collision_reward"] + c["high_speed_reward"] * terms["high_speed_reward"]
        if c["normalize_reward"]:
            reward = utils.lmap(reward, [c["collision_reward"], c["high_speed_reward"]], [0, 1])
        return float(reward * terms["on_road_reward"])
