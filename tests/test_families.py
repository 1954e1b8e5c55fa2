"""Scenario families as data: the file format and its one-line errors, per-env seeded draws, the
N-distinct-scenarios restriction, FastHighway drawing at every reset, and training on a family
through train.py (config.yaml keeps the family, train_summary.json what was drawn)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from envs.families import FamilyError, FamilySampler, load_family, parse_family
from envs.fast_highway import FastHighwayVectorEnv
from tests.conftest import run_cli, run_in_process

ROOT = Path(__file__).parent.parent
FAST = "laneforge/FastHighway-v0"


def _family(**draw) -> dict:
    return {"env_id": FAST, "draw": draw or {"vehicles_density": {"uniform": [0.5, 2.5]}}}


def test_shipped_family_loads_and_says_what_it_draws():
    family = load_family(ROOT / "configs/families/highway_density.yaml")
    assert family.env_id == FAST and set(family.draws) == {"vehicles_density", "ego_spacing", "initial_lane_id",
                                                           "duration"}
    assert "vehicles_density: uniform [0.5, 2.5]" in family.summary()


@pytest.mark.parametrize("data, message", [
    ({**_family(), "scenarioz": 3}, r"f: scenarioz: unknown key \(did you mean 'scenarios'\?\)"),
    (_family(vehicles_densty={"uniform": [1, 2]}), r"draw\.vehicles_densty: not a per-env key .*did you mean "
                                                   r"'vehicles_density'"),
    (_family(policy_frequency={"choice": [1, 5]}), r"draw\.policy_frequency: not a per-env key of "
                                                   r"laneforge/FastHighway-v0; drawable: lanes_count, vehicles_count"),
    (_family(duration={"uniform": [10, 20], "choice": [5]}), r"draw\.duration: give exactly one of uniform"),
    (_family(duration={"uniform": [20, 10]}), r"draw\.duration\.uniform: low must not exceed high"),
    (_family(vehicles_density={"uniform": [0.0, 2.0]}), r"draw\.vehicles_density: must be > 0"),
    (_family(initial_lane_id={"choice": [0, 5]}), r"draw\.initial_lane_id"),
    (_family(initial_lane_id={"uniform": [0, 2]}), r"a lane index is drawn with choice"),
    (_family(duration={"choice": [10, 20], "weights": [1]}), r"one positive weight per choice \(2\)"),
    (_family(lanes_count={"uniform": [2, 4.5]}), r"draw\.lanes_count\.uniform: lanes_count is a count; give whole"),
    (_family(lanes_count={"uniform": [2, 5]}, initial_lane_id={"choice": [None, 2]}),
     r"initial_lane_id.*\(drawn together with initial_lane_id 2, lanes_count 2\); narrow the draws"),
    ({**_family(), "env_id": "highway-fast-v0"}, r"env_id: 'highway-fast-v0' cannot vary its scenario per env"),
    ({**_family(), "config": {"vehicles_density": 1.0}}, r"config\.vehicles_density: also drawn"),
    ({**_family(), "scenarios": 0}, r"scenarios"),
])
def test_bad_family_is_refused_in_one_line_naming_the_key(data, message):
    with pytest.raises(FamilyError, match=message) as info:
        parse_family(data, source="f")
    assert "\n" not in str(info.value)


def test_each_env_draws_from_its_own_stream_whatever_the_batch():
    family = parse_family(_family(vehicles_density={"uniform": [0.5, 2.5]}, duration={"choice": [10, 20, 30]}))
    small, large = FamilySampler(family, 5, 4), FamilySampler(family, 5, 64)
    large.draw([b for b in range(64) if b != 2])  # the other envs drawing first changes nothing for env 2
    assert [small.draw([2]) for _ in range(5)] == [large.draw([2]) for _ in range(5)]
    assert FamilySampler(family, 6, 4).draw([2]) != FamilySampler(family, 5, 4).draw([2])  # the seed matters
    values = [d["vehicles_density"] for d in FamilySampler(family, 0, 1).draw([0] * 200)]
    assert 0.5 <= min(values) < 0.7 and 2.3 < max(values) <= 2.5


def test_draws_are_generator_uniform_and_weighted_choice_draw_for_draw():
    """The samplers' shortcuts draw what rng.uniform(low, high) and rng.choice(values, p=weights)
    draw, from the same stream."""
    family = parse_family(_family(vehicles_density={"uniform": [0.5, 2.5]}, ego_spacing={"uniform": [1, 2]},
                                  duration={"choice": [3, 7, 9], "weights": [1, 3, 0.5]}))
    sampler, rng = FamilySampler(family, 3, 1), np.random.default_rng([3, 0])
    p = np.array([1, 3, 0.5]) / 4.5
    for _ in range(2000):
        (drawn,) = sampler.draw([0])  # keys in sorted order: duration, ego_spacing, vehicles_density
        assert drawn == {"duration": [3, 7, 9][rng.choice(3, p=p)], "ego_spacing": rng.uniform(1, 2),
                         "vehicles_density": rng.uniform(0.5, 2.5)}


def test_n_scenarios_are_drawn_once_and_reused():
    family = parse_family({**_family(), "scenarios": 3})
    sampler = FamilySampler(family, 1, 8)
    seen = {d["vehicles_density"] for d in sampler.draw(list(range(8)) * 25)}
    assert len(seen) == 3 and seen == {d["vehicles_density"] for d in FamilySampler(family, 1, 2).table}
    stats = sampler.statistics()
    assert stats["draws"] == 200 and stats["scenarios"] == 3 and stats["distinct_used"] == 3


def test_fast_highway_draws_each_env_again_at_every_reset():
    family = parse_family(_family(duration={"choice": [3, 7]}))
    venv = FastHighwayVectorEnv(6, {"vehicles_count": 3, "vehicles_density": 0.3})
    sampler = FamilySampler(family, 0, 6)
    venv.core.set_family(sampler)
    venv.reset(seed=0)
    lengths, steps = {3: 0, 7: 0}, np.zeros(6, int)
    for _ in range(40):
        _, _, term, trunc, _ = venv.step(np.full(6, 4))
        steps += 1
        for b in np.flatnonzero(trunc & ~term):
            lengths[int(steps[b])] += 1  # every time-limited episode lasts one of the drawn durations
        steps[term | trunc] = 0
    assert lengths[3] > 0 and lengths[7] > 0 and sampler.statistics()["draws"] > 6
    with pytest.raises(ValueError, match="draws its per-env values from a family"):
        venv.reset(options={"config": [{"duration": 5}] * 6})
    venv.reset(options={"config": {"vehicles_count": 4}})  # a new shared config: the family keeps drawing
    assert venv.core.family is sampler and venv.core.params.vehicles == 5


def test_a_drawn_lane_count_gives_each_env_its_own_road_at_every_reset():
    """lanes_count uniform [2, 5]: whole numbers, both ends included; every env's road (its
    lanes, its traffic's lanes, its observation's y scale) follows its latest draw."""
    family = parse_family(_family(lanes_count={"uniform": [2, 5]}, initial_lane_id={"choice": [None, 0, 1]}))
    venv = FastHighwayVectorEnv(8, {"vehicles_count": 12, "duration": 4})
    sampler = FamilySampler(family, 0, 8)
    venv.core.set_family(sampler)
    venv.reset(seed=0)
    seen = set()
    for _ in range(12):
        state = venv.core.state
        lanes = state.lanes
        seen |= set(lanes.tolist())
        assert (state.lane.max(axis=1) < lanes).all() and (state.target_lane.max(axis=1) < lanes).all()
        venv.step(np.random.default_rng(0).integers(0, 5, 8))
    assert seen == {2, 3, 4, 5} and venv.core.params.lanes == 5
    counts = sampler.statistics()["keys"]["lanes_count"]
    assert counts["min"] == 2 and counts["max"] == 5 and sampler.statistics()["draws"] >= 8 * 3


@pytest.mark.parametrize("name, hazards", [("highway_mix", {None, "work_zone"}),
                                           ("generalist", {None, "work_zone", "emergency_braking"})])
def test_shipped_families_draw_roads_and_drivers_that_highway_env_can_run_too(name, hazards):
    """configs/families/highway_mix.yaml and generalist.yaml: every draw is a highway-env config
    (the driver classes by name), and FastHighway gives each env the drawn road and drivers."""
    import gymnasium as gym

    from highway_env.vehicle.behavior import IDMVehicle

    from envs.drivers import AggressiveDriver, DefensiveDriver
    from envs.factory import to_highway_config
    from envs.fast_highway.hazards import highway_env_scenario
    from envs.fast_highway.hazards import ENV_IDS
    from envs.work_zone import closed_lane_ids
    family = load_family(ROOT / f"configs/families/{name}.yaml")
    sampler = FamilySampler(family, 0, 24)
    venv = FastHighwayVectorEnv(24, family.config)
    venv.core.set_family(sampler)
    venv.reset(seed=0)
    draws = list(sampler.recent)[-24:]
    for b, d in enumerate(draws):
        assert venv.core.state.lanes[b] == d["lanes_count"]
        headway = {"idm": IDMVehicle, "idm_aggressive": AggressiveDriver,
                   "idm_defensive": DefensiveDriver}[d["other_vehicles_type"]].TIME_WANTED
        s = venv.core.state
        traffic = s.present[b] & ~s.static[b]
        traffic[0] = False
        if d["hazard"] == "emergency_braking":
            traffic[1] = False  # the braking leader: EmergencyBraking-v0's IDM vehicle, whatever the traffic
            assert s.time_wanted[b, 1] == IDMVehicle.TIME_WANTED
        assert (s.time_wanted[b, traffic] == headway).all()
        assert s.static[b].any() == (d["hazard"] == "work_zone") and np.isfinite(s.zone_end[b]) == s.static[b].any()
    assert {d["other_vehicles_type"] for d in draws} == {"idm", "idm_aggressive", "idm_defensive"}
    assert {d["hazard"] for d in draws} == hazards
    for b, d in enumerate(draws):  # highway-env runs the same draws: highway-fast-v0 or the hazard's env
        env_id, update = highway_env_scenario({**family.config, **d})
        assert env_id == ENV_IDS[d["hazard"]]
        hw = gym.make(env_id, config=to_highway_config(update)).unwrapped  # (laneforge's envs check every key)
        hw.reset(seed=0)
        assert len(hw.road.network.graph["0"]["1"]) == d["lanes_count"]
        assert len(hw.road.objects) == (6 if d["hazard"] == "work_zone" else 0)
        if d["hazard"] == "work_zone":  # the same closed lane on both simulators
            closed = closed_lane_ids({**update, "lanes_count": d["lanes_count"]})
            assert {o.lane_index[2] for o in hw.road.objects} == set(closed)
            assert set(np.unique(venv.core.state.lane[b][venv.core.state.static[b]])) == set(closed)


def test_training_on_a_family_records_it_and_what_was_drawn(tmp_path):
    run = tmp_path / "run"
    proc = run_cli("train.py", "--config", "configs/fast_highway_ppo.yaml", "--run-dir", str(run), "--wandb", "disabled",
                   "env.family=configs/families/highway_density.yaml", "env.n_envs=16", "algo.n_steps=8",
                   "algo.batch_size=64", "algo.n_epochs=1", "train.total_timesteps=512", "train.eval_freq=100000",
                   "train.checkpoint_freq=100000", "train.progress_bar=false")
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["env"]["family"]["name"] == "highway_density"  # the content, not the path
    assert config["env"]["config"]["vehicles_count"] == 30
    drawn = json.loads((run / "train_summary.json").read_text())["family"]
    assert drawn["name"] == "highway_density" and drawn["draws"] >= 16
    assert 0.5 <= drawn["keys"]["vehicles_density"]["min"] <= drawn["keys"]["vehicles_density"]["max"] <= 2.5
    # a resumed run goes on drawing where it stopped: its summary counts the first session's draws too
    proc = run_in_process("train.py", "--resume", str(run), "train.total_timesteps=768")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run / "train_summary.json").read_text())["family"]["draws"] > drawn["draws"]
    # evaluate.py without a suite judges such a run on held-out draws of its family
    proc = run_in_process("evaluate.py", str(run), "--episodes", "4", "--no-video", "--no-progress", "--wandb", "disabled")
    assert proc.returncode == 0, proc.stderr
    (scenario,) = json.loads((run / "eval" / "train_env" / "report.json").read_text())["scenarios"]
    assert scenario["family"]["name"] == "highway_density" and scenario["family"]["seed"] == 1_000_000


def test_sampler_state_round_trips_streams_and_statistics():
    family = parse_family(_family(duration={"choice": [3, 7], "weights": [1, 3]}, lanes_count={"uniform": [2, 4]}))
    whole, first = FamilySampler(family, 5, 4), FamilySampler(family, 5, 4)
    for _ in range(6):
        whole.draw([0, 2, 3])
    for _ in range(3):
        first.draw([0, 2, 3])
    state = json.loads(json.dumps(first.get_state()))  # as a checkpoint's state.json holds it
    resumed = FamilySampler(family, 5, 4)
    resumed.set_state(state)
    for _ in range(3):
        resumed.draw([0, 2, 3])
    assert list(resumed.recent) == list(whole.recent)[9:]  # the same draws as without the stop
    assert resumed.statistics() == whole.statistics() and whole.statistics()["draws"] == 18
    with pytest.raises(ValueError, match="does not fit"):
        FamilySampler(family, 5, 3).set_state(state)


def test_resumed_sampler_keeps_the_runs_own_n_scenarios():
    """A resumed run builds its sampler with another seed (training reseeds its envs); with
    ``scenarios: N`` it must go on with the N scenarios it trained on, not draw a second table."""
    family = parse_family({**_family(vehicles_density={"uniform": [0.5, 2.5]}), "scenarios": 5})
    whole, first = FamilySampler(family, 5, 4), FamilySampler(family, 5, 4)
    for _ in range(6):
        whole.draw([0, 1, 2, 3])
    for _ in range(3):
        first.draw([0, 1, 2, 3])
    resumed = FamilySampler(family, 5 + 12_345, 4)  # as train.py resumes: seed + step
    assert resumed.table != first.table
    resumed.set_state(json.loads(json.dumps(first.get_state())))
    assert resumed.table == first.table
    for _ in range(3):
        resumed.draw([0, 1, 2, 3])
    assert list(resumed.recent) == list(whole.recent)[12:]
    assert {d["vehicles_density"] for d in whole.recent} <= {d["vehicles_density"] for d in first.table}


def test_bad_family_on_the_command_line_exits_2(tmp_path):
    bad = tmp_path / "fam.yaml"
    bad.write_text(yaml.safe_dump(_family(duration={"uniform": [20, 10]})))
    proc = run_in_process("train.py", "--config", "configs/fast_highway_ppo.yaml", f"env.family={bad}", "--dry-run")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "env.family:" in proc.stderr and "draw.duration.uniform: low must not exceed high" in proc.stderr
    proc = run_in_process("train.py", "--config", "configs/highway_dqn.yaml",
                          "env.family=configs/families/highway_density.yaml", "--dry-run")
    assert proc.returncode == 2 and "env.id 'highway-fast-v0' and env.family" in proc.stderr


def _family_suite(tmp_path: Path, scenario_extra: str = "") -> Path:
    family = tmp_path / "fam.yaml"
    family.write_text(yaml.safe_dump({"env_id": FAST, "config": {"vehicles_count": 3, "vehicles_density": 0.3},
                                      "draw": {"duration": {"choice": [3, 7]}}}))
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: fs\nscenarios:\n  - {{name: drawn, env_id: {FAST}, split: seen, family: {family}"
                     f"{scenario_extra}}}\n")
    return suite


def test_suite_scenario_names_a_family_checked_at_load(tmp_path):
    from envs.suites import HELD_OUT_SEED, SuiteError, load_suite

    (sc,) = load_suite(_family_suite(tmp_path)).scenarios
    assert sc.family.name == "fam" and sc.family_seed == HELD_OUT_SEED and sc.env_config["vehicles_count"] == 3
    for extra, message in ((", env_config: {duration: 5}", r"env_config\.duration: drawn by the family"),
                           (", twin: {env_id: laneforge/FastHighway-v0}", "drop the twin")):
        with pytest.raises(SuiteError, match=message):
            load_suite(_family_suite(tmp_path, extra))
    suite = tmp_path / "other.yaml"
    suite.write_text(f"scenarios:\n  - {{name: x, env_id: highway-fast-v0, split: seen, family: {tmp_path / 'fam.yaml'}}}\n")
    with pytest.raises(SuiteError, match="draws for laneforge/FastHighway-v0, not the scenario's highway-fast-v0"):
        load_suite(suite)


def test_family_scenario_evaluates_held_out_draws_the_same_with_any_workers(dqn_run, tmp_path):
    from tests.conftest import copy_run

    run = copy_run(dqn_run, tmp_path)
    suite = _family_suite(tmp_path)
    reports = []
    for workers in ("1", "2"):
        proc = run_in_process("evaluate.py", str(run), "--suite", str(suite), "--simulator", "twin", "--twins-only",
                              "--episodes", "24", "--video-episodes", "1", "--workers", workers, "--name", f"w{workers}",
                              "--no-progress", "--wandb", "disabled")
        assert proc.returncode == 0, proc.stderr
        reports.append(json.loads((run / "eval" / f"w{workers}" / "report.json").read_text()))
    (drawn,) = reports[0]["scenarios"]
    assert drawn["family"]["name"] == "fam" and drawn["family"]["seed"] == 1_000_000
    lengths = {row["length"] for row in drawn["per_episode"] if not row["crashed"]}
    assert lengths <= {3, 7} and len(lengths) == 2  # each episode played a drawn duration
    for row in drawn["per_episode"]:  # each episode says what it drew, and it played that draw
        assert set(row["scenario"]) == {"duration"}
        assert row["crashed"] or row["length"] == row["scenario"]["duration"]  # policy frequency 1 Hz
    assert reports[0]["scenarios"][0]["per_episode"] == reports[1]["scenarios"][0]["per_episode"]


def test_family_draws_play_on_highway_env_and_on_the_twin(dqn_run, tmp_path):
    """on_highway_env: each held-out draw is played on highway-env (highway-fast-v0 or the drawn
    hazard's env), the draw recorded per episode; --simulator twin plays the family on FastHighway."""
    from envs.suites import highway_env_draw, load_suite
    from tests.conftest import copy_run

    run = copy_run(dqn_run, tmp_path)
    family = tmp_path / "fam.yaml"
    family.write_text(yaml.safe_dump({"env_id": FAST, "config": {"vehicles_count": 5, "duration": 4},
                                      "draw": {"lanes_count": {"uniform": [2, 4]},
                                               "hazard": {"choice": [None, "emergency_braking"]}}}))
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: hw\nscenarios:\n  - {{name: drawn, env_id: {FAST}, split: seen, family: {family}, "
                     f"on_highway_env: true}}\n")
    (sc,) = load_suite(suite).scenarios
    proc = run_in_process("evaluate.py", str(run), "--suite", str(suite), "--episodes", "8", "--video-episodes", "1",
                          "--name", "hw", "--no-progress", "--wandb", "disabled")
    assert proc.returncode == 0, proc.stderr
    (drawn,) = json.loads((run / "eval" / "hw" / "report.json").read_text())["scenarios"]
    assert drawn["simulator"] == "highway-env" and drawn["family"]["name"] == "fam" and len(drawn["videos"]) == 1
    for row in drawn["per_episode"]:
        draw, env_id, config = highway_env_draw(sc, row["seed"])
        assert row["scenario"] == draw and config["lanes_count"] == draw["lanes_count"]
        assert env_id == ("laneforge/EmergencyBraking-v0" if draw["hazard"] else "highway-fast-v0")
        assert (row["success"] is not None) == bool(draw["hazard"])  # EmergencyBraking-v0 reports success
    assert {row["scenario"]["hazard"] for row in drawn["per_episode"]} == {None, "emergency_braking"}
    proc = run_in_process("evaluate.py", str(run), "--suite", str(suite), "--episodes", "6", "--no-video",
                          "--simulator", "twin", "--twins-only", "--name", "tw", "--no-progress", "--wandb", "disabled")
    assert proc.returncode == 0, proc.stderr
    (twin,) = json.loads((run / "eval" / "tw" / "report.json").read_text())["scenarios"]
    assert twin["simulator"] == FAST and all("scenario" in row for row in twin["per_episode"])


@pytest.mark.parametrize("scenario, message", [
    ("{name: a, env_id: highway-fast-v0, split: seen, on_highway_env: true}", "name a family"),
    ("{name: a, env_id: FAST, split: seen, family: FAMILY, on_highway_env: true}", "driver_mix, which only FastHighway"),
])
def test_on_highway_env_needs_a_family_highway_env_can_simulate(tmp_path, scenario, message):
    from envs.suites import SuiteError, load_suite

    family = tmp_path / "fam.yaml"
    family.write_text(yaml.safe_dump({"env_id": FAST, "draw": {"driver_mix": {"choice": [{"normal": 1.0}]}}}))
    suite = tmp_path / "suite.yaml"
    suite.write_text("scenarios:\n  - " + scenario.replace("FAMILY", str(family)).replace("FAST", FAST) + "\n")
    with pytest.raises(SuiteError, match=message):
        load_suite(suite)
