"""Jobs on shared machines and clusters: the thread policy reaches every process, progress
shows in logs, a wall-time limit ends in a checkpoint and exit 75, and resume restores the
episode and iteration counts and ends exactly on budget."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

from agents.plainlog import PlainProgress, format_duration
from agents.rundir import checkpoints as ckpts
from tests.conftest import ROOT, cli_env, run_cli

# FastHighway PPO: 16 envs in one process, rollouts of 16 x 16 = 256 steps.
FAST_PPO = ["--config", "configs/fast_highway_ppo.yaml", "--wandb", "disabled", "env.n_envs=16",
            "algo.n_steps=16", "algo.batch_size=128", "algo.n_epochs=1", "network.net_arch=[32,32]",
            "train.eval_freq=0", "train.checkpoint_freq=0"]
ROLLOUT = 256


def _metrics(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _newest_state(run_dir: Path) -> dict:
    ckpt, _ = ckpts.latest_valid(run_dir / "checkpoints")
    assert ckpt is not None
    return json.loads((ckpt / "state.json").read_text())


# ------------------------------------------------------------------ threads


def test_entry_points_set_passive_wait_policy_before_torch_and_the_user_wins():
    code = ("import sys, os, {mod}; print('torch' in sys.modules, os.environ.get('OMP_WAIT_POLICY'), "
            "os.environ.get('GOMP_SPINCOUNT'))")
    env = {k: v for k, v in cli_env().items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    for mod in ("train", "evaluate", "compare"):
        out = subprocess.run([sys.executable, "-c", code.format(mod=mod)], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True).stdout.split()
        assert out == ["False", "PASSIVE", "10000"], mod  # set, and torch not loaded yet (libgomp reads it at load)
        mine = subprocess.run([sys.executable, "-c", code.format(mod=mod)], cwd=ROOT,
                              env={**env, "OMP_WAIT_POLICY": "ACTIVE"}, capture_output=True, text=True,
                              check=True).stdout.split()
        assert mine == ["False", "ACTIVE", "None"], mod  # the user's policy, and no spin count overriding it


def test_worker_processes_inherit_the_wait_policy(monkeypatch):
    from agents.experiments.backends.process import child_env
    from agents.experiments.backends.ray import ray_runtime_env
    from agents.runtime import prepare_process

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    prepare_process()
    assert child_env()["OMP_WAIT_POLICY"] == "PASSIVE"  # process backend and Tune trials
    for remote in (False, True):
        env_vars = ray_runtime_env("disabled", remote)["env_vars"]
        assert env_vars["OMP_WAIT_POLICY"] == "PASSIVE" and env_vars["GOMP_SPINCOUNT"] == "10000"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.delenv("GOMP_SPINCOUNT")
    env_vars = ray_runtime_env("disabled", True)["env_vars"]
    assert env_vars["OMP_WAIT_POLICY"] == "ACTIVE" and "GOMP_SPINCOUNT" not in env_vars
    # the child really gets it: a process started the way the process backend starts one
    out = subprocess.run([sys.executable, "-c", "import os; print(os.environ['OMP_WAIT_POLICY'])"],
                         env=child_env(), capture_output=True, text=True, check=True).stdout.strip()
    assert out == "ACTIVE"


# ------------------------------------------------------------------ progress in logs


def test_plain_progress_lines_rate_and_eta():
    now = [0.0]
    lines = []

    class Sink:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    p = PlainProgress("train", 1000, every_s=10, stream=Sink(), clock=lambda: now[0])
    p.update(100)  # not due yet
    assert not lines
    now[0] = 10.0
    p.update(200, episodes=3)
    assert lines[0].startswith("train  200/1,000 steps (20%)  episodes 3  20.0 steps/s  ETA 0:00:40")
    now[0] = 20.0
    p.update(300)  # 10 steps/s now: the smoothed rate moves part of the way
    assert "17.0 steps/s" in lines[-2] and "ETA 0:00:41" in lines[-2]
    assert format_duration(3725) == "1:02:05" and format_duration(float("nan")) == "-"


def test_a_run_logged_to_a_file_shows_progress_and_keeps_its_thread_count(tmp_path):
    """stderr to a file (nohup, SLURM): plain progress lines while it runs; time-based
    checkpoints; torch_threads: auto written resolved and kept by a resume."""
    log, run_dir = tmp_path / "train.log", tmp_path / "run"
    total = 40 * ROLLOUT
    with open(log, "w") as err:
        proc = subprocess.run([sys.executable, "train.py", *FAST_PPO, "--run-dir", str(run_dir),
                               f"train.total_timesteps={total}", "train.log_every_s=0.2",
                               "train.checkpoint_every_s=0.05", "train.keep_checkpoints=100"],
                              cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=err, text=True, timeout=300)
    assert proc.returncode == 0
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("train  ")]
    steps = [int(re.match(r"train  ([\d,]+)/", ln)[1].replace(",", "")) for ln in lines]
    assert len(steps) >= 3 and any(s < total for s in steps), lines  # lines came during the run
    assert steps == sorted(steps) and steps[-1] == total
    assert all(k in lines[-1] for k in (f"/{total:,} steps (100%)", "episodes ", "return ", "steps/s", "ETA"))
    assert "\x1b[" not in log.read_text()  # plain text, no terminal control codes

    saved = sorted(int(p.name.split("_")[1]) for p in ckpts.list_checkpoints(run_dir / "checkpoints"))
    assert len(saved) >= 3 and saved[-1] == total  # time-based ones (checkpoint_freq=0) plus the final one
    assert all(s % ROLLOUT == 0 for s in saved)  # PPO checkpoints hold rollout boundaries

    threads = re.search(r"torch_threads: (\S+)", (run_dir / "config.yaml").read_text())[1]
    assert threads.isdigit() and f"torch threads {threads}" in proc.stdout
    proc = run_cli("train.py", "--resume", str(run_dir), f"train.total_timesteps={total + ROLLOUT}")
    assert proc.returncode == 0, proc.stderr
    assert f"torch threads {threads}" in proc.stdout
    assert f"torch_threads: {threads}\n" in (run_dir / "config.yaml").read_text()


# ------------------------------------------------------------------ wall-time limits


def test_wall_time_limit_exits_75_with_a_checkpoint_and_the_resume_command(tmp_path):
    run_dir = tmp_path / "run"
    total = 30 * ROLLOUT + 1  # rounded up to 31 rollouts
    proc = run_cli("train.py", *FAST_PPO, "--run-dir", str(run_dir), f"train.total_timesteps={total}",
                   "train.progress_bar=false", "--max-wall-time", "1")  # over before training starts
    assert proc.returncode == 75, proc.stderr
    assert "stopped at the wall-time limit" in proc.stderr and f"python train.py --resume {run_dir}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{31 * ROLLOUT:,} env steps ({total:,} rounded up to 31 rollouts of {ROLLOUT})" in proc.stdout
    assert ckpts.latest_valid(run_dir / "checkpoints")[0] is not None
    assert not (run_dir / "train_summary.json").exists()  # unfinished
    proc = run_cli("train.py", "--resume", str(run_dir), "--max-wall-time", "1h")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run_dir / "train_summary.json").read_text())["num_timesteps"] == 31 * ROLLOUT


def test_stop_mid_rollout_then_resume_ends_exactly_on_budget_with_counts_restored(tmp_path, monkeypatch):
    from agents.training.callbacks import WallClockCallback
    from agents.config import load_config
    from agents.errors import WallTimeReached
    from agents.training.loop import resume, train

    # The limit comes in the middle of the 6th rollout (a test-side patch of the clock check).
    monkeypatch.setattr(WallClockCallback, "out_of_time", lambda self: self.num_timesteps >= 5 * ROLLOUT + 48)
    overrides = [o for o in FAST_PPO[4:] if o.startswith(("env.", "algo.", "network.", "train."))]
    cfg = load_config(ROOT / "configs/fast_highway_ppo.yaml",
                      [*overrides, "logging.wandb=disabled", "train.progress_bar=false",
                       f"train.total_timesteps={31 * ROLLOUT}"])
    run_dir = tmp_path / "run"
    try:
        train(cfg, run_dir, ["test"], deadline=0.0)
    except WallTimeReached:
        pass
    else:
        raise AssertionError("training did not stop at the limit")
    stopped = _newest_state(run_dir)
    # the checkpoint holds the last rollout boundary: its parameters are those of that update
    assert stopped["num_timesteps"] == 5 * ROLLOUT and stopped["episodes"] > 0
    monkeypatch.undo()
    resume(run_dir, ["test"])
    assert json.loads((run_dir / "train_summary.json").read_text())["num_timesteps"] == 31 * ROLLOUT
    final = _newest_state(run_dir)
    assert final["num_timesteps"] == 31 * ROLLOUT
    assert final["episodes"] > stopped["episodes"]  # PPO's episodes are counted and carried on
    iterations = [int(float(r["time/iterations"])) for r in _metrics(run_dir) if r.get("time/iterations")]
    assert iterations == list(range(1, 32))  # one per rollout, continuing across the resume


def test_a_run_that_finishes_as_its_limit_nears_is_finished_not_stopped(tmp_path, monkeypatch):
    from agents.training.callbacks import WallClockCallback
    from agents.config import load_config
    from agents.training.loop import train

    # the time left drops below the margin only once learning is over (the budget was done)
    monkeypatch.setattr(WallClockCallback, "_on_training_end", lambda self: setattr(self, "late", True))
    monkeypatch.setattr(WallClockCallback, "out_of_time", lambda self: getattr(self, "late", False))
    overrides = [o for o in FAST_PPO[4:] if o.startswith(("env.", "algo.", "network.", "train."))]
    cfg = load_config(ROOT / "configs/fast_highway_ppo.yaml",
                      [*overrides, "logging.wandb=disabled", "train.progress_bar=false",
                       f"train.total_timesteps={4 * ROLLOUT}"])
    run_dir = tmp_path / "run"
    train(cfg, run_dir, ["test"], deadline=0.0)  # no WallTimeReached: the run is complete
    assert json.loads((run_dir / "train_summary.json").read_text())["num_timesteps"] == 4 * ROLLOUT


def test_experiment_stops_at_its_wall_time_and_the_same_command_finishes_it(tmp_path):
    cmd = ["train.py", *FAST_PPO, "--seeds", "0-1", "--name", "walltime", "--storage", str(tmp_path),
           f"train.total_timesteps={8 * ROLLOUT}", "train.progress_bar=false"]
    first = run_cli(*cmd, "--max-wall-time", "1")
    assert first.returncode == 75, first.stderr
    assert "Run the same command again to continue" in first.stdout
    runs = json.loads((tmp_path / "walltime" / "experiment.json").read_text())["runs"]
    assert {r["status"] for r in runs} <= {"stopped", "not started"}  # none finished
    again = run_cli(*cmd)
    assert again.returncode == 0, again.stderr
    runs = json.loads((tmp_path / "walltime" / "experiment.json").read_text())["runs"]
    assert {r["status"] for r in runs} <= {"resumed", "done"} and all(r["steps"] == 8 * ROLLOUT for r in runs)


def test_max_wall_time_is_checked(tmp_path):
    proc = run_cli("train.py", *FAST_PPO, "--run-dir", str(tmp_path / "r"), "--max-wall-time", "soon")
    assert proc.returncode == 2 and "'soon' is not a duration" in proc.stderr and "\n" not in proc.stderr.strip()
    from agents.cli import duration

    assert duration("90m") == 5400 and duration("1h30m") == 5400 and duration("2h") == 7200 and duration("45") == 45
