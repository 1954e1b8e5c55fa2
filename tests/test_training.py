"""Training through the CLI leaves a complete run folder; overrides reach the SB3 model."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from agents.config import load_config
from agents.rundir.checkpoints import latest_valid, list_checkpoints
from agents.rundir.loading import load_run
from agents.rundir.wandb_offline import find_run_logs, read_run
from agents.training.loop import build
from tests.conftest import ROOT, TINY_PPO


def _check_run_folder(run_dir, algo: str) -> None:
    for name in ("config.yaml", "provenance.json", "model.zip", "best_model.zip", "metrics.csv", "train_summary.json"):
        assert (run_dir / name).is_file(), name
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["algo"]["name"] == algo and cfg["env"]["config"]["vehicles_count"] == 5
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["packages"]["stable-baselines3"] and prov["device"] == "cpu" and "train.py" in prov["command"][1]
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    ckpt, skipped = latest_valid(run_dir / "checkpoints")
    assert ckpt is not None and not skipped
    state = json.loads((ckpt / "state.json").read_text())
    assert state["num_timesteps"] == json.loads((run_dir / "train_summary.json").read_text())["num_timesteps"]
    with open(run_dir / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert rows, "metrics.csv has no rows"
    header = list(rows[0])
    assert header[:2] == ["timesteps", "wall_s"]
    for column in ("rollout/ep_rew_mean", "rollout/ep_len_mean", "time/fps", "eval/return",
                   "rollout/reward_collision_reward", "rollout/reward_high_speed_reward"):
        assert column in header, column
    steps = [int(r["timesteps"]) for r in rows]
    assert steps == sorted(steps)
    assert any(r["eval/return"] for r in rows)


def test_dqn_run_folder_complete(dqn_run):
    _check_run_folder(dqn_run, "dqn")
    ckpts = list_checkpoints(dqn_run / "checkpoints")
    assert (ckpts[0] / "replay_buffer.npz").is_file()
    assert all(not (c / "replay_buffer.npz").exists() for c in ckpts[1:]), "only the newest keeps the buffer"


def test_ppo_run_folder_complete(ppo_run):
    _check_run_folder(ppo_run, "ppo")
    assert not any((c / "replay_buffer.npz").exists() for c in list_checkpoints(ppo_run / "checkpoints"))


def test_wandb_offline_run_holds_config_and_metrics(dqn_run):
    # other tests add evaluation runs (job_type eval) to this session-wide run folder
    train_logs = [read_run(log) for log in find_run_logs(dqn_run)]
    train_logs = [r for r in train_logs if r["run"]["job_type"] == "train"]
    assert len(train_logs) == 1
    logged = train_logs[0]
    assert logged["run"]["project"] == "laneforge" and logged["run"]["group"] == "highway_dqn"
    assert set(logged["run"]["tags"]) >= {"dqn", "mlp", "highway-fast-v0", "seed0"}
    assert logged["config"]["algo"]["buffer_size"] == 1000
    assert logged["config"]["network"]["net_arch"] == [32, 32]
    with open(dqn_run / "metrics.csv") as fh:
        csv_rows = list(csv.DictReader(fh))
    logged_returns = [h["rollout/ep_rew_mean"] for h in logged["history"] if "rollout/ep_rew_mean" in h]
    csv_returns = [float(r["rollout/ep_rew_mean"]) for r in csv_rows if r["rollout/ep_rew_mean"]]
    assert logged_returns == pytest.approx(csv_returns)
    assert logged["summary"]["params/total"] > 0


def test_load_run_api_gives_same_actions(dqn_run):
    run = load_run(dqn_run)
    assert run.model.num_timesteps == 200
    env = run.make_env()
    obs, _ = env.reset(seed=123)
    a1, _ = run.model.predict(obs, deterministic=True)
    a2, _ = load_run(dqn_run).model.predict(obs, deterministic=True)
    env.close()
    assert a1 == a2


@pytest.mark.parametrize("config, overrides, check", [
    ("highway_dqn.yaml", ["algo.learning_rate=1e-4", "algo.buffer_size=1234", "algo.gamma=0.9", "algo.batch_size=16",
                          "algo.target_update_interval=77", "network.net_arch=[64,32]", "network.activation=tanh"],
     lambda m: (m.learning_rate == 1e-4 and m.buffer_size == 1234 and m.gamma == 0.9 and m.batch_size == 16
                and m.target_update_interval == 77
                and [l.out_features for l in m.q_net.q_net if hasattr(l, "out_features")] == [64, 32, 5]
                and type(m.q_net.q_net[1]).__name__ == "Tanh")),
    ("highway_ppo.yaml", ["env.n_envs=1", "algo.n_steps=64", "algo.batch_size=32", "algo.n_epochs=3",
                          "algo.ent_coef=0.01", "network.net_arch=[16]"],
     lambda m: (m.n_steps == 64 and m.batch_size == 32 and m.n_epochs == 3 and m.ent_coef == 0.01
                and m.policy.mlp_extractor.policy_net[0].out_features == 16)),
])
def test_dotted_overrides_reach_sb3_model(config, overrides, check):
    cfg = load_config(ROOT / "configs" / config, ["env.config.vehicles_count=5", *overrides])
    built = build(cfg)
    try:
        assert check(built.model)
        assert built.model.seed == cfg.train.seed
    finally:
        built.close()


def test_a_built_model_learns_without_leaving_sb3_folders_in_tmp(tmp_path, monkeypatch):
    """SB3's learn() without a logger of its own makes an empty tempdir/SB3-<time> folder per call;
    a model from build() (benchmarks, tests, notebooks) leaves nothing there."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where SB3's configure() would put it
    cfg = load_config(ROOT / "configs" / "fast_highway_ppo.yaml",
                      ["env.n_envs=4", "algo.n_steps=8", "algo.batch_size=32", "algo.n_epochs=1", "network.net_arch=[8]"])
    built = build(cfg)
    try:
        built.model.learn(32)
        built.model.learn(32, reset_num_timesteps=False)
        assert built.model.num_timesteps == 64
        assert "train/value_loss" in built.model.logger.name_to_value  # it still records the losses
    finally:
        built.close()
    assert not list(tmp_path.glob("SB3-*"))


def test_init_from_starts_a_new_run_from_another_runs_weights(ppo_run, tmp_path):
    """train.init_from: the new run's first rollout acts with the source run's parameters; the
    source stays as it was; bad paths and misfits are one line and write nothing."""
    import io

    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    from agents.errors import UserError
    from agents.training.loop import train

    class FirstParameters(BaseCallback):
        def _on_training_start(self) -> None:
            self.params = {k: v.clone() for k, v in self.model.policy.state_dict().items()}

        def _on_step(self) -> bool:
            return True

    source = load_run(ppo_run).model.policy.state_dict()
    seen = FirstParameters()
    cfg = load_config("configs/highway_ppo.yaml", [*TINY_PPO, "train.total_timesteps=32", "train.eval_freq=0",
                                                   "logging.wandb=disabled", "train.progress_bar=false",
                                                   f"train.init_from={ppo_run}", "train.seed=7"])
    train(cfg, tmp_path / "new", [], out=io.StringIO(), extra_callbacks=[seen])
    assert seen.params.keys() == source.keys()
    assert all(torch.equal(seen.params[k], source[k]) for k in source)
    assert "init_from" in (tmp_path / "new" / "config.yaml").read_text()

    for value, message in [(tmp_path / "nothing", "train.init_from: "), (ROOT / "pretrained" / "generalist_ppo_attention",
                                                                        "does not fit the model")]:
        bad = load_config("configs/highway_ppo.yaml", [*TINY_PPO, f"train.init_from={value}"])
        with pytest.raises(UserError, match=message):
            train(bad, tmp_path / "bad", [], out=io.StringIO())
        assert not (tmp_path / "bad").exists()
