"""Algorithm factory: the config's algo section -> a stable-baselines3 model."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.utils import get_device

from agents.config import ExperimentConfig
from agents.errors import UserError
from agents.networks import policy_kwargs
from agents.registry import Registry

ALGORITHMS: Registry[type[BaseAlgorithm]] = Registry("algorithm", "algo.name")
ALGORITHMS.register("dqn", DQN)
ALGORITHMS.register("ppo", PPO)


def resolve_device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device / --device: cuda was asked for but no CUDA GPU is visible; use auto or cpu")
    return get_device(device)


def check_spaces(cfg: ExperimentConfig, action_space: gym.Space) -> None:
    if cfg.algo.name == "dqn" and not isinstance(action_space, gym.spaces.Discrete):
        raise UserError(
            f"algo.name: DQN needs a discrete action space but {cfg.env.id} has {action_space}; "
            "use algo.name=ppo or a discrete action type (env.config.action.type=DiscreteMetaAction)"
        )


def build_model(cfg: ExperimentConfig, env: Any, device: str | torch.device = "cpu") -> BaseAlgorithm:
    """Build the SB3 model the config describes, on ``env`` (a VecEnv or a gym.Env)."""
    check_spaces(cfg, env.action_space)
    algo_cls = ALGORITHMS.get(cfg.algo.name)
    kwargs = cfg.algo.model_dump(exclude={"name"})
    try:
        return algo_cls(
            "MlpPolicy",
            env,
            policy_kwargs=policy_kwargs(cfg.network, cfg.algo.name),
            seed=cfg.train.seed,
            device=device,
            verbose=0,
            **kwargs,
        )
    except (ValueError, AssertionError, RuntimeError) as exc:
        # SB3 and torch check spaces and shapes here; say which config section to change.
        raise UserError(f"network/algo: the model cannot be built for {cfg.env.id}: {exc}".splitlines()[0]) from exc
