"""evaluate.py on a trained run: report.json per the suite schema, decodable non-black videos."""

from __future__ import annotations

import json
import re

import imageio
import numpy as np
import pytest

from agents.evaluation import FINAL_EVAL_SEED_BASE
from agents.stats import bootstrap_ci, summarize
from envs.factory import default_env_config
from tests.conftest import run_cli

METRICS = {"return", "return_per_step", "length", "crash_rate", "mean_speed", "distance", "lane_changes_per_km"}


def test_evaluate_writes_report_and_videos(dqn_run):
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
    for stats in sc["metrics"].values():
        lo, hi = stats["ci95"]
        assert lo <= stats["mean"] <= hi
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
    assert "return_per_step" in report["summary"]["seen"]


def test_evaluation_is_reproducible(dqn_run):
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
    from agents.evaluation import record_videos
    from envs.factory import make_env

    env = record_videos(make_env("highway-fast-v0", {"simulation_frequency": 15}, render_mode="rgb_array"),
                        tmp_path, "x", 1, speed=speed)
    try:
        assert env.frames_per_sec == 15 * speed
    finally:
        env.close()


def test_bootstrap_ci_contains_mean_and_shrinks():
    rng = np.random.default_rng(0)
    small, large = rng.normal(size=10), rng.normal(size=1000)
    for x in (small, large):
        lo, hi = bootstrap_ci(x)
        assert lo <= x.mean() <= hi
    assert np.diff(bootstrap_ci(large)) < np.diff(bootstrap_ci(small))
    assert summarize([1.0, 1.0])["ci95"] == [1.0, 1.0]
    assert np.isnan(summarize([])["mean"])
