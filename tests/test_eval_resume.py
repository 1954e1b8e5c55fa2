"""An interrupted evaluation resumes to the report of an uninterrupted one; an evaluation
with other settings is refused (exit 2) instead of mixed in."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import agents.evaluation.tasks as eval_tasks
from agents.errors import Interrupted, UserError
from agents.evaluation.suite_run import evaluate_run
from envs.suites import Scenario
from tests.conftest import ROOT, cli_env, copy_run, run_cli

SCENARIOS = [Scenario("near", "seen", "highway-fast-v0", {"vehicles_count": 5, "duration": 5}),
             Scenario("far", "unseen", "highway-fast-v0", {"vehicles_count": 8, "duration": 4, "lanes_count": 3})]
SETTINGS = dict(episodes=3, seed=0, video_episodes=1, progress=False, save_rollouts=True)
RUN_TASK = eval_tasks.run_task


@pytest.fixture
def run(dqn_run, tmp_path) -> Path:
    return copy_run(dqn_run, tmp_path)


def interrupt_after(monkeypatch: pytest.MonkeyPatch, n_tasks: int) -> None:
    """Make evaluation raise KeyboardInterrupt once ``n_tasks`` more tasks have finished."""
    calls = []

    def run_task(*args, **kwargs):
        if len(calls) == n_tasks:
            raise KeyboardInterrupt
        calls.append(1)
        return RUN_TASK(*args, **kwargs)

    monkeypatch.setattr(eval_tasks, "run_task", run_task)


def evaluate(run: Path, name: str, **changes) -> Path:
    return evaluate_run(run, name, changes.pop("scenarios", SCENARIOS), **{**SETTINGS, **changes})


def comparable(report: Path) -> dict:
    data = json.loads(report.read_text())
    for sc in data["scenarios"]:
        sc["videos"] = [Path(v).name for v in sc["videos"]]
    return {k: v for k, v in data.items() if k not in ("created", "suite")}


def test_interrupted_evaluation_resumes_to_the_same_report(run, monkeypatch):
    full = evaluate(run, "full")
    cut_dir = run / "eval" / "cut"
    for n_tasks in (1, 2):  # tasks per scenario: its recorded episode, then the other two in one chunk
        interrupt_after(monkeypatch, n_tasks)
        with pytest.raises(Interrupted):
            evaluate(run, "cut")
        assert not (cut_dir / "report.json").exists()
        if n_tasks == 1:
            first_video = cut_dir / "videos" / "near-episode-0.mp4"
            recorded = first_video.stat().st_mtime_ns
    assert len(list((cut_dir / "partial" / "episodes").glob("*.json"))) == 3
    monkeypatch.undo()
    report = evaluate(run, "cut", workers=2)  # another task plan: results are kept by seed
    assert comparable(report) == comparable(full)
    # the video recorded before the first interrupt was kept, the missing one recorded, none doubled
    assert first_video.stat().st_mtime_ns == recorded
    assert sorted(p.name for p in (cut_dir / "videos").iterdir()) == ["far-episode-0.mp4", "near-episode-0.mp4"]
    for sc in ("near", "far"):
        with np.load(full.parent / "rollouts" / f"{sc}.npz") as a, np.load(cut_dir / "rollouts" / f"{sc}.npz") as b:
            assert a.files == b.files
            for key in a.files:
                assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key], equal_nan=True), key
    assert not (cut_dir / "partial").exists()

    # a finished report with the same settings: nothing is evaluated again
    interrupt_after(monkeypatch, 0)
    assert evaluate(run, "cut") == report
    assert comparable(report) == comparable(full)


@pytest.fixture(scope="module")
def cut_run(dqn_run, tmp_path_factory) -> Path:
    """A run whose evaluation "cut" was interrupted after its first task."""
    run = copy_run(dqn_run, tmp_path_factory.mktemp("cut"))
    with pytest.MonkeyPatch.context() as monkeypatch:
        interrupt_after(monkeypatch, 1)
        with pytest.raises(Interrupted):
            evaluate(run, "cut")
    return run


@pytest.mark.parametrize("change, says", [
    ({"episodes": 4}, "--episodes 3, not 4"),
    ({"seed": 1}, "--seed 0, not 1"),
    ({"model": "best"}, "another model: --model model at 200 timesteps"),
    ({"scenarios": SCENARIOS[:1]}, "another suite: the scenarios near, far, not near"),
    ({"scenarios": [SCENARIOS[0], Scenario("far", "unseen", "highway-fast-v0", {"vehicles_count": 9})]},
     "scenario 'far' with env_config"),
    ({"video_episodes": 2}, "--video-episodes 1, not 2"),
])
def test_unfinished_evaluation_with_other_settings_is_refused(cut_run, change, says):
    partial = cut_run / "eval" / "cut" / "partial"
    before = {p: p.stat().st_mtime_ns for p in partial.rglob("*")}
    assert len(before) == 4  # settings.json, episodes/, the first task's results and trajectories
    with pytest.raises(UserError, match="--name NEW") as err:
        evaluate(cut_run, "cut", **change)
    assert says in str(err.value) and "unfinished evaluation" in str(err.value)
    assert {p: p.stat().st_mtime_ns for p in partial.rglob("*")} == before  # left as it was


def test_report_of_other_settings_exits_2(run):
    report = evaluate_run(run, "train_env", None, episodes=2, seed=0, video_episodes=0, progress=False)
    before = report.read_text()
    proc = run_cli("evaluate.py", str(run), "--episodes", "3", "--no-video", "--no-progress", "--wandb", "disabled")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "a report made with --episodes 2, not 3" in line and "--name NEW" in line
    assert report.read_text() == before


def test_sigterm_keeps_finished_episodes_and_says_how_to_continue(run):
    """A scheduler's time limit (SIGTERM) during evaluation: exit 143, finished tasks kept, and
    the same command completes the report."""
    args = ["evaluate.py", str(run), "--episodes", "20", "--no-video", "--log-every", "0", "--name", "term",
            "--wandb", "disabled"]
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # the first finished task's progress line
        if line.startswith("eval term"):
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 143, rest
    assert "rerun the same command to continue" in rest and "Traceback" not in rest
    partial = run / "eval" / "term" / "partial"
    assert any(partial.rglob("*")) and not (run / "eval" / "term" / "report.json").exists()
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    report = json.loads((run / "eval" / "term" / "report.json").read_text())
    assert report["scenarios"][0]["episodes"] == 20 and not partial.exists()
