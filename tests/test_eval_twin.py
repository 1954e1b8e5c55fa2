"""Judging scenarios on a batched twin: suite files that name one, the batched episode loop
against the single-env one, blocks independent of --workers, what report.json says judged
each scenario, and stalls flagged in every report format."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from agents.evaluation.episodes import aggregate, model_policy, run_batch, run_episode, summary
from agents.evaluation.tasks import BATCH_EPISODES, Plan
from envs.factory import make_batched_core, make_env
from envs.suites import SuiteError, load_suite, parse_suite
from tests.conftest import copy_run, run_cli

ROOT = Path(__file__).parent.parent
FAST = "laneforge/FastHighway-v0"


def _suite(twin: dict, env_config: dict | None = None, env_id: str = "highway-fast-v0") -> dict:
    return {"name": "t", "scenarios": [{"name": "road", "env_id": env_id, "split": "seen",
                                        "env_config": env_config or {}, "twin": twin}]}


def test_shipped_generalization_suite_names_twins_for_the_highway_scenarios():
    suite = load_suite(ROOT / "configs/suites/highway_generalization.yaml")
    twins = {sc.name: sc.twin for sc in suite.scenarios if sc.twin is not None}
    assert set(twins) == {"highway_fast", "dense_traffic", "more_lanes", "fewer_lanes", "work_zone",
                          "work_zone_two_lanes_closed", "emergency_braking"}
    assert suite.get("work_zone").on("twin").env_config["hazard"] == "work_zone"
    dense = suite.get("dense_traffic")
    judged = dense.on("twin")
    assert (judged.env_id, judged.env_config) == (FAST, {"vehicles_density": 2.0, "vehicles_count": 30})
    assert dense.on("highway-env") is dense
    assert suite.get("merge").on("twin") is suite.get("merge")  # no twin: judged on highway-env
    with pytest.raises(ValueError, match="simulator: must be one of highway-env, twin"):
        dense.on("fast")


@pytest.mark.parametrize("suite, message", [
    (_suite({"env_id": FAST, "env_config": {}}, {"vehicles_density": 2.0}),
     r"t: scenarios\[0\]\.twin\.env_config\.vehicles_density: 1 differs from the scenario's 2\.0; a twin must "
     r"simulate the same scenario"),
    (_suite({"env_id": "highway-fast-v0"}),
     r"scenarios\[0\]\.twin\.env_id: 'highway-fast-v0' is not a batched simulator; a twin is one of: "
     r"laneforge/FastHighway-v0"),
    (_suite({"env_id": FAST, "config": {}}), r"scenarios\[0\]\.twin\.config: unknown key.*valid keys: env_id, env_config"),
    (_suite({"env_id": "laneforge/FastHighwy-v0"}), r"scenarios\[0\]\.twin\.env_id: unknown environment .*did you mean"),
    (_suite({"env_id": FAST, "env_config": {"lanes_cont": 4}}), r"scenarios\[0\]\.twin\.env_config\.lanes_cont"),
    # aggressive drivers: FastHighway simulates IDM traffic only, and says so
    (_suite({"env_id": FAST, "env_config": {"other_vehicles_type": "aggressive"}},
            {"other_vehicles_type": "aggressive"}), r"scenarios\[0\]\.twin\.env_config\.other_vehicles_type"),
])
def test_a_twin_that_cannot_stand_in_is_refused_naming_the_key(suite, message):
    with pytest.raises(SuiteError, match=message) as info:
        parse_suite(suite, source="t")
    assert "\n" not in str(info.value)


def test_a_twin_may_differ_in_rendering_and_observation_only():
    suite = parse_suite(_suite({"env_id": FAST, "env_config": {"screen_width": 300, "backend": "numpy",
                                                                 "observation": {"type": "Kinematics",
                                                                                 "vehicles_count": 7}}}))
    assert suite.scenarios[0].twin.env_config["screen_width"] == 300


def test_bad_twin_in_a_suite_file_exits_2_with_one_line(dqn_run, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("scenarios:\n  - {name: a, env_id: highway-fast-v0, split: seen, env_config: {lanes_count: 4},\n"
                    "     twin: {env_id: laneforge/FastHighway-v0}}\n")
    proc = run_cli("evaluate.py", str(dqn_run), "--suite", str(path), "--simulator", "twin")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "twin.env_config.lanes_count: 3 differs" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_batch_of_one_plays_the_single_env_episode_exactly(dqn_run):
    """run_batch and run_episode feed the same recorder: one env seeded s is the same episode."""
    from agents.rundir.loading import load_run

    run = load_run(dqn_run)
    policy = model_policy(run.model)
    env = make_env(FAST, {})
    for seed in (3, 11):
        single = run_episode(policy, env, seed).row()
        (batched,) = run_batch(policy, make_batched_core(FAST, 1, {}), seed, [seed])
        assert batched.row() == single


def test_batched_blocks_do_not_depend_on_workers_or_chunks():
    plan = Plan(episodes=2500, seed_base=100, videos=2, video_dir=Path("v"))
    for chunk in (1, 10):
        tasks = plan.tasks(0, set(), chunk, batched=True)
        assert [len(t.seeds) for t in tasks] == [1, 1, BATCH_EPISODES, BATCH_EPISODES, 498]
        assert [t.batched for t in tasks] == [False, False, True, True, True]
        assert tasks[2].seeds[0] == 102 and tasks[4].seeds[-1] == 2599
    done = set(range(102, 102 + BATCH_EPISODES)) | {100}  # a finished block and video 0
    left = plan.tasks(0, done, 10, batched=True)
    assert [t.seeds[0] for t in left] == [101, 102 + BATCH_EPISODES, 102 + 2 * BATCH_EPISODES]


def test_twin_evaluation_says_what_judged_each_scenario(dqn_run, tmp_path):
    from tests.conftest import run_in_process

    dqn_run = copy_run(dqn_run, tmp_path)
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nscenarios:\n"
                     "  - {name: road, env_id: highway-fast-v0, split: seen, env_config: {duration: 8},\n"
                     "     twin: {env_id: laneforge/FastHighway-v0, env_config: {duration: 8}}}\n"
                     "  - {name: zone, env_id: laneforge/WorkZone-v1, split: unseen, env_config: {duration: 8}}\n")
    outs = []
    for workers in ("1", "2"):
        name = f"w{workers}"
        proc = run_in_process("evaluate.py", str(dqn_run), "--suite", str(suite), "--simulator", "twin", "--episodes", "16",
                       "--video-episodes", "1", "--workers", workers, "--name", name, "--no-progress",
                       "--wandb", "disabled")
        assert proc.returncode == 0, proc.stderr
        outs.append(json.loads((dqn_run / "eval" / name / "report.json").read_text()))
    road, zone = outs[0]["scenarios"]
    assert road["simulator"] == FAST and road["judged_by"] == {"env_id": FAST, "env_config": {"duration": 8}}
    assert road["env_id"] == "highway-fast-v0" and road["episodes"] == 16
    assert zone["simulator"] == "highway-env" and "judged_by" not in zone
    assert [s["per_episode"] for s in outs[0]["scenarios"]] == [s["per_episode"] for s in outs[1]["scenarios"]]
    assert outs[0]["settings"]["scenarios"][0]["simulator"] == FAST
    assert "laneforge/FastHighway-v0" in (dqn_run / "eval" / "w1" / "report.md").read_text()
    # the default report folder of a twin evaluation is <suite>-twin, apart from highway-env's
    proc = run_in_process("evaluate.py", str(dqn_run), "--suite", str(suite), "--simulator", "twin", "--episodes", "2",
                   "--no-video", "--no-progress", "--wandb", "disabled")
    assert proc.returncode == 0 and (dqn_run / "eval" / "s-twin" / "report.json").is_file()


def _stalled_report(tmp_path: Path) -> dict:
    rows = [{"crashed": 0.0, "stalled": s, "progress": p, "success": None, "return": 3.0, "length": 30,
             "mean_speed": 1.0 if s else 20.0, "hard_brakes": 0, "km": 0.5} for s, p in ((1.0, 0.05), (0.0, 0.6))]
    scenarios = [{"name": "parked", "split": "unseen", "env_id": "roundabout-v1", "simulator": "highway-env",
                  "status": "ok", "episodes": 2, "metrics": aggregate(rows), "videos": [], "per_episode": rows},
                 {"name": "fine", "split": "seen", "env_id": "highway-fast-v0", "simulator": FAST,
                  "status": "ok", "episodes": 2, "metrics": aggregate([{**r, "stalled": 0.0} for r in rows]),
                  "videos": [], "per_episode": [{**r, "stalled": 0.0} for r in rows]}]
    report = {"suite": "s", "run_dir": str(tmp_path), "created": "now", "scenarios": scenarios,
              "model": {"algo": "ppo", "network": "mlp", "timesteps": 1, "train_env": "highway-fast-v0"},
              "summary": summary(scenarios)}
    return json.loads(json.dumps(report))


def test_stalls_are_flagged_in_markdown_html_and_console(tmp_path):
    from rich.console import Console

    from agents.evaluation.report import page, print_report_summary, report_markdown

    report = _stalled_report(tmp_path)
    assert report["summary"]["unseen"]["stall_rate"]["mean"] == 0.5
    md = report_markdown(report)
    parked = next(line for line in md.splitlines() if line.startswith("| parked |"))
    fine = next(line for line in md.splitlines() if line.startswith("| fine |") and "highway-fast-v0" in line)
    assert "**STALLED 0.5" in parked and "STALLED" not in fine
    assert f"| {FAST} |" in fine and "| highway-env |" in parked
    html = page(report, tmp_path, tmp_path)
    assert html.count("class='stalled'") == 1 and "STALLED 0.5" in html
    console = Console(width=200, record=True, file=io.StringIO(), force_terminal=True)
    print_report_summary(report, console)
    styled = console.export_text(styles=True)
    assert "\x1b[1;31m0.5" in styled  # bold red


def test_hard_braking_rate_in_the_report_is_per_km_over_all_episodes():
    rows = [{"hard_brakes": 2, "km": 1.0}, {"hard_brakes": 1, "km": 0.25}]
    assert aggregate(rows)["hard_braking_per_km"]["mean"] == pytest.approx(3 / 1.25)  # not (2 + 4) / 2
    assert np.isnan(aggregate([{"hard_brakes": 0, "km": 0.0}])["hard_braking_per_km"]["mean"])


def test_twins_only_keeps_the_scenarios_with_a_twin_and_refuses_misuse(dqn_run, tmp_path):
    from tests.conftest import run_in_process

    dqn_run = copy_run(dqn_run, tmp_path)
    smoke = str(ROOT / "configs/suites/smoke.yaml")  # no twins
    for args, message in ((["--twins-only"], "--twins-only goes with --simulator twin"),
                          (["--simulator", "twin", "--twins-only"], "--twins-only needs --suite"),
                          (["--simulator", "twin", "--twins-only", "--suite", smoke], "no scenario of")):
        proc = run_in_process("evaluate.py", str(dqn_run), *args)
        assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    suite = str(ROOT / "configs/suites/highway_generalization.yaml")
    proc = run_in_process("evaluate.py", str(dqn_run), "--suite", suite, "--simulator", "twin", "--twins-only",
                          "--episodes", "3", "--no-video", "--no-progress", "--wandb", "disabled")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((dqn_run / "eval" / "highway_generalization-twin-only" / "report.json").read_text())
    assert [s["name"] for s in report["scenarios"]] == ["highway_fast", "dense_traffic", "more_lanes", "fewer_lanes",
                                                        "work_zone", "work_zone_two_lanes_closed", "emergency_braking"]
    assert {s["simulator"] for s in report["scenarios"]} == {FAST}
    # the hazards' success comes from the twin's info (WorkZone-v1 and EmergencyBraking-v0's own)
    assert all(s["metrics"]["success_rate"]["mean"] is not None for s in report["scenarios"][4:])
