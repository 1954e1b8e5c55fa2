"""Loading a run folder back, for evaluation, experiments or notebooks.

Loading rebuilds the model from ``config.yaml`` and loads parameters only (SB3's
``set_parameters`` reads the zip's tensors and unpickles nothing).
"""

from __future__ import annotations

import json
import warnings
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import yaml

from agents.config import ExperimentConfig, parse_config
from agents.errors import UserError, did_you_mean
from agents.models.algorithms import build_model
from agents.rundir.checkpoints import (NEAREST_TOLERANCE, check_model_zip, checkpoint_step, latest_valid,
                                      list_checkpoints, load_parameters, nearest_valid)
from envs.factory import make_env


def read_run_config(run_dir: Path) -> ExperimentConfig:
    path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise UserError(f"run folder not found: {run_dir} (pass a folder made by train.py, e.g. runs/<name>)")
    if not path.is_file():
        raise UserError(f"{path}: missing; {run_dir} is not a laneforge run folder")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: unreadable ({str(exc).splitlines()[0]}); restore it from the run's W&B config or rerun") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a laneforge config (expected a mapping of sections)")
    return parse_config(data, source=str(path))


@dataclass
class LoadedRun:
    """A run folder loaded back: its config, the model, and a function that makes its env."""

    run_dir: Path
    config: ExperimentConfig
    model: Any
    make_env: Callable[..., gym.Env]


def load_model(cfg: ExperimentConfig, model_path: Path, device: str = "cpu") -> Any:
    """Rebuild the model from the config and load parameters only from ``model_path``."""
    check_model_zip(model_path)
    env = make_env(cfg.env.id, cfg.env.config, max_episode_steps=cfg.env.max_episode_steps)
    try:
        with warnings.catch_warnings():
            # PPO checks batch_size against n_steps * n_envs of *this* env (one, for
            # evaluation) and warns about the training config; nothing is trained here
            warnings.filterwarnings("ignore", message=".*mini-batch size.*", category=UserWarning)
            model = build_model(cfg, env, device=device)
        load_parameters(model, model_path)
    finally:
        env.close()
    model.num_timesteps = _saved_timesteps(model_path)
    return model


def _saved_timesteps(model_path: Path) -> int:
    """``num_timesteps`` from the zip's JSON ``data`` entry (plain JSON; nothing unpickled)."""
    try:
        with zipfile.ZipFile(model_path) as zf:
            return int(json.loads(zf.read("data")).get("num_timesteps", 0))
    except (KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return 0


MODEL_FILES = ("model", "best", "checkpoint")
MODEL_CHOICES = "model, best, checkpoint or checkpoint:STEPS"


def check_model_choice(model: str) -> str:
    """``model`` if load_run understands it, else UserError (one line)."""
    head, sep, steps = model.partition(":")
    if (not sep and model in MODEL_FILES) or (sep and head == "checkpoint" and steps.isdigit()):
        return model
    raise UserError(f"model={model!r}: unknown; choose {MODEL_CHOICES} (the valid checkpoint nearest to STEPS env "
                    f"steps, e.g. checkpoint:1000000){did_you_mean(model, MODEL_FILES)}")


def load_run(run_dir: str | Path, model: str = "model", device: str = "cpu") -> LoadedRun:
    """Load a run folder back (public API, for notebooks and scripts).

    ``model`` picks the parameters: 'model' (``model.zip``, the end of training), 'best'
    (``best_model.zip``), 'checkpoint' (the newest valid one in ``checkpoints/``) or
    'checkpoint:N' (the valid one nearest to N env steps, within 10% of N: a point of the
    learning curve). Returns a
    :class:`LoadedRun`: ``config`` (the typed :class:`ExperimentConfig` from ``config.yaml``),
    ``model`` (the SB3 model rebuilt from the config, parameters only loaded) and ``make_env``
    (``make_env(**kwargs)`` builds the run's env, e.g. ``render_mode="rgb_array"``). A folder
    that is not a run, or a missing or corrupt model file, raises :class:`UserError` (one line).
    What the run logged to W&B: :func:`agents.rundir.wandb_offline.read_run`.
    """
    check_model_choice(model)
    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    if model == "best":
        path = run_dir / "best_model.zip"
    elif model == "checkpoint":
        ckpt, _ = latest_valid(run_dir / "checkpoints")
        if ckpt is None:
            raise UserError(f"{run_dir}: no valid checkpoint in checkpoints/")
        path = ckpt / "model.zip"
    elif model.startswith("checkpoint:"):
        steps = int(model.partition(":")[2])
        ckpt = nearest_valid(run_dir / "checkpoints", steps)
        if ckpt is None:
            kept = ", ".join(str(checkpoint_step(p)) for p in reversed(list_checkpoints(run_dir / "checkpoints")))
            raise UserError(f"{run_dir}: no valid checkpoint within {NEAREST_TOLERANCE:.0%} of {steps} steps (kept: "
                            f"{kept or 'none'}; train.checkpoint_freq and train.keep_checkpoints decide which are kept)")
        path = ckpt / "model.zip"
    else:
        path = run_dir / "model.zip"
    loaded = load_model(cfg, path, device=device)
    env_fn = partial(make_env, cfg.env.id, cfg.env.config, max_episode_steps=cfg.env.max_episode_steps)
    return LoadedRun(run_dir=run_dir, config=cfg, model=loaded, make_env=env_fn)
