"""Suite evaluation: the report schema, seen/unseen summary, workers, incompatible scenarios,
rollouts as data, and the HTML page in a real browser."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from agents.analysis.stats import strata_mean
from agents.evaluation.episodes import METRICS as EVAL_METRICS, summary
from tests.conftest import copy_run, run_cli
from tests.test_stats import expected_ci, scipy_gap, scipy_percentile

SCENARIO_KEYS = {"name", "split", "env_id", "env_config", "status", "episodes", "metrics", "videos"}


@pytest.fixture(scope="module")
def suite_run(dqn_run, tmp_path_factory):
    """The tiny DQN run (a copy) evaluated on the smoke suite plus an incompatible scenario."""
    suite = tmp_path_factory.mktemp("suite") / "mini.yaml"
    dqn_run = copy_run(dqn_run, suite.parent)
    smoke = (Path(__file__).parent.parent / "configs/suites/smoke.yaml").read_text()
    suite.write_text(smoke.replace("name: smoke", "name: mini") + """
  - name: cartpole
    env_id: CartPole-v1
    split: unseen
    env_config: {}
""")
    proc = run_cli("evaluate.py", str(dqn_run), "--suite", str(suite), "--episodes", "4", "--video-episodes", "1",
                   "--save-rollouts", "--no-progress", "--wandb", "disabled")
    assert proc.returncode == 0, proc.stderr
    return dqn_run / "eval" / "mini"


def test_report_follows_schema(suite_run):
    report = json.loads((suite_run / "report.json").read_text())
    assert report["suite"] == "mini"
    assert {"algo", "network", "timesteps", "train_env"} <= set(report["model"])
    splits = {s["split"] for s in report["scenarios"]}
    assert splits == {"seen", "unseen"}
    for sc in report["scenarios"]:
        assert SCENARIO_KEYS <= set(sc)
        if sc["status"] != "ok":
            continue
        assert sc["episodes"] == 4
        for key, name in EVAL_METRICS.items():  # scipy's percentile bootstrap of the episodes
            if name in sc["metrics"]:
                assert sc["metrics"][name]["ci95"] == pytest.approx(expected_ci([r[key] for r in sc["per_episode"]]))
        assert len(sc["videos"]) == 1 and (suite_run.parent.parent / sc["videos"][0]).is_file()
        assert "observation" in sc.get("forced", {}) or sc["env_id"] == "highway-fast-v0"
    for metric, key in (("progress", "progress"), ("crash_rate", "crashed"), ("stall_rate", "stalled")):
        gap = report["summary"]["gap"][metric]
        seen, unseen = report["summary"]["seen"][metric], report["summary"]["unseen"][metric]
        assert gap["mean"] == pytest.approx(seen["mean"] - unseen["mean"])
        episodes = {split: [[r[key] for r in sc["per_episode"]] for sc in report["scenarios"]
                            if sc["split"] == split and sc["status"] == "ok"] for split in ("seen", "unseen")}
        assert seen["ci95"] == pytest.approx(scipy_percentile(episodes["seen"], strata_mean, seed=0))
        assert unseen["ci95"] == pytest.approx(scipy_percentile(episodes["unseen"], strata_mean, seed=1))
        assert gap["ci95"] == pytest.approx(scipy_gap(episodes["seen"], episodes["unseen"]))
    assert (suite_run / "report.md").read_text().count("| ok |") == 2


def test_incompatible_scenario_is_reported_not_crashed(suite_run):
    report = json.loads((suite_run / "report.json").read_text())
    (cartpole,) = [s for s in report["scenarios"] if s["name"] == "cartpole"]
    assert cartpole["status"] == "incompatible" and "observation" in cartpole["reason"]
    assert cartpole["episodes"] == 0


def test_rollouts_load_with_numpy_alone(suite_run):
    for path in sorted((suite_run / "rollouts").glob("*.npz")):
        with np.load(path, allow_pickle=False) as data:
            n = len(data["seed"])
            assert n == 4 and len(data["return"]) == n
            steps = len(data["actions"])
            assert len(data["observations"]) == steps == len(data["rewards"]) == len(data["ego_x"])
            assert set(np.unique(data["episode"])) == set(range(n))
            # rewards per episode add up to the returns in the report
            sums = [data["rewards"][data["episode"] == i].sum() for i in range(n)]
            assert np.allclose(sums, data["return"])


@pytest.mark.slow  # worker processes; the default run covers --workers 2 in test_eval_resume (same report)
def test_workers_give_the_same_metrics(dqn_run, tmp_path):
    dqn_run = copy_run(dqn_run, tmp_path)
    reports = []
    for workers in (1, 2):
        name = f"w{workers}"
        proc = run_cli("evaluate.py", str(dqn_run), "--suite", "configs/suites/smoke.yaml", "--episodes", "3",
                       "--no-video", "--workers", str(workers), "--name", name, "--no-progress", "--wandb", "disabled")
        assert proc.returncode == 0, proc.stderr
        reports.append(json.loads((dqn_run / "eval" / name / "report.json").read_text()))
    for a, b in zip(reports[0]["scenarios"], reports[1]["scenarios"]):
        assert a["per_episode"] == b["per_episode"] and a["metrics"] == b["metrics"]


def test_render_human_without_display_says_so(dqn_run):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "evaluate.py", str(dqn_run), "--render", "human", "--episodes", "1"],
                          cwd=Path(__file__).parent.parent, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "needs a display" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_suite_file_is_one_line(tmp_path, dqn_run):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  - name: x\n    env_id: highway-fast-v0\n    split: sideways\n")
    proc = run_cli("evaluate.py", str(dqn_run), "--suite", str(bad))
    assert proc.returncode == 2 and "split" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_summary_gap_ci_on_made_up_episodes():
    def scenario(split, values):
        return {"split": split, "status": "ok", "per_episode": [{"progress": v, "crashed": 0.0,
                                                                   "mean_speed": 20.0} for v in values]}

    rng = np.random.default_rng(1)
    values = {"seen": [rng.normal(0.8, 0.05, 200)], "unseen": [rng.normal(0.5, 0.05, 200), rng.normal(0.3, 0.05, 200)]}
    out = summary([scenario(split, v) for split, vs in values.items() for v in vs])
    gap = out["gap"]["progress"]
    assert gap["mean"] == pytest.approx(0.8 - 0.4, abs=0.02)
    assert gap["ci95"] == pytest.approx(scipy_gap(values["seen"], values["unseen"]))
    assert gap["ci95"][1] - gap["ci95"][0] < 0.05
    assert out["unseen"]["progress"]["scenarios"] == 2
    assert out["seen"]["crash_rate"]["ci95"] == [0.0, 0.0] and out["gap"]["crash_rate"]["ci95"] == [0.0, 0.0]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_page_in_headless_chromium(suite_run):
    if _chromium() is None or shutil.which("chromedriver") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium and chromium-driver (.ci/run does)")
        pytest.skip("headless Chromium not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = _chromium()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        driver.get((suite_run / "report.html").resolve().as_uri())
        report = json.loads((suite_run / "report.json").read_text())
        rows = driver.find_elements("css selector", "#scenarios tbody tr")
        assert len(rows) == len(report["scenarios"])
        n_videos = driver.execute_script("return document.querySelectorAll('video').length")
        assert n_videos == sum(1 for s in report["scenarios"] if s["videos"])
        driver.set_script_timeout(30)
        states = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const vids = Array.from(document.querySelectorAll('video'));
            const ready = v => new Promise(r => { if (v.readyState >= 2) r(); else { v.addEventListener('loadeddata', r);
                                                  v.addEventListener('error', r); v.load(); } });
            Promise.all(vids.map(ready)).then(() => done(vids.map(v => [v.readyState, v.duration, v.error && v.error.code])));
        """)
        assert states and all(rs >= 2 and dur > 0 and err is None for rs, dur, err in states), states
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()


def test_attention_run_evaluates_with_more_vehicle_rows(tmp_path):
    """An attention network trained on 15 observed vehicles runs through evaluate.py on 25,
    and its videos carry the attention overlay."""
    run_dir = tmp_path / "att"
    proc = run_cli("train.py", "--config", "configs/highway_ppo_attention.yaml", "--run-dir", str(run_dir),
                   "--wandb", "disabled", "env.config.vehicles_count=8", "env.config.duration=6",
                   "train.total_timesteps=64", "algo.n_steps=32", "algo.batch_size=32", "algo.n_epochs=1",
                   "train.eval_freq=0", "train.progress_bar=false")
    assert proc.returncode == 0, proc.stderr
    suite = tmp_path / "rows.yaml"
    suite.write_text("""name: rows
scenarios:
  - {name: same_rows, env_id: highway-fast-v0, split: seen, env_config: {vehicles_count: 8, duration: 4}}
  - name: more_rows
    env_id: highway-fast-v0
    split: unseen
    env_config: {vehicles_count: 30, vehicles_density: 2, duration: 4,
                 observation: {type: Kinematics, vehicles_count: 25}}
""")
    proc = run_cli("evaluate.py", str(run_dir), "--suite", str(suite), "--episodes", "2", "--video-episodes", "1",
                   "--no-progress", "--wandb", "disabled")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((run_dir / "eval" / "rows" / "report.json").read_text())
    same, more = report["scenarios"]
    assert same["status"] == more["status"] == "ok"
    assert same["forced"]["observation"]["vehicles_count"] == 15
    assert more["forced"]["observation"]["vehicles_count"] == 25
    import imageio

    frames = [f for f in imageio.get_reader(run_dir / more["videos"][0])]
    red = [(f[..., 0].astype(int) - f[..., 1] > 120).sum() for f in frames]
    assert max(red) > 50, "no attention lines drawn on the video"


def test_eval_wandb_run_joins_the_training_group(dqn_run, tmp_path):
    """The offline W&B eval run: job_type eval, the training run's group, per-scenario metrics
    in its summary, and the scenario table logged."""
    dqn_run = copy_run(dqn_run, tmp_path)
    from agents.rundir.wandb_offline import find_run_logs, read_run

    before = set(find_run_logs(dqn_run))
    proc = run_cli("evaluate.py", str(dqn_run), "--suite", "configs/suites/smoke.yaml", "--episodes", "2",
                   "--video-episodes", "1", "--name", "wb", "--no-progress", "--wandb", "offline")
    assert proc.returncode == 0, proc.stderr
    (log,) = set(find_run_logs(dqn_run)) - before
    logged = read_run(log)
    assert logged["run"]["job_type"] == "eval" and logged["run"]["group"] == "highway_dqn"
    assert logged["run"]["name"].endswith("__eval__wb")
    report = json.loads((dqn_run / "eval" / "wb" / "report.json").read_text())
    seen = report["scenarios"][0]
    assert logged["summary"][f"eval/{seen['name']}/return"] == pytest.approx(seen["metrics"]["return"]["mean"])
    for metric in ("progress", "stall_rate", "min_ttc", "headway_under_1s", "hard_braking_per_km", "above_speed_limit"):
        assert logged["summary"][f"eval/{seen['name']}/{metric}"] == pytest.approx(seen["metrics"][metric]["mean"])
    for split in ("seen", "unseen"):  # the headline, with its CI bounds
        crash = report["summary"][split]["crash_rate"]
        assert logged["summary"][f"eval/wb/{split}/crash_rate"] == pytest.approx(crash["mean"])
        assert logged["summary"][f"eval/wb/{split}/crash_rate_ci95_lo"] == pytest.approx(crash["ci95"][0])
    logged_keys = {k for row in logged["history"] for k in row}
    assert "eval/wb/scenarios/_type" in logged_keys  # the wandb.Table
    assert any(k.startswith("videos/") for k in logged_keys)
