"""The evaluation's driving metrics (agents/evaluation/driving.py, envs/drive_probe.Goal,
agents/evaluation/episodes.EpisodeRecorder / aggregate / summary, agents/analysis/stats.summarize_ratio)
on made-up rollouts. Every expected number is worked out by hand in the comment next to it; none
is computed by calling the code under test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.analysis.stats import summarize_ratio
from agents.evaluation.driving import drive_metrics, stalled, time_to_collision
from agents.evaluation.episodes import EpisodeRecorder, aggregate, summary
from envs.drive_probe import Goal

INF = float("inf")
NAN = float("nan")


def state(s: float = 0.0, x: float = 0.0, y: float = 0.0, lane: int = 0, speed: float = 20.0,
          speed_limit: float = INF, gap: float = INF, closing_speed: float = 0.0, crashed: bool = False,
          arrived: bool = False) -> dict:
    """One drive state (envs.drive_probe.FIELDS); the defaults: no leader, no limit, 20 m/s."""
    return {"s": s, "x": x, "y": y, "lane": lane, "speed": speed, "speed_limit": speed_limit, "gap": gap,
            "closing_speed": closing_speed, "crashed": crashed, "arrived": arrived}


# ------------------------------------------------------------------ time_to_collision


@pytest.mark.parametrize("gap, closing, expected", [
    (20.0, 4.0, 5.0),      # closing in: 20 m / 4 m/s = 5 s
    (7.5, 3.0, 2.5),       # 7.5 / 3 = 2.5 s
    (30.0, 3.0, 10.0),     # 30 / 3 = 10 s, exactly the cap
    (100.0, 2.0, 10.0),    # 100 / 2 = 50 s > cap 10 -> 10
    (20.0, -4.0, 10.0),    # opening (leader faster): never collides -> cap 10
    (20.0, 0.0, 10.0),     # same speed: never collides -> cap 10
    (INF, 0.0, 10.0),      # no leader (gap inf, closing 0) -> cap 10
    (INF, 5.0, 10.0),      # no leader even with a closing speed: inf / 5 = inf -> cap 10
    (0.0, 3.0, 0.0),       # gap gone while closing in: 0
    (-2.0, 3.0, 0.0),      # overlapping (gap < 0): 0
    (-2.0, -1.0, 0.0),     # overlapping and opening: still 0 ("0 once the gap is gone")
    (0.0, 0.0, 0.0),       # touching, same speed: 0
])
def test_time_to_collision_scalar(gap, closing, expected):
    assert float(time_to_collision(np.array([gap]), np.array([closing]))[0]) == pytest.approx(expected)


def test_time_to_collision_vectorized():
    gap = np.array([12.0, 12.0, INF, -1.0, 50.0])
    closing = np.array([6.0, -6.0, 1.0, 2.0, 4.0])
    # 12/6 = 2; opening -> 10; no leader -> 10; gap < 0 -> 0; 50/4 = 12.5 -> capped 10
    np.testing.assert_allclose(time_to_collision(gap, closing), [2.0, 10.0, 10.0, 0.0, 10.0])


# ------------------------------------------------------------------ drive_metrics

# Reset state + 5 policy steps (hand-built):
#   step   s   speed  limit  gap   closing  crashed  |  ttc               headway (gap/speed)
#   0     10   20     10     -     -        -        |  (reset: no metrics read from it)
#   1     20   22     20     inf   0        F        |  10 (no leader)    no leader -> not < 1
#   2     30   19     20     30    5        F        |  30/5 = 6          30/19 = 1.58 -> no
#   3     45   20     20     15    5        F        |  15/5 = 3          15/20 = 0.75 -> yes
#   4     60   15     20     12    -2       F        |  opening -> 10     12/15 = 0.8  -> yes
#   5     70    3     20      0    3        T        |  gap 0 -> 0        0/3 = 0      -> yes
# speed changes over each step: +2, -3, +1, -5, -12 (the last at the crash step)
EPISODE = [
    state(s=10, speed=20, speed_limit=10),
    state(s=20, speed=22, speed_limit=20, gap=INF, closing_speed=0.0),
    state(s=30, speed=19, speed_limit=20, gap=30.0, closing_speed=5.0),
    state(s=45, speed=20, speed_limit=20, gap=15.0, closing_speed=5.0),
    state(s=60, speed=15, speed_limit=20, gap=12.0, closing_speed=-2.0),
    state(s=70, speed=3, speed_limit=20, gap=0.0, closing_speed=3.0, crashed=True),
]


def test_drive_metrics_hand_built_episode():
    m = drive_metrics(EPISODE, Goal("distance", 200.0), policy_frequency=1)
    assert m["progress"] == pytest.approx(0.3)  # distance goal: (70 - 10) / 200 = 0.3
    assert m["min_ttc"] == pytest.approx(0.0)  # min(10, 6, 3, 10, 0) = 0 (the crash step)
    assert m["mean_ttc"] == pytest.approx(5.8)  # (10 + 6 + 3 + 10 + 0) / 5 = 29 / 5 = 5.8
    assert m["headway_under_1s"] == pytest.approx(0.6)  # steps 3, 4, 5 of 5 -> 3/5 = 0.6
    # accel at 1 Hz: +2, -3, +1, -5, -12 m/s^2; below -4: step 4 (-5); step 5 (-12) is the crash
    # step, excluded; step 2 (-3) is not below -4 -> 1
    assert m["hard_brakes"] == 1
    # speed > limit on steps 1..5: 22>20 yes, 19 no, 20>20 no (strict), 15 no, 3 no -> 1/5 = 0.2
    # (the reset state, 20 > 10, is not a step: counting it would give 2/6)
    assert m["above_speed_limit"] == pytest.approx(0.2)
    assert m["arrived"] is False  # no step has arrived


def test_drive_metrics_policy_frequency_doubles_deceleration():
    m = drive_metrics(EPISODE, Goal("distance", 200.0), policy_frequency=2)
    # at 2 Hz a step lasts 0.5 s: accel = 2 x (+2, -3, +1, -5, -12) = +4, -6, +2, -10, -24 m/s^2;
    # below -4: step 2 (-6) and step 4 (-10); step 5 (-24) is the crash step, excluded -> 2
    assert m["hard_brakes"] == 2


def test_drive_metrics_crash_step_excluded_from_hard_brakes():
    crash = [state(speed=20), state(speed=19), state(speed=0, crashed=True)]
    # accel at 1 Hz: -1 (not hard), -19 at the crash step (excluded) -> 0
    assert drive_metrics(crash, Goal("distance", 100.0), 1)["hard_brakes"] == 0
    no_crash = [state(speed=20), state(speed=19), state(speed=0, crashed=False)]
    # the same speeds without the crash: -19 < -4 counts -> 1
    assert drive_metrics(no_crash, Goal("distance", 100.0), 1)["hard_brakes"] == 1


@pytest.mark.parametrize("drop, frequency, expected", [
    (4.0, 1, 0),   # -4 m/s^2 is not *below* -4
    (4.1, 1, 1),   # -4.1 < -4
    (3.0, 1, 0),   # -3 m/s^2
    (3.0, 2, 1),   # the same 3 m/s drop over 0.5 s: -6 m/s^2
    (2.0, 2, 0),   # 2 m/s over 0.5 s: -4, not below
])
def test_hard_braking_threshold(drop, frequency, expected):
    states = [state(speed=20.0), state(speed=20.0 - drop)]
    assert drive_metrics(states, Goal("distance", 100.0), frequency)["hard_brakes"] == expected


def test_drive_metrics_arrived_at_any_step_and_route_progress():
    states = [state(s=0), state(s=40), state(s=80, arrived=True), state(s=90, arrived=False)]
    m = drive_metrics(states, Goal("route", 160.0, arrival="last_lane"), 1)
    assert m["arrived"] is True  # step 2 arrived
    assert m["progress"] == pytest.approx(90 / 160)  # route from s0 = 0: (90 - 0) / (160 - 0) = 0.5625
    # no leader anywhere: every ttc is the cap 10; no headway counts; constant speed: no braking
    assert m["min_ttc"] == pytest.approx(10.0) and m["mean_ttc"] == pytest.approx(10.0)
    assert m["headway_under_1s"] == 0.0 and m["hard_brakes"] == 0
    assert m["above_speed_limit"] == 0.0  # limit inf


def test_drive_metrics_no_steps():
    m = drive_metrics([state()], Goal("distance", 100.0), 1)
    # only the reset state: nothing to measure
    assert math.isnan(m["progress"]) and math.isnan(m["min_ttc"]) and math.isnan(m["mean_ttc"])
    assert m["hard_brakes"] == 0 and m["arrived"] is False


# ------------------------------------------------------------------ stalled


@pytest.mark.parametrize("crashed, mean_speed, progress, expected", [
    (True, 0.5, 0.01, False),   # crashed: never stalled, however slow and short
    (True, NAN, NAN, False),
    (False, 1.9, 0.5, True),    # 1.9 < 2 m/s: slow
    (False, 2.0, 0.5, False),   # 2.0 is not below 2
    (False, 20.0, 0.05, True),  # 0.05 < 0.1: short
    (False, 20.0, 0.1, False),  # 0.1 is not below 0.1
    (False, 20.0, 0.6, False),  # a normal episode
    (False, NAN, 0.5, False),   # unknown speed, good progress: not stalled
    (False, NAN, 0.05, True),   # unknown speed, short progress: stalled
    (False, 1.0, NAN, True),    # slow, unknown progress: stalled
    (False, 20.0, NAN, False),  # fast, unknown progress: not stalled
    (False, NAN, NAN, False),   # nothing known: not stalled
])
def test_stalled(crashed, mean_speed, progress, expected):
    assert stalled(crashed, mean_speed, progress) is expected


# ------------------------------------------------------------------ Goal.progress


@pytest.mark.parametrize("goal, s0, s, expected", [
    (Goal("distance", 600.0), 100.0, 250.0, 0.25),   # (250 - 100) / 600 = 0.25
    (Goal("distance", 600.0), 100.0, 100.0, 0.0),    # never moved: 0
    (Goal("distance", 600.0), 100.0, 900.0, 1.0),    # 800 / 600 = 1.33 -> clipped to 1
    (Goal("distance", 600.0), 100.0, 50.0, 0.0),     # -50 / 600 -> clipped to 0
    (Goal("route", 370.0), 70.0, 220.0, 0.5),        # (220 - 70) / (370 - 70) = 150 / 300 = 0.5
    (Goal("route", 370.0), 0.0, 37.0, 0.1),          # 37 / 370 = 0.1
    (Goal("route", 370.0), 70.0, 70.0, 0.0),         # never moved: 0
    (Goal("route", 370.0), 70.0, 400.0, 1.0),        # 330 / 300 = 1.1 -> clipped to 1
    (Goal("route", 370.0), 70.0, 60.0, 0.0),         # -10 / 300 -> clipped to 0
])
def test_goal_progress(goal, s0, s, expected):
    assert goal.progress(s0, s) == pytest.approx(expected)


def test_goal_progress_kinds_differ():
    # the same numbers, two definitions: distance (250 - 100) / 400 = 0.375; route (250 - 100) / (400 - 100) = 0.5
    assert Goal("distance", 400.0).progress(100.0, 250.0) == pytest.approx(0.375)
    assert Goal("route", 400.0).progress(100.0, 250.0) == pytest.approx(0.5)


@pytest.mark.parametrize("goal, s0, s", [
    (Goal("distance", 0.0), 0.0, 10.0),  # zero length: 10 / 0
    (Goal("route", 50.0), 50.0, 60.0),   # route already at its goal: length - s0 = 0
])
def test_goal_progress_zero_length_is_nan(goal, s0, s):
    assert math.isnan(goal.progress(s0, s))


# ------------------------------------------------------------------ EpisodeRecorder

# Reset + 4 steps (hand-built):
#   step  x   y   step length           lane  lane change          speed  reward  info rewards
#   0     0   0   -                     0     -                    0      -       -
#   1     3   4   sqrt(9+16) = 5        1     0 -> 1: yes          12     0.5     hs 0.2, lc -0.1
#   2     9  12   sqrt(36+64) = 10      -1    off-lane: ignored    14     1.0     hs 0.3
#   3     9  12   0                     1     -1 -> 1: ignored     6      -0.25   hs 0.1, lc -0.1
#   4    21  17   sqrt(144+25) = 13     0     1 -> 0: yes          8      0.75    hs 0.4
# distance 5 + 10 + 0 + 13 = 28 m; lane changes 2; accel +12, +2, -8, +2 -> 1 hard brake (step 3)
RECORDED = [
    (None, None, state(s=20, x=0, y=0, lane=0, speed=0)),
    (0.5, {"rewards": {"high_speed_reward": 0.2, "lane_change_reward": -0.1}},
     state(s=30, x=3, y=4, lane=1, speed=12)),
    (1.0, {"rewards": {"high_speed_reward": 0.3}}, state(s=40, x=9, y=12, lane=-1, speed=14)),
    (-0.25, {"rewards": {"high_speed_reward": 0.1, "lane_change_reward": -0.1}},
     state(s=50, x=9, y=12, lane=1, speed=6)),
    (0.75, {"rewards": {"high_speed_reward": 0.4}}, state(s=70, x=21, y=17, lane=0, speed=8)),
]


def record(states_and_infos, goal: Goal, frequency: float = 1.0, seed: int = 7):
    (_, _, first), *steps = states_and_infos
    recorder = EpisodeRecorder(seed, goal, frequency, first)
    for reward, info, st in steps:
        recorder.step(reward, info, st)
    return recorder.finish()


def test_episode_recorder_end_to_end():
    r = record(RECORDED, Goal("route", 100.0, arrival="end_x"))
    assert r.seed == 7
    assert r.length == 4
    assert r.return_ == pytest.approx(2.0)  # 0.5 + 1.0 - 0.25 + 0.75 = 2.0
    assert r.distance == pytest.approx(28.0)  # 5 + 10 + 0 + 13 (xy step lengths, not s)
    # mean over the 4 steps: (12 + 14 + 6 + 8) / 4 = 10; with the reset state it would be 40 / 5 = 8
    assert r.mean_speed == pytest.approx(10.0)
    assert r.lane_changes == 2  # 0 -> 1 and 1 -> 0; the moves to and from lane -1 are ignored
    assert r.hard_brakes == 1  # 14 -> 6 m/s over a 1 s step: -8 < -4
    assert r.progress == pytest.approx(0.625)  # route: (70 - 20) / (100 - 20) = 50 / 80 = 0.625
    assert r.crashed is False
    assert r.success == 0.0  # a goal (end_x), no info success, never arrived -> 0
    assert r.stalled is False  # mean speed 10 >= 2, progress 0.625 >= 0.1
    # summed reward terms: high speed 0.2 + 0.3 + 0.1 + 0.4 = 1.0; lane change -0.1 - 0.1 = -0.2
    assert r.reward_terms == pytest.approx({"high_speed_reward": 1.0, "lane_change_reward": -0.2})

    row = r.row()
    assert row["return"] == pytest.approx(2.0) and "return_" not in row and "trajectory" not in row
    assert row["return_per_step"] == pytest.approx(0.5)  # 2.0 / 4
    assert row["km"] == pytest.approx(0.028)  # 28 m / 1000
    assert row["hard_braking_per_km"] == pytest.approx(1 / 0.028)  # 1 / 0.028 = 35.714...
    assert row["lane_changes_per_km"] == pytest.approx(2 / 0.028)  # 2 / 0.028 = 71.43...
    assert row["crashed"] == 0.0 and row["stalled"] == 0.0


def _short(info: dict, arrived: bool, crashed: bool = False) -> list:
    """Reset + 1 step of 10 m at 10 m/s."""
    return [(None, None, state(s=0, x=0, speed=10)),
            (1.0, info, state(s=10, x=10, speed=10, arrived=arrived, crashed=crashed))]


@pytest.mark.parametrize("arrival, info, arrived, crashed, expected", [
    ("end_x", {}, True, False, 1.0),                                    # arrived, no crash -> 1
    ("end_x", {"crashed": True}, True, True, 0.0),                      # arrived but crashed -> 0
    ("end_x", {}, False, False, 0.0),                                   # never arrived -> 0
    ("end_x", {"success": False}, True, False, 0.0),                    # info success wins over arrival
    ("end_x", {"success": True, "crashed": True}, False, True, 1.0),    # info success wins over the rule
    ("none", {"success": True}, False, False, 1.0),                     # info success on a road with no goal
    ("none", {}, True, False, None),                                    # no goal, no info success: None
])
def test_episode_recorder_success(arrival, info, arrived, crashed, expected):
    r = record(_short(info, arrived, crashed), Goal("route", 100.0, arrival=arrival))
    assert r.success == expected
    assert r.crashed is crashed  # from info["crashed"]


def test_episode_recorder_crashed_slow_episode_is_not_stalled():
    slow = [(None, None, state(s=0, x=0, speed=1)), (-1.0, {"crashed": True}, state(s=1, x=1, speed=1, crashed=True))]
    r = record(slow, Goal("distance", 100.0))
    # mean speed 1 < 2 and progress 1 / 100 = 0.01 < 0.1, but crashed -> not stalled
    assert r.progress == pytest.approx(0.01)
    assert r.crashed is True and r.stalled is False
    slow_safe = [(None, None, state(s=0, x=0, speed=1)), (0.0, {}, state(s=1, x=1, speed=1))]
    assert record(slow_safe, Goal("distance", 100.0)).stalled is True  # the same without the crash


# ------------------------------------------------------------------ aggregate and summarize_ratio


def test_aggregate_hard_braking_per_km_is_a_ratio_of_sums():
    # A: 2 steps of 500 m, 30 -> 20 -> 10 m/s at 1 Hz: 2 hard brakes over 1 km -> 2 / km
    a = record([(None, None, state(s=0, x=0, speed=30)), (0.0, {}, state(s=500, x=500, speed=20)),
                (0.0, {}, state(s=1000, x=1000, speed=10))], Goal("distance", 2000.0), seed=1)
    # B: 1 step of 250 m, 20 -> 10 m/s: 1 hard brake over 0.25 km -> 4 / km
    b = record([(None, None, state(s=0, x=0, speed=20)), (0.0, {}, state(s=250, x=250, speed=10))],
               Goal("distance", 2000.0), seed=2)
    rows = [a.row(), b.row()]
    assert rows[0]["hard_braking_per_km"] == pytest.approx(2.0) and rows[0]["km"] == pytest.approx(1.0)
    assert rows[1]["hard_braking_per_km"] == pytest.approx(4.0) and rows[1]["km"] == pytest.approx(0.25)
    rate = aggregate(rows)["hard_braking_per_km"]
    # (2 + 1) brakes / (1 + 0.25) km = 3 / 1.25 = 2.4, not the mean of the rates (2 + 4) / 2 = 3
    assert rate["mean"] == pytest.approx(2.4)
    assert rate["mean"] != pytest.approx(3.0)
    assert rate["n"] == 2
    # resampling the 2 (brakes, km) pairs gives AA -> 2, AB/BA -> 2.4, BB -> 4, with AA and BB each
    # ~1/4 of the 2000 draws (far more than the 2.5% tails): the 95% interval is [2, 4]
    assert rate["ci95"] == pytest.approx([2.0, 4.0])
    assert rate["ci95"][0] <= rate["mean"] <= rate["ci95"][1]
    # the per-episode means of the other metrics: distance (1000 + 250) / 2 = 625 m
    assert aggregate(rows)["distance"]["mean"] == pytest.approx(625.0)


def test_summarize_ratio_one_episode():
    out = summarize_ratio([3.0], [1.5])
    assert out["mean"] == pytest.approx(2.0)  # 3 / 1.5
    assert out["ci95"] is None and out["n"] == 1 and out["std"] == 0.0


def test_summarize_ratio_all_equal_rates():
    out = summarize_ratio([1.0, 2.0, 3.0], [0.5, 1.0, 1.5])
    # every episode at 2 / km (1 / 0.5, 2 / 1, 3 / 1.5); total 6 / 3 = 2
    assert out["mean"] == pytest.approx(2.0)
    assert out["ci95"] == pytest.approx([2.0, 2.0]) and out["std"] == 0.0 and out["n"] == 3


def test_summarize_ratio_zero_distance():
    out = summarize_ratio([0.0, 1.0], [0.0, 0.0])  # no km at all: the rate is undefined
    assert math.isnan(out["mean"]) and out["ci95"] is None


def test_summarize_ratio_drops_non_finite_pairs():
    out = summarize_ratio([1.0, 2.0], [NAN, 0.5])  # the NaN-km pair is dropped: 2 / 0.5 = 4
    assert out["mean"] == pytest.approx(4.0) and out["n"] == 1 and out["ci95"] is None


# ------------------------------------------------------------------ summary (seen vs unseen)


def _rows(crashed, success, progress, stalled_, ret=100.0):
    return [{"crashed": float(c), "success": s, "progress": p, "stalled": float(st), "return": ret,
             "return_per_step": ret / 10, "length": 10}
            for c, s, p, st in zip(crashed, success, progress, stalled_)]


def _scenario(name, split, rows, status="ok"):
    return {"name": name, "split": split, "status": status, "per_episode": rows}


SCENARIOS = [
    # seen: crash 1/4 = 0.25; success 3/4 = 0.75; progress (0.2 + 1 + 1 + 0.6) / 4 = 0.7; stall 1/4 = 0.25
    _scenario("seen-a", "seen", _rows([1, 0, 0, 0], [0.0, 1.0, 1.0, 1.0], [0.2, 1.0, 1.0, 0.6], [0, 0, 0, 1])),
    # unseen 1: crash 2/2 = 1; success 0/2 = 0; progress (0.1 + 0.3) / 2 = 0.2; stall 0
    _scenario("unseen-a", "unseen", _rows([1, 1], [0.0, 0.0], [0.1, 0.3], [0, 0])),
    # unseen 2 (no goal: success None): crash 1/3; progress (0.5 + 0.5 + 0.2) / 3 = 0.4; stall 1/3
    _scenario("unseen-b", "unseen", _rows([0, 0, 1], [None, None, None], [0.5, 0.5, 0.2], [1, 0, 0])),
]


def test_summary_headline_means_by_hand():
    out = summary(SCENARIOS, n_resamples=200)
    seen, unseen, gap = out["seen"], out["unseen"], out["gap"]
    assert set(seen) == set(unseen) == set(gap) == {"crash_rate", "success_rate", "progress", "stall_rate"}
    # returns are not comparable across scenarios: not in the headline
    for part in (seen, unseen, gap):
        assert "return_per_step" not in part and "return" not in part
    assert seen["crash_rate"]["mean"] == pytest.approx(0.25)
    assert seen["success_rate"]["mean"] == pytest.approx(0.75)
    assert seen["progress"]["mean"] == pytest.approx(0.7)
    assert seen["stall_rate"]["mean"] == pytest.approx(0.25)
    # unseen: mean over the 2 scenarios of each scenario's mean
    assert unseen["crash_rate"]["mean"] == pytest.approx(2 / 3)  # (1 + 1/3) / 2 = 2/3 (pooled would be 3/5)
    assert unseen["progress"]["mean"] == pytest.approx(0.3)  # (0.2 + 0.4) / 2 = 0.3 (pooled would be 1.6/5 = 0.32)
    assert unseen["stall_rate"]["mean"] == pytest.approx(1 / 6)  # (0 + 1/3) / 2 = 1/6 (pooled would be 1/5)
    # unseen-b has no success values: skipped, so success_rate is unseen-a's alone, 0
    assert unseen["success_rate"]["mean"] == pytest.approx(0.0)
    assert unseen["success_rate"]["scenarios"] == 1
    assert unseen["crash_rate"]["scenarios"] == 2 and seen["crash_rate"]["scenarios"] == 1
    # gap = seen - unseen
    assert gap["crash_rate"]["mean"] == pytest.approx(0.25 - 2 / 3)  # -5/12
    assert gap["success_rate"]["mean"] == pytest.approx(0.75)  # 0.75 - 0
    assert gap["progress"]["mean"] == pytest.approx(0.4)  # 0.7 - 0.3
    assert gap["stall_rate"]["mean"] == pytest.approx(1 / 12)  # 0.25 - 1/6
    for part in (seen, unseen):
        for metric in ("crash_rate", "progress"):
            lo, hi = part[metric]["ci95"]
            assert lo <= part[metric]["mean"] <= hi


def test_summary_skips_scenarios_not_evaluated():
    failed = _scenario("unseen-failed", "unseen", _rows([0, 0], [1.0, 1.0], [1.0, 1.0], [0, 0]), status="error")
    out = summary([*SCENARIOS, failed], n_resamples=200)
    # the failed scenario would pull the unseen crash rate to (1 + 1/3 + 0) / 3 = 4/9; skipped it stays 2/3
    assert out["unseen"]["crash_rate"]["mean"] == pytest.approx(2 / 3)
    assert out["unseen"]["crash_rate"]["scenarios"] == 2
    assert out["unseen"]["success_rate"]["scenarios"] == 1


def test_summary_one_split_only_has_no_gap():
    out = summary(SCENARIOS[:1], n_resamples=200)
    assert out["unseen"] == {} and out["gap"] == {}
    assert out["seen"]["progress"]["mean"] == pytest.approx(0.7)
