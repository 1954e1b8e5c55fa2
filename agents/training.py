"""Training: build env(s) and model from a validated config, train with callbacks, and
leave a complete run folder. Everything that can fail on user input is built before the
run folder is created, so bad input leaves nothing behind."""

from __future__ import annotations

import json
import random
import signal
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from agents import checkpoints as ckpts
from agents.algos import build_model, resolve_device
from agents.callbacks import CheckpointCallback, PeriodicEvalCallback, ProgressBarCallback, RewardTermsCallback
from agents.config import ExperimentConfig, dump_config
from agents.errors import Interrupted, UserError
from agents.fileio import atomic_write, atomic_write_text
from agents.networks import count_parameters
from agents.runs import provenance, run_name, write_provenance
from agents.tracking import finish_wandb, init_wandb, make_logger
from envs.factory import EnvConfigError, make_env, newer_version


@dataclass
class Built:
    cfg: ExperimentConfig
    env: Any
    eval_env: Any
    model: Any
    device: str

    def close(self) -> None:
        for env in (self.env, self.eval_env):
            try:
                env.close()
            except Exception:  # noqa: BLE001 - workers may already be gone after Ctrl-C
                pass


def make_train_env(cfg: ExperimentConfig) -> Any:
    env_fn = partial(make_env, cfg.env.id, cfg.env.config, max_episode_steps=cfg.env.max_episode_steps)
    use_subproc = cfg.env.n_envs > 1 and cfg.env.vec_env == "subproc"
    return make_vec_env(
        env_fn, n_envs=cfg.env.n_envs, seed=cfg.train.seed,
        vec_env_cls=SubprocVecEnv if use_subproc else DummyVecEnv,
        vec_env_kwargs={"start_method": cfg.env.start_method} if use_subproc else None,
    )


def seed_everything(seed: int) -> None:
    set_random_seed(seed)  # python, numpy, torch
    random.seed(seed)


def build(cfg: ExperimentConfig) -> Built:
    """Build the env(s), the eval env and the model; raises UserError on bad input."""
    torch.set_num_threads(cfg.train.torch_threads)
    device = str(resolve_device(cfg.train.device))
    seed_everything(cfg.train.seed)
    try:
        eval_env = make_env(cfg.env.id, cfg.env.config, max_episode_steps=cfg.env.max_episode_steps)
    except EnvConfigError as exc:
        raise UserError(str(exc)) from exc
    try:
        env = make_train_env(cfg)
    except Exception:
        eval_env.close()
        raise
    try:
        model = build_model(cfg, env, device=device)
    except Exception:
        env.close()
        eval_env.close()
        raise
    return Built(cfg=cfg, env=env, eval_env=eval_env, model=model, device=device)


def parameter_counts(model: Any) -> dict[str, int]:
    policy = model.policy
    counts = {"total": count_parameters(policy)}
    for name in ("features_extractor", "q_net", "mlp_extractor", "action_net", "value_net"):
        module = getattr(policy, name, None)
        if module is not None:
            counts[name] = count_parameters(module)
    if hasattr(policy, "q_net_target"):
        counts["total"] -= count_parameters(policy.q_net_target)  # the target net is a copy
        counts["q_net_target (copy)"] = count_parameters(policy.q_net_target)
    return counts


def summary_text(built: Built) -> str:
    cfg, model = built.cfg, built.model
    lines = [
        f"env          {cfg.env.id}  x{cfg.env.n_envs} ({cfg.env.vec_env if cfg.env.n_envs > 1 else 'in-process'})",
        f"observation  {built.env.observation_space}",
        f"action       {built.env.action_space}",
        f"algorithm    {cfg.algo.name}  network {cfg.network.type}  net_arch {cfg.network.net_arch}  "
        f"activation {cfg.network.activation}",
        f"device       {built.device}  torch threads {torch.get_num_threads()}",
        "parameters   " + ", ".join(f"{k} {v:,}" for k, v in parameter_counts(model).items()),
        f"budget       {cfg.train.total_timesteps:,} env steps, seed {cfg.train.seed}",
    ]
    newer = newer_version(cfg.env.id)
    if newer:
        lines.append(f"note         {cfg.env.id} is not the newest version of this env ({newer} exists)")
    return "\n".join(lines)


def _save_model(model: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: model.save(tmp))


def _install_sigterm() -> Any:
    def handler(signum, frame):  # noqa: ARG001
        raise Interrupted(143)

    return signal.signal(signal.SIGTERM, handler)


def train(cfg: ExperimentConfig, run_dir: Path | None, argv: list[str], dry_run: bool = False,
          out=sys.stdout) -> Path | None:
    """Train as configured; returns the run folder (None for a dry run)."""
    built = build(cfg)
    print(summary_text(built), file=out)
    if dry_run:
        built.close()
        print("dry run: config, env and model are valid; nothing was trained or written", file=out)
        return None
    from agents.runs import new_run_dir

    run_dir = Path(run_dir) if run_dir is not None else new_run_dir(cfg)
    if run_dir.exists() and any(run_dir.iterdir()):
        built.close()
        raise UserError(f"--run-dir {run_dir} exists and is not empty; choose a new folder (or --resume it)")
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _train_in(built, run_dir, argv, out)
    finally:
        built.close()


def _train_in(built: Built, run_dir: Path, argv: list[str], out) -> Path:
    cfg, model = built.cfg, built.model
    name = run_dir.name
    atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
    tags = [cfg.algo.name, cfg.network.type, cfg.env.id, f"seed{cfg.train.seed}", *cfg.logging.tags]
    wandb_run = init_wandb(cfg.logging.wandb, run_dir, name, cfg.logging.project,
                           cfg.logging.experiment or "default", tags, cfg.model_dump(mode="json"))
    counts = parameter_counts(model)
    if wandb_run is not None:
        try:
            wandb_run.summary.update({f"params/{k}": v for k, v in counts.items()})
        except Exception:  # noqa: BLE001
            pass
    write_provenance(run_dir, provenance(argv, built.device, {
        "run_name": name, "wandb_id": getattr(wandb_run, "id", None), "parameters": counts}))
    model.set_logger(make_logger(run_dir, cfg.logging.tensorboard, wandb_run))

    state = {"best_return": -np.inf}

    def save_best(mean_return: float) -> None:
        state["best_return"] = mean_return
        _save_model(model, run_dir / "best_model.zip")

    def save_checkpoint(step: int) -> Path:
        path = ckpts.write_checkpoint(
            run_dir / "checkpoints", step, model,
            {"num_timesteps": model.num_timesteps, "best_return": state["best_return"],
             "wandb_id": getattr(wandb_run, "id", None), "run_name": name},
            with_replay=cfg.algo.name == "dqn")
        ckpts.prune(run_dir / "checkpoints", cfg.train.keep_checkpoints)
        return path

    callbacks = [RewardTermsCallback()]
    if cfg.train.progress_bar:
        callbacks.append(ProgressBarCallback(cfg.train.total_timesteps))
    if cfg.train.eval_freq > 0:
        callbacks.append(PeriodicEvalCallback(built.eval_env, cfg.train.eval_freq, cfg.train.eval_episodes, save_best))
    if cfg.train.checkpoint_freq > 0:
        callbacks.append(CheckpointCallback(cfg.train.checkpoint_freq, save_checkpoint))

    previous = _install_sigterm()
    start = time.time()
    try:
        model.learn(cfg.train.total_timesteps, callback=callbacks, log_interval=cfg.train.log_interval or (4 if cfg.algo.name == "dqn" else 1),
                    reset_num_timesteps=False)
    except (KeyboardInterrupt, Interrupted) as exc:
        code = exc.code if isinstance(exc, Interrupted) else 130
        path = save_checkpoint(model.num_timesteps)
        finish_wandb(wandb_run)
        print(f"\ninterrupted at step {model.num_timesteps}: checkpoint saved in {path}\n"
              f"resume with: python train.py --resume {run_dir}", file=sys.stderr)
        raise Interrupted(code) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    _save_model(model, run_dir / "model.zip")
    save_checkpoint(model.num_timesteps)
    if not (run_dir / "best_model.zip").exists():
        _save_model(model, run_dir / "best_model.zip")
    finish_wandb(wandb_run)
    summary = {"num_timesteps": model.num_timesteps, "wall_s": round(time.time() - start, 2),
               "best_eval_return": None if not np.isfinite(state["best_return"]) else state["best_return"]}
    atomic_write_text(run_dir / "train_summary.json", json.dumps(summary, indent=2))
    print(f"trained {model.num_timesteps} steps in {summary['wall_s']:.0f} s", file=out)
    print(f"run folder: {run_dir}", file=out)
    return run_dir
