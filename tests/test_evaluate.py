"""evaluate.py on a trained run: report.json per the suite schema, decodable non-black videos."""

from __future__ import annotations

import io
import json
import re

import imageio
import numpy as np
import pytest

from agents.evaluation.episodes import FINAL_EVAL_SEED_BASE
from agents.evaluation.episodes import METRICS as EVAL_METRICS
from envs.factory import default_env_config
from tests.conftest import copy_run, run_cli, run_in_process
from tests.test_stats import expected_ci

METRICS = {"return", "return_per_step", "length", "crash_rate", "mean_speed", "distance", "lane_changes_per_km",
           "progress", "stall_rate", "min_ttc", "mean_ttc", "headway_under_1s", "above_speed_limit",
           "hard_braking_per_km"}


def test_evaluate_writes_report_and_videos(dqn_run, tmp_path):
    dqn_run = copy_run(dqn_run, tmp_path)
    proc = run_cli("evaluate.py", str(dqn_run), "--episodes", "3", "--video-episodes", "1", "--log-every", "0")
    assert proc.returncode == 0, proc.stderr
    # stderr is a pipe here, not a terminal: plain progress lines instead of rich's bar
    progress = [line for line in proc.stderr.splitlines() if line.startswith("eval train_env")]
    assert progress and re.search(r"3/3 episodes \(100%\) .* episodes/s +ETA ", progress[-1]), proc.stderr
    report = json.loads((dqn_run / "eval" / "train_env" / "report.json").read_text())
    assert {"run_dir", "suite", "created", "model", "scenarios", "summary"} <= set(report)
    # the headline numbers are printed, as in the report: scenario row with return and its CI
    ret = report["scenarios"][0]["metrics"]["return"]
    row = next(line for line in proc.stdout.splitlines() if "train_env" in line and "seen" in line)
    assert f"{ret['mean']:.3g} [{ret['ci95'][0]:.3g}, {ret['ci95'][1]:.3g}]" in row
    assert report["model"]["algo"] == "dqn" and report["model"]["timesteps"] == 200
    (sc,) = report["scenarios"]
    assert sc["split"] == "seen" and sc["status"] == "ok" and sc["episodes"] == 3
    assert METRICS <= set(sc["metrics"])
    for key, name in EVAL_METRICS.items():  # each CI is scipy's percentile bootstrap of the episodes
        if name in sc["metrics"]:
            assert sc["metrics"][name]["ci95"] == pytest.approx(expected_ci([r[key] for r in sc["per_episode"]]))
    seeds = [row["seed"] for row in sc["per_episode"]]
    assert seeds == [FINAL_EVAL_SEED_BASE + i for i in range(3)]
    assert len(sc["videos"]) == 1
    reader = imageio.get_reader(dqn_run / sc["videos"][0])
    frames = [f for f in reader]
    assert reader.get_meta_data()["codec"] == "h264"
    # all simulation frames are captured (5 per policy step in highway-fast-v0), not one per step
    assert len(frames) >= 3 * sc["per_episode"][0]["length"]
    assert np.mean(frames[len(frames) // 2]) > 30, "video frames are black"
    # real time by default: the video lasts as long as the episode's simulated time
    fps = reader.get_meta_data()["fps"]
    simulated = sc["per_episode"][0]["length"] / default_env_config("highway-fast-v0")["policy_frequency"]
    assert abs(len(frames) / fps - simulated) <= 1 / fps + 1e-6, (len(frames), fps, simulated)
    # the seen/unseen headline: crash rate, progress and stalls (highway has no goal: no success)
    assert set(report["summary"]["seen"]) == {"crash_rate", "progress", "stall_rate"}
    assert sc["simulator"] == "highway-env"
    # the driving metrics of a real run follow their definitions, episode by episode
    for r in sc["per_episode"]:
        assert 0 <= r["progress"] <= 1 and 0 <= r["headway_under_1s"] <= 1 and 0 <= r["above_speed_limit"] <= 1
        assert 0 <= r["min_ttc"] <= r["mean_ttc"] <= 10
        assert r["stalled"] == float(not r["crashed"] and (r["mean_speed"] < 2 or r["progress"] < 0.1))
        assert r["km"] == pytest.approx(r["distance"] / 1000)
    brakes = sum(r["hard_brakes"] for r in sc["per_episode"]) / sum(r["km"] for r in sc["per_episode"])
    assert sc["metrics"]["hard_braking_per_km"]["mean"] == pytest.approx(brakes)


def test_evaluation_is_reproducible(dqn_run, tmp_path):
    dqn_run = copy_run(dqn_run, tmp_path)
    for name in ("a", "b"):
        proc = run_cli("evaluate.py", str(dqn_run), "--episodes", "2", "--no-video", "--name", name, "--no-progress",
                       "--log-every", "0")
        assert proc.returncode == 0, proc.stderr
        assert "episodes/s" not in proc.stderr  # --no-progress: no bar and no plain lines
    rows = [json.loads((dqn_run / "eval" / n / "report.json").read_text())["scenarios"][0]["per_episode"]
            for n in ("a", "b")]
    assert rows[0] == rows[1]


def test_help_shows_percent_signs_once(capsys):
    from evaluate import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--help"])
    out = capsys.readouterr().out
    assert "95%" in out and "95%%" not in out


@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_video_speed_sets_frames_per_second(tmp_path, speed):
    """--video-speed 1 is real time (every simulation frame at the simulation frequency);
    2 is highway-env's own convention."""
    from agents.evaluation.episodes import record_videos
    from envs.factory import make_env

    env = record_videos(make_env("highway-fast-v0", {"simulation_frequency": 15}, render_mode="rgb_array"),
                        tmp_path, "x", 1, speed=speed)
    try:
        assert env.frames_per_sec == 15 * speed
    finally:
        env.close()


def test_single_episode_report_shows_n1_and_draws(tmp_path):
    """One episode per scenario: ``ci95`` is null in report.json, "n=1" in the tables, no error
    bar in the chart; an interval that misses its mean is drawn as it is."""
    from rich.console import Console

    from agents.evaluation.episodes import aggregate, summary
    from agents.evaluation.report import chart_png, print_report_summary, report_markdown

    row = {"return": 5.0, "return_per_step": 0.5, "length": 10, "crashed": 1.0, "success": None,
           "mean_speed": 20.0, "distance": 200.0, "lane_changes_per_km": 0.0}
    scenarios = [{"name": n, "split": split, "env_id": "highway-fast-v0", "status": "ok", "episodes": 1,
                  "metrics": aggregate([row]), "videos": [], "per_episode": [row]}
                 for n, split in (("one", "seen"), ("two", "unseen"))]
    report = {"suite": "s", "run_dir": str(tmp_path), "created": "now", "scenarios": scenarios,
              "model": {"algo": "dqn", "network": "mlp", "timesteps": 1, "train_env": "highway-fast-v0"},
              "summary": summary(scenarios)}
    report = json.loads(json.dumps(report))  # as read back from report.json
    assert scenarios[0]["metrics"]["return"] == {"mean": 5.0, "std": 0.0, "ci95": None, "n": 1}
    assert report["summary"]["seen"]["crash_rate"]["ci95"] is None
    assert report["summary"]["gap"]["crash_rate"] == {"mean": 0.0, "ci95": None}
    text = report_markdown(report)
    # crash rate, success (none), progress and stalls (not in this row), return, return/step, speed, length
    assert "| one | seen | highway-fast-v0 | highway-env | ok | 1 | 1 n=1 | - | - | - | 5 n=1 | 0.5 n=1 | 20 n=1 | 10 n=1 |" in text
    assert "| crash_rate | 1 n=1 | 1 n=1 | 0 n=1 |" in text
    console = Console(width=200, record=True, file=io.StringIO())
    print_report_summary(report, console)
    assert "5 n=1" in console.export_text()
    report["scenarios"][0]["metrics"]["crash_rate"].update(ci95=[0.6, 0.7])  # misses its mean 1
    assert chart_png(report)[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_checkpoint_at_steps_picks_a_point_of_the_learning_curve(dqn_run, tmp_path):
    """--model checkpoint:N loads the valid checkpoint nearest to N env steps (within 10% of N:
    the volume axis of benchmarks/generalization.py); none that near, or a bad spelling, is one
    line and exit 2."""
    from agents.errors import UserError
    from agents.rundir.loading import load_run

    dqn_run = copy_run(dqn_run, tmp_path)
    steps = sorted(int(p.name.split("_")[1]) for p in (dqn_run / "checkpoints").iterdir())
    assert len(steps) >= 2 and steps[1] - steps[0] > 0.25 * steps[1]
    assert load_run(dqn_run, model=f"checkpoint:{steps[0]}").model.num_timesteps == steps[0]
    assert load_run(dqn_run, model=f"checkpoint:{steps[1] + 1}").model.num_timesteps == steps[1]
    assert load_run(dqn_run, model=f"checkpoint:{steps[1] - 1}").model.num_timesteps == steps[1]
    with pytest.raises(UserError, match="no valid checkpoint within 10% of"):
        load_run(dqn_run, model=f"checkpoint:{(steps[0] + steps[1]) // 2}")
    proc = run_in_process("evaluate.py", str(dqn_run), "--model", "checkpoint:1k", "--episodes", "1", "--no-video")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "checkpoint:STEPS" in proc.stderr and not (dqn_run / "eval").exists()
    proc = run_in_process("evaluate.py", str(dqn_run), "--model", f"checkpoint:{steps[0]}", "--episodes", "2", "--no-video",
                   "--name", "early", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((dqn_run / "eval" / "early" / "report.json").read_text())
    assert report["model"]["timesteps"] == steps[0]
