"""The drive probe (envs/drive_probe.py) and FastHighway's drive_state()/drive_goal().

- step parity: at every step of highway-fast-v0 episodes, the probe reading highway-env and
  FastHighway's drive_state() on the imported scene agree exactly (``==`` on every field,
  floats included: no tolerance);
- hand-built scenes with a known leader (gap bumper to bumper, closing speed, lanes, the 1 m
  on_lane margin, no leader), on highway-env and through FastHighway;
- WorkZone: a cone (road.objects) is the leader;
- route goals (merge, roundabout, intersection): goal, progress, arrival, monotone s;
- speed limits of the lanes.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import highway_env  # noqa: F401  (registers highway-env ids)
import numpy as np
import pytest
from highway_env.vehicle.objects import Obstacle

import envs  # noqa: F401  (registers the laneforge/ ids)
from envs import drive_probe as dp
from envs.drive_probe import FIELDS, MERGE_END_X, REFERENCE_SPEED, Goal
from envs.factory import make_env
from envs.fast_highway import FastHighwayCore
from envs.fast_highway.bridge import state_from_highway

LANE_LEFT, IDLE = 0, 1


def _hw(env_id: str = "highway-fast-v0", config: dict | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make(env_id, config=dict(config or {})).unwrapped


def _twin_read(core: FastHighwayCore, hw) -> dict:
    """FastHighway's drive_state() row 0 on highway-env's current scene."""
    core.set_state(state_from_highway(hw))
    state = core.drive_state()
    assert set(state) == set(FIELDS)
    assert all(np.shape(v) == (1,) for v in state.values())
    return {k: v[0].item() for k, v in state.items()}


def _assert_same(probe: dict, twin: dict, where: str) -> None:
    assert set(probe) == set(FIELDS) == set(twin)
    for k in FIELDS:
        # exact: the twin computes the same float operations in the same order
        assert probe[k] == twin[k], f"{where}: field {k}: probe {probe[k]!r} != twin {twin[k]!r}"
        assert isinstance(probe[k], bool) == isinstance(twin[k], bool), f"{where}: field {k} type"


# ----------------------------------------------------------------------------- 1. step parity

@pytest.mark.parametrize("config,seeds", [
    ({}, [0, 1, 2]),
    ({"lanes_count": 4, "vehicles_count": 30}, [3]),
], ids=["highway-fast", "4-lanes-30-vehicles"])
def test_probe_matches_twin_at_every_step(config, seeds):
    hw = _hw(config=config)
    core = FastHighwayCore(1, config)
    finite_gaps = steps = 0
    for seed in seeds:
        hw.reset(seed=seed)
        goal = dp.goal_of(hw)
        rng = np.random.default_rng(seed)
        for t in range(40):
            probe = dp.read(hw, goal)
            _assert_same(probe, _twin_read(core, hw), f"seed {seed} step {t}")
            assert probe["s"] == probe["x"]  # distance goal: s is x
            finite_gaps += np.isfinite(probe["gap"])
            steps += 1
            _, _, term, trunc, _ = hw.step(int(rng.integers(hw.action_space.n)))
            if term or trunc:
                _assert_same(dp.read(hw, goal), _twin_read(core, hw), f"seed {seed} last step")
                break
    assert finite_gaps >= steps // 2  # the leader code ran, not only the no-leader branch


@pytest.mark.parametrize("config", [{}, {"duration": 20, "lanes_count": 4}])
def test_distance_goal_on_highway_and_twin(config):
    hw = _hw(config=config)
    hw.reset(seed=0)
    expected = Goal("distance", float(hw.config["duration"]) * REFERENCE_SPEED)
    assert expected.length == hw.config["duration"] * 30.0
    assert dp.goal_of(hw) == expected
    core = FastHighwayCore(1, config)
    assert core.drive_goal() == expected
    s0 = dp.read(hw, expected)["s"]
    assert expected.progress(s0, s0) == 0.0
    assert expected.progress(s0, s0 + expected.length / 2) == 0.5


def test_probe_reads_fast_highway_env_through_drive_state():
    env = gym.make("laneforge/FastHighway-v0", config={"vehicles_count": 8, "duration": 10})
    env.reset(seed=0)
    goal = dp.goal_of(env)
    assert goal == Goal("distance", 300.0)
    for _ in range(3):
        row0 = {k: v[0].item() for k, v in env.unwrapped.drive_state().items()}
        assert dp.read(env, goal) == row0
        assert row0["x"] == env.unwrapped.vehicle.position[0]
        env.step(IDLE)


# ----------------------------------------------------------------------------- 2. hand-built scene

def _place(env, v, x: float, y: float, speed: float, heading: float = 0.0) -> None:
    v.position = np.array([x, y], dtype=float)
    v.speed, v.heading = float(speed), float(heading)
    v.lane_index = env.road.network.get_closest_lane_index(v.position, v.heading)
    v.lane = env.road.network.get_lane(v.lane_index)
    v.target_lane_index = v.lane_index


@pytest.fixture
def hand_scene():
    """highway-fast-v0 (3 lanes, y = 0, 4, 8) with 5 vehicles placed by hand: the ego at x = 100
    in lane 1 (25 m/s), its leader 30 m ahead in lane 1 (20 m/s), a closer vehicle in lane 2, one
    behind in lane 1 and one parked far behind in lane 0."""
    config = {"vehicles_count": 4}
    hw = _hw(config=config)
    hw.reset(seed=0)
    ego, lead, side, behind, far = hw.road.vehicles
    assert ego is hw.vehicle
    _place(hw, ego, 100.0, 4.0, 25.0)
    _place(hw, lead, 130.0, 4.0, 20.0)
    _place(hw, side, 110.0, 8.0, 15.0)  # closer, but in lane 2: not the leader
    _place(hw, behind, 60.0, 4.0, 30.0)  # in lane 1, behind: not the leader
    _place(hw, far, 0.0, 0.0, 20.0)
    return hw, FastHighwayCore(1, config), (ego, lead, side, behind, far)


def _check_leader(hw, core, gap: float, closing: float) -> None:
    goal = dp.goal_of(hw)
    probe = dp.read(hw, goal)
    assert probe["gap"] == pytest.approx(gap, abs=1e-9) if np.isfinite(gap) else probe["gap"] == gap
    assert probe["closing_speed"] == pytest.approx(closing, abs=1e-9)
    assert (probe["x"], probe["y"], probe["lane"], probe["speed"]) == (100.0, 4.0, 1, 25.0)
    _assert_same(probe, _twin_read(core, hw), "hand-built scene")


def test_hand_built_leader_in_own_lane(hand_scene):
    hw, core, (ego, lead, *_) = hand_scene
    assert ego.LENGTH == lead.LENGTH == 5.0
    assert dp.leader(hw.road, ego) == (30.0 - 5.0, 25.0 - 20.0)
    _check_leader(hw, core, gap=25.0, closing=5.0)


def test_hand_built_leader_heading_and_slower_ego(hand_scene):
    hw, core, (ego, lead, *_) = hand_scene
    _place(hw, lead, 112.0, 4.0, 28.0, heading=0.1)  # faster than the ego: negative closing
    _check_leader(hw, core, gap=7.0, closing=25.0 - 28.0 * np.cos(0.1))


def test_hand_built_on_lane_margin(hand_scene):
    """Road.neighbour_vehicles counts a vehicle up to 1 m beyond the lane's half width (2 m)."""
    hw, core, (ego, lead, side, *_) = hand_scene
    _place(hw, side, 115.0, 4.0 + 2.9, 15.0)  # 2.9 m off lane 1's centre: still lane 1's leader
    _check_leader(hw, core, gap=10.0, closing=10.0)
    _place(hw, side, 115.0, 4.0 + 3.1, 15.0)  # 3.1 m off: not on lane 1 any more
    _check_leader(hw, core, gap=25.0, closing=5.0)


def test_hand_built_no_vehicle_ahead(hand_scene):
    hw, core, (ego, lead, *_) = hand_scene
    _place(hw, lead, 130.0, 0.0, 20.0)  # the leader moves to lane 0: lane 1 is free ahead
    assert dp.leader(hw.road, ego) == (float("inf"), 0.0)
    _check_leader(hw, core, gap=float("inf"), closing=0.0)


# ----------------------------------------------------------------------------- 3. work zone

def _nearest_cone_ahead(env):
    """The nearest object ahead in the ego's lane, found by hand from road.objects."""
    ego = env.vehicle
    lane_y = env.road.network.get_lane(ego.lane_index).position(0, 0)[1]
    ahead = [o for o in env.road.objects if isinstance(o, Obstacle)
             and abs(o.position[1] - lane_y) <= 2.0 and o.position[0] >= ego.position[0]]
    assert ahead, "no cone ahead of the ego in its lane"
    return min(ahead, key=lambda o: o.position[0])


@pytest.mark.parametrize("config,seeds", [({}, range(6)), ({"vehicles_count": 0}, [0, 1])],
                         ids=["default", "no-traffic"])
def test_work_zone_cone_is_the_leader(config, seeds):
    env = make_env("laneforge/WorkZone-v1", config)
    u = env.unwrapped
    cone_leaders = 0
    for seed in seeds:
        env.reset(seed=seed)
        ego = u.vehicle
        assert ego.lane_index[2] in u.config["closed_lanes"]
        front, _ = u.road.neighbour_vehicles(ego, ego.lane_index)
        if not isinstance(front, Obstacle):  # traffic before the zone may lead instead
            assert config == {}
            continue
        cone_leaders += 1
        cone = _nearest_cone_ahead(u)
        assert front is cone and type(cone).LENGTH == 3.0 and ego.LENGTH == 5.0
        probe = dp.read(env, dp.goal_of(env))
        expected_gap = cone.position[0] - ego.position[0] - (cone.LENGTH + 5.0) / 2
        assert probe["gap"] == pytest.approx(expected_gap, abs=1e-9)
        assert probe["gap"] == pytest.approx(u.zone_begin - ego.position[0] - 4.0, abs=1e-9)
        assert probe["closing_speed"] == pytest.approx(ego.speed, abs=1e-9)  # cones do not move
        assert probe["closing_speed"] == pytest.approx(u.config["ego_speed"], abs=1e-9)
    assert cone_leaders >= 1 if config == {} else cone_leaders == len(seeds)


# ----------------------------------------------------------------------------- 4. route goals

def _drive(env, goal: Goal, action: int, seed: int, max_steps: int = 60):
    """Reset and drive with a constant action until the episode ends: the reads and last flags."""
    env.reset(seed=seed)
    goal = dp.goal_of(env) if goal is None else goal
    reads = [dp.read(env, goal)]
    term = trunc = False
    for _ in range(max_steps):
        _, _, term, trunc, _ = env.step(action)
        reads.append(dp.read(env, goal, reads[-1]["s"]))
        if term or trunc:
            break
    return goal, reads, bool(term), bool(trunc)


def test_merge_goal_and_arrival():
    env = make_env("merge-v1")
    env.reset(seed=0)
    goal = dp.goal_of(env)
    assert goal == Goal("route", MERGE_END_X, arrival="end_x") and goal.length == 370.0
    arrivals = crashes = 0
    for seed in (0, 1):  # LANE_LEFT: seed 0 passes x = 370, seed 1 crashes (IDLE/FASTER crash on 0-2)
        goal, reads, term, trunc = _drive(env, None, LANE_LEFT, seed)
        s0 = reads[0]["s"]
        assert reads[0]["s"] == reads[0]["x"] and goal.progress(s0, s0) == 0.0
        assert not any(r["arrived"] for r in reads[:-1])
        last = reads[-1]
        assert term and not trunc
        if last["x"] > 370 and not last["crashed"]:
            arrivals += 1
            assert last["arrived"] and goal.progress(s0, last["s"]) == 1.0
        else:
            crashes += 1
            assert last["crashed"] and not last["arrived"] and goal.progress(s0, last["s"]) < 1.0
    assert arrivals == 1 and crashes == 1


def _route_starts(road, route) -> list[float]:
    starts, total = [], 0.0
    for index in route:
        starts.append(total)
        total += road.network.get_lane(index).length
    return starts


def test_roundabout_route_goal_progress_and_arrival():
    env = make_env("roundabout-v1")
    u = env.unwrapped
    outcomes = []
    for action, seed in ((LANE_LEFT, 0), (IDLE, 0)):  # the first reaches the exit, IDLE crashes
        goal, reads, term, trunc = _drive(env, None, action, seed)
        assert goal.kind == "route" and goal.arrival == "last_lane"
        assert goal.route[-1][:2] == ("nx", "nxs")
        assert goal.starts == pytest.approx(_route_starts(u.road, goal.route), abs=1e-9)
        assert goal.length == goal.starts[-1]
        s = [r["s"] for r in reads]
        assert goal.progress(s[0], s[0]) == 0.0
        assert all(b >= a for a, b in zip(s, s[1:])), s  # s never decreases
        assert s[-1] > s[0]
        arrived = [r["arrived"] for r in reads]
        outcomes.append(arrived[-1])
        if arrived[-1]:
            assert tuple(u.vehicle.lane_index[:2]) == ("nx", "nxs")
            assert goal.progress(s[0], s[-1]) == 1.0 and not reads[-1]["crashed"]
        else:
            assert reads[-1]["crashed"] and goal.progress(s[0], s[-1]) < 1.0
    assert outcomes == [True, False]


@pytest.mark.parametrize("env_id", ["intersection-v2"])
def test_intersection_route_goal_and_has_arrived(env_id):
    env = make_env(env_id)
    u = env.unwrapped
    goal, reads, term, trunc = _drive(env, None, IDLE, seed=0)
    assert goal.kind == "route" and goal.arrival == "has_arrived"
    assert goal.route[-1][1].startswith("o")  # the exit lane
    assert goal.starts == pytest.approx(_route_starts(u.road, goal.route), abs=1e-9)
    assert goal.length == pytest.approx(goal.starts[-1] + dp.INTERSECTION_EXIT_DISTANCE, abs=1e-9)
    s0 = reads[0]["s"]
    assert goal.progress(s0, s0) == 0.0
    assert not any(r["arrived"] for r in reads[:-1])
    assert reads[-1]["arrived"] == bool(u.has_arrived(u.vehicle)) is True  # seed 0 with IDLE arrives
    assert goal.progress(s0, reads[-1]["s"]) == 1.0


# ----------------------------------------------------------------------------- 5. speed limits

def test_speed_limits():
    hw = _hw(config={"lanes_count": 4})
    hw.reset(seed=0)
    assert dp.read(hw, dp.goal_of(hw))["speed_limit"] == 30.0
    for lane_id in range(4):  # every lane of the highway: 30 m/s
        _place(hw, hw.vehicle, hw.vehicle.position[0], 4.0 * lane_id, 25.0)
        probe = dp.read(hw, dp.goal_of(hw))
        assert probe["lane"] == lane_id and probe["speed_limit"] == 30.0
    core = FastHighwayCore(1, {"lanes_count": 4})
    core.reset_envs()
    assert core.drive_state()["speed_limit"].tolist() == [30.0]

    merge = make_env("merge-v1")
    _, reads, _, _ = _drive(merge, None, IDLE, seed=0)
    assert all(r["speed_limit"] == 20.0 for r in reads)  # highway-env's default lane speed limit
    assert {lane.speed_limit for lane in merge.unwrapped.road.network.lanes_list()} == {20.0}


@pytest.mark.parametrize("env_id", ["lane-keeping-v0", "two-way-v0", "racetrack-v1", "parking-v0"])
def test_envs_without_a_progress_measure_still_evaluate(env_id):
    """Roads with no goal and no straight highway (no ``duration`` in some): progress is NaN, not
    an error, and stalls are judged on speed alone."""
    from agents.evaluation.episodes import run_episode
    from envs.factory import make_env

    env = make_env(env_id, {}, max_episode_steps=3)
    env.reset(seed=0)
    assert dp.goal_of(env).kind == "none"
    row = run_episode(lambda obs: env.action_space.sample(), env, 0).row()
    assert np.isnan(row["progress"]) and row["length"] >= 1 and row["success"] is None
    assert row["stalled"] == float(not row["crashed"] and row["mean_speed"] < 2)
