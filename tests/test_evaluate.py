"""evaluate.py on a trained run: report.json per the suite schema, decodable non-black videos."""

from __future__ import annotations

import json

import imageio
import numpy as np

from agents.evaluation import FINAL_EVAL_SEED_BASE
from agents.stats import bootstrap_ci, summarize
from tests.conftest import run_cli

METRICS = {"return", "return_per_step", "length", "crash_rate", "mean_speed", "distance", "lane_changes_per_km"}


def test_evaluate_writes_report_and_videos(dqn_run):
    proc = run_cli("evaluate.py", str(dqn_run), "--episodes", "3", "--video-episodes", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
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
    assert "return_per_step" in report["summary"]["seen"]


def test_evaluation_is_reproducible(dqn_run):
    for name in ("a", "b"):
        proc = run_cli("evaluate.py", str(dqn_run), "--episodes", "2", "--no-video", "--name", name, "--no-progress")
        assert proc.returncode == 0, proc.stderr
    rows = [json.loads((dqn_run / "eval" / n / "report.json").read_text())["scenarios"][0]["per_episode"]
            for n in ("a", "b")]
    assert rows[0] == rows[1]


def test_bootstrap_ci_contains_mean_and_shrinks():
    rng = np.random.default_rng(0)
    small, large = rng.normal(size=10), rng.normal(size=1000)
    for x in (small, large):
        lo, hi = bootstrap_ci(x)
        assert lo <= x.mean() <= hi
    assert np.diff(bootstrap_ci(large)) < np.diff(bootstrap_ci(small))
    assert summarize([1.0, 1.0])["ci95"] == [1.0, 1.0]
    assert np.isnan(summarize([])["mean"])
