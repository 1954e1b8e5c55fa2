"""Bad input through the CLIs: one clear line on stderr, exit 2, no traceback, nothing left."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import SMALL_ENV, run_cli, run_in_process


def assert_clean_failure(proc, expected: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]


@pytest.mark.parametrize("args, expected", [
    (["--config", "configs/highway_dqn.yaml", "algo.learning_rat=1"],
     "command-line override 'algo.learning_rat=1': unknown key 'algo.learning_rat' (did you mean 'algo.learning_rate'?)"),
    (["--config", "configs/highway_dqn.yaml", "learning_rate=1"], "(did you mean 'algo.learning_rate'?)"),
    (["--config", "configs/fast_highway_ppo.yml"], "(did you mean 'configs/fast_highway_ppo.yaml'?)"),
    (["--config", "configs/highway_dqn.yaml", "--max-wall-time", "0"], "must be positive"),
    (["--config", "configs/highway_dqn.yaml", "algo.gamma=high"], "algo.gamma"),
    (["--config", "configs/highway_dqn.yaml", "env.id=highway-fst-v0"], "did you mean 'highway-fast-v0'"),
    (["--config", "configs/highway_dqn.yaml", "network.type=transformer"], "unknown network type"),
    (["--config", "configs/highway_dqn.yaml", "env.id=intersection-v1"], "DQN needs a discrete action space"),
    (["--config", "configs/does_not_exist.yaml"], "config file not found"),
    (["--config", "configs/highway_dqn.yaml", "--seed", "x"], "invalid int value"),
    (["--config", "configs/highway_dqn.yaml", "--device", "tpu"], "invalid choice"),
    ([], "--config is required"),
])
def test_train_bad_input(tmp_path, args, expected):
    run_dir = tmp_path / "run"
    proc = run_in_process("train.py", *args, "--run-dir", str(run_dir))
    assert_clean_failure(proc, expected)
    assert not run_dir.exists(), "a failed start must leave no run folder"


def test_train_bad_input_in_a_real_process(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli("train.py", "--config", "configs/highway_dqn.yaml", "algo.learning_rat=1", "--run-dir", str(run_dir))
    assert_clean_failure(proc, "unknown key 'algo.learning_rat' (did you mean 'algo.learning_rate'?)")
    assert not run_dir.exists()


def test_train_refuses_non_empty_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "keep.txt").write_text("user data")
    proc = run_cli("train.py", "--config", "configs/highway_dqn.yaml", "--run-dir", str(run_dir), *SMALL_ENV)
    assert_clean_failure(proc, "exists and is not empty")
    assert (run_dir / "keep.txt").read_text() == "user data"


def test_dry_run_prints_summary_and_writes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli("train.py", "--config", "configs/highway_ppo.yaml", "--dry-run", "--run-dir", str(run_dir),
                   *SMALL_ENV)
    assert proc.returncode == 0, proc.stderr
    for word in ("observation", "action", "parameters", "device", "Discrete(5)"):
        assert word in proc.stdout
    assert not run_dir.exists()


def test_evaluate_bad_input(tmp_path, dqn_run):
    assert_clean_failure(run_cli("evaluate.py", str(tmp_path / "missing")), "run folder not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_failure(run_in_process("evaluate.py", str(empty)), "not a laneforge run folder")
    no_model = tmp_path / "no_model"
    # without eval/: other tests may already have evaluated the shared dqn_run
    shutil.copytree(dqn_run, no_model, ignore=shutil.ignore_patterns("model.zip", "eval"))
    assert_clean_failure(run_in_process("evaluate.py", str(no_model), "--episodes", "1", "--no-video"),
                         "no model in this run folder")
    assert not (no_model / "eval").exists()
    assert_clean_failure(run_in_process("evaluate.py", str(dqn_run), "--episodes", "0"), "--episodes")
