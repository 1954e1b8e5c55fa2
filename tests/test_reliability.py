"""Never lose a run: signals, kills during writes, corrupt files, NaNs, W&B and disk faults,
determinism, and a config fuzzer."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.config import load_config
from agents.errors import TrainingStopped
from agents.rundir import checkpoints as ckpts
from agents.training.loop import train
from tests.conftest import ROOT, SMALL_ENV, TINY_DQN, cli_env, run_cli, tree_hash

KILL_RUN = [*SMALL_ENV, "train.total_timesteps=400", "algo.learning_starts=50", "algo.buffer_size=1000",
            "train.checkpoint_freq=50", "train.eval_freq=0", "network.net_arch=[32,32]",
            "train.progress_bar=false", "--wandb", "disabled"]


def _start(run_dir: Path, *fault: str) -> subprocess.Popen:
    """train.py in a child, through the test-side launcher when a fault is injected."""
    entry = ["tests/launch_train.py", *fault, "--"] if fault else ["train.py"]
    return subprocess.Popen([sys.executable, *entry, "--config", "configs/highway_dqn.yaml",
                             "--run-dir", str(run_dir), *KILL_RUN], cwd=ROOT, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("timed out waiting for training")


def _final_steps(run_dir: Path) -> int:
    return json.loads((run_dir / "train_summary.json").read_text())["num_timesteps"]


@pytest.mark.parametrize("sig, code", [
    (signal.SIGINT, 130),
    # the same path through another signal: run with -m slow (keeps the default run under 5 minutes)
    pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow),
])
def test_signal_saves_checkpoint_and_resume_finishes(tmp_path, sig, code):
    run_dir = tmp_path / "run"
    proc = _start(run_dir)
    _wait_for(lambda: bool(ckpts.list_checkpoints(run_dir / "checkpoints")), proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "resume with: python train.py --resume" in err and "Traceback" not in err
    ckpt, skipped = ckpts.latest_valid(run_dir / "checkpoints")
    assert ckpt is not None and not skipped
    interrupted_at = json.loads((ckpt / "state.json").read_text())["num_timesteps"]
    assert 0 < interrupted_at < 400
    rows_before = (run_dir / "metrics.csv").read_text().splitlines()

    proc2 = run_cli("train.py", "--resume", str(run_dir))
    assert proc2.returncode == 0, proc2.stderr
    assert f"step {interrupted_at} of 400" in proc2.stdout
    assert _final_steps(run_dir) == 400
    with open(run_dir / "metrics.csv") as fh:
        steps = [int(r["timesteps"]) for r in csv.DictReader(fh)]
    assert steps == sorted(steps) and steps[-1] > interrupted_at, "metrics.csv continues, not restarts"
    assert len(steps) >= len(rows_before) - 1
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 2


def test_sigkill_during_checkpoint_write_then_resume(tmp_path):
    run_dir = tmp_path / "run"
    proc = _start(run_dir, "--checkpoint-pause", "3")
    root = run_dir / "checkpoints"
    # wait until one checkpoint is complete and the next one is half-written
    _wait_for(lambda: bool(ckpts.list_checkpoints(root)) and any(root.glob(".tmp-step_*")), proc, timeout=180)
    proc.kill()
    proc.wait()
    assert any(root.glob(".tmp-step_*")), "the partial checkpoint is still there (and must be ignored)"
    good, _ = ckpts.latest_valid(root)
    assert good is not None
    proc2 = run_cli("train.py", "--resume", str(run_dir))
    assert proc2.returncode == 0, proc2.stderr
    assert f"from checkpoint {good.name}" in proc2.stdout
    assert _final_steps(run_dir) == 400
    assert not any(root.glob(".tmp-step_*")), "stale partial checkpoints are cleaned up"


def _flip_byte(path: Path, offset_from_end: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_damaged_checkpoints_are_skipped_and_reported(tmp_path, dqn_run):
    run_dir = tmp_path / "run"
    shutil.copytree(dqn_run, run_dir)
    all_ckpts = ckpts.list_checkpoints(run_dir / "checkpoints")
    assert len(all_ckpts) >= 2
    newest, older = all_ckpts[0], all_ckpts[1]
    model = newest / "model.zip"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])  # truncated
    ckpt, skipped = ckpts.latest_valid(run_dir / "checkpoints")
    assert ckpt == older and skipped[0][0] == newest and "checksum" in skipped[0][1]
    _flip_byte(older / "model.zip")  # bit flip
    assert ckpts.verify(older) is not None
    (all_ckpts[-1] / "manifest.json").unlink() if len(all_ckpts) > 2 else None
    before = tree_hash(run_dir)
    proc = run_cli("train.py", "--resume", str(run_dir), "train.total_timesteps=400")
    assert proc.returncode == 2, proc.stderr
    assert "no valid checkpoint" in proc.stderr and "Traceback" not in proc.stderr
    assert tree_hash(run_dir) == before, "a failed resume changes nothing"


@pytest.mark.parametrize("damage, expected", [
    ("truncate", "truncated or corrupt"),
    ("bitflip", "corrupt"),
    ("foreign", "does not fit the model"),
    ("not_sb3", "not a stable-baselines3 model"),
    ("config", "config.yaml"),
])
def test_damaged_model_or_config_fails_cleanly(tmp_path, dqn_run, ppo_run, damage, expected):
    run_dir = tmp_path / "run"
    shutil.copytree(dqn_run, run_dir, ignore=shutil.ignore_patterns("eval", "wandb"))
    model = run_dir / "model.zip"
    if damage == "truncate":
        model.write_bytes(model.read_bytes()[:1000])
    elif damage == "bitflip":
        _flip_byte(model)
    elif damage == "foreign":
        shutil.copy(ppo_run / "model.zip", model)
    elif damage == "not_sb3":
        import zipfile

        with zipfile.ZipFile(model, "w") as zf:
            zf.writestr("hello.txt", "not a model")
    elif damage == "config":
        (run_dir / "config.yaml").write_text("env: {id: highway-fast-v0\nalgo: [")
    before = tree_hash(run_dir)
    proc = run_cli("evaluate.py", str(run_dir), "--episodes", "1", "--no-video")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in proc.stderr
    assert tree_hash(run_dir) == before


def test_injected_nan_stops_training_naming_the_step(tmp_path):
    run_dir = tmp_path / "run"
    proc = _start(run_dir, "--nan-at", "180")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert "non-finite" in err and "at step 18" in err and "Traceback" not in err
    ckpt, skipped = ckpts.latest_valid(run_dir / "checkpoints")
    assert ckpt is not None and not skipped
    assert json.loads((ckpt / "state.json").read_text())["num_timesteps"] <= 180
    assert not (run_dir / "model.zip").exists()


def _tiny_cfg(*extra: str):
    return load_config(ROOT / "configs/highway_dqn.yaml",
                       [*TINY_DQN, "train.progress_bar=false", "logging.wandb=offline", *extra])


def test_wandb_failure_never_stops_training(tmp_path, monkeypatch, capsys):
    import wandb

    def broken_init(*args, **kwargs):
        raise PermissionError(f"[Errno 13] Permission denied: '{kwargs.get('dir')}/wandb'")

    monkeypatch.setattr(wandb, "init", broken_init)
    run_dir = train(_tiny_cfg("train.total_timesteps=120"), tmp_path / "run", ["test"])
    err = capsys.readouterr().err
    assert "warning: W&B could not start" in err and "Permission denied" in err
    assert (run_dir / "model.zip").is_file() and (run_dir / "metrics.csv").is_file()


def test_disk_full_while_saving_keeps_earlier_checkpoints(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = ckpts.save_replay_buffer

    def full_disk(buffer, path):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(buffer, path)

    monkeypatch.setattr(ckpts, "save_replay_buffer", full_disk)
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingStopped, match="No space left on device.*earlier checkpoints are intact"):
        train(_tiny_cfg("logging.wandb=disabled"), run_dir, ["test"])
    ckpt, skipped = ckpts.latest_valid(run_dir / "checkpoints")
    assert ckpt is not None and not skipped and ckpt.name.endswith("100")
    assert not list((run_dir / "checkpoints").glob(".tmp-*"))


def test_same_seed_same_metrics(tmp_path):
    volatile = {"wall_s", "time/fps", "time/time_elapsed"}
    tables = []
    for name in ("a", "b"):
        run_dir = train(_tiny_cfg("logging.wandb=disabled"), tmp_path / name, ["test"])
        with open(run_dir / "metrics.csv") as fh:
            tables.append([{k: v for k, v in r.items() if k not in volatile} for r in csv.DictReader(fh)])
    assert tables[0] and tables[0] == tables[1]


# ---------------------------------------------------------------- config fuzzer

_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9), st.floats(allow_nan=True),
                    st.text(max_size=12), st.lists(st.integers(-5, 300), max_size=4),
                    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2))
_KEYS = st.sampled_from([
    "env.id", "env.n_envs", "env.vec_env", "env.max_episode_steps", "env.config.lanes_count",
    "env.config.vehicles_count", "env.config.observation", "env.config.action.type", "env.config.duration",
    "env.config.other_vehicles_type", "algo.name", "algo.learning_rate", "algo.buffer_size", "algo.gamma",
    "algo.batch_size", "network.type", "network.net_arch", "network.activation", "network.mlp.layers",
    "network.mlp.dropout", "train.total_timesteps", "train.seed", "train.device", "train.torch_threads",
    "logging.wandb", "logging.experiment", "bogus.key", "train", "env",
])


@settings(max_examples=int(os.environ.get("LANEFORGE_FUZZ_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(st.tuples(_KEYS, _VALUES), min_size=1, max_size=3))
def test_config_fuzzer_never_tracebacks(mutations, capsys):
    """Random mutations of a valid config either load (dry run) or fail with exit 2 and a message."""
    import yaml

    import train as train_cli
    from agents.cli import run_cli as guard

    # A dry run builds its envs, and subproc envs are processes: an n_envs of 123 drawn beside
    # env.vec_env=subproc started 123 workers on 2 cores and stalled the run for minutes. Larger
    # counts are the validation's business (tests/test_config.py), not the fuzzer's.
    mutations = [(k, min(v, 4) if k == "env.n_envs" and type(v) is int else v) for k, v in mutations]
    overrides = [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
                 for k, v in mutations]
    with pytest.raises(SystemExit) as exit_info:
        guard(train_cli.main, ["--config", "configs/highway_dqn.yaml", "--dry-run", *SMALL_ENV, *overrides])
    err = capsys.readouterr().err
    assert exit_info.value.code in (0, 2), (overrides, err)
    if exit_info.value.code == 2:
        assert err.startswith("error: ") or "train.py: error" in err, err
