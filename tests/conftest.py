"""Shared fixtures: tiny budgets and small envs so the whole suite stays fast."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent

# A few vehicles and short episodes: highway-fast-v0 at ~100+ steps/s.
SMALL_ENV = ["env.config.vehicles_count=5", "env.config.duration=8"]
TINY_DQN = [*SMALL_ENV, "train.total_timesteps=200", "algo.learning_starts=50", "algo.buffer_size=1000",
            "train.eval_freq=100", "train.eval_episodes=2", "train.checkpoint_freq=100",
            "network.net_arch=[32,32]"]
TINY_PPO = [*SMALL_ENV, "train.total_timesteps=128", "algo.n_steps=32", "algo.batch_size=32",
            "algo.n_epochs=1", "train.eval_freq=64", "train.eval_episodes=2", "train.checkpoint_freq=64",
            "network.net_arch=[32,32]"]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["WANDB_ERROR_REPORTING"] = "false"
    env.pop("WANDB_MODE", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_cli(*args: str, timeout: int = 300, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=cli_env(), capture_output=True,
                          text=True, timeout=timeout)


def run_in_process(script: str, *args: str) -> subprocess.CompletedProcess:
    """A CLI (``train.py``, ``evaluate.py``, ``compare.py``) run in this process, with its
    exit code and output as a subprocess would give them: seconds faster per call, for the
    many bad-input checks (each CLI also has subprocess tests)."""
    from agents.cli import run_cli as cli_main

    module = importlib.import_module(Path(script).stem)
    out, err, code, cwd = io.StringIO(), io.StringIO(), 0, os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli_main(module.main, list(args))
    except SystemExit as exc:
        code = exc.code or 0
    finally:
        os.chdir(cwd)
    return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())


def _train_tiny(tmp_path_factory, worker_id: str, name: str, config: str, wandb: str, overrides: list[str]) -> Path:
    """Train a tiny run through the CLI, once per test session: under pytest-xdist the workers
    share it (pytest-xdist's documented pattern: a file lock in the session's common temp
    folder), where each worker used to train its own copy of both runs."""
    if worker_id == "master":  # not under xdist: this process is the whole session
        return _train_tiny_into(tmp_path_factory.mktemp("runs") / name, config, wandb, overrides)
    shared = tmp_path_factory.getbasetemp().parent  # the same folder for every worker of this session
    run_dir, done = shared / "shared_runs" / name, shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(run_dir, ignore_errors=True)  # a worker that failed here left it half-written
            _train_tiny_into(run_dir, config, wandb, overrides)
            done.touch()
    return run_dir


def _train_tiny_into(run_dir: Path, config: str, wandb: str, overrides: list[str]) -> Path:
    proc = run_cli("train.py", "--config", config, "--run-dir", str(run_dir), "--wandb", wandb, *overrides)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"python evaluate.py {run_dir}" in proc.stdout  # the next command, ready to copy
    return run_dir


def tree_hash(folder: Path) -> str:
    """sha256 over every file's relative path and bytes."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def copy_run(run_dir: Path, parent: Path, name: str = "run") -> Path:
    """A private copy of a shared run folder for a test that writes (evaluations, damage)."""
    return Path(shutil.copytree(run_dir, parent / name))


def _read_only(run_dir: Path):
    """Shared session runs are read-only: a test that writes must :func:`copy_run` first.
    The check runs when the session ends and fails it if any file changed."""
    before = tree_hash(run_dir)
    yield run_dir
    assert tree_hash(run_dir) == before, f"a test wrote into the shared run {run_dir}; copy_run() it first"


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks (--dist loadgroup)
def pytest_collection_modifyitems(config, items):
    """How pytest-xdist shares the tests out (pyproject's ``--dist loadgroup``): a test that uses a
    module-scoped fixture stays on one worker with the rest of its file (the fixture is built once,
    as ``--dist loadfile`` did); every other test goes to whichever worker is free. Under loadfile
    one file's subprocess-heavy tests (the experiment grids, Ray's among them) queued on one
    worker for minutes while the other sat idle."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)  # None: not a plain test function; keep it with its file
        if info is None or any(defs[-1].scope == "module" for defs in info.name2fixturedefs.values() if defs):
            item.add_marker(pytest.mark.xdist_group(item.path.name))


@pytest.fixture(scope="session")
def dqn_run(tmp_path_factory, worker_id):
    """A tiny DQN run trained through the CLI, W&B offline (read-only)."""
    yield from _read_only(_train_tiny(tmp_path_factory, worker_id, "dqn", "configs/highway_dqn.yaml", "offline", TINY_DQN))


@pytest.fixture(scope="session")
def ppo_run(tmp_path_factory, worker_id):
    """A tiny PPO run (2 subprocess envs) trained through the CLI, W&B disabled (read-only)."""
    yield from _read_only(_train_tiny(tmp_path_factory, worker_id, "ppo", "configs/highway_ppo.yaml", "disabled", TINY_PPO))
