"""Algorithm factory: the config's algo section -> a stable-baselines3 model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium as gym
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.utils import get_device

from agents.errors import UserError
from agents.models.extractors import ACTIVATIONS, EXTRACTORS, count_parameters, extractor_kwargs
from agents.models.schedules import make_lr_schedule
from agents.registry import Registry

if TYPE_CHECKING:  # the config's types only: agents.config imports models' registries, not the reverse
    from agents.config import ExperimentConfig

ALGORITHMS: Registry[type[BaseAlgorithm]] = Registry("algorithm", "algo.name")
ALGORITHMS.register("dqn", DQN)
ALGORITHMS.register("ppo", PPO)


def policy_kwargs(network: Any, algo_name: str) -> dict[str, Any]:
    """Translate the network config into SB3 ``policy_kwargs`` for DQN or PPO.

    DQN's Q-network takes a list ``net_arch``, PPO's actor-critic ``dict(pi=, vf=)``; the
    activation is always set explicitly (SB3's DQN defaults to ReLU, PPO to Tanh). The cnn
    extractor scales its inputs itself, so SB3's image scaling is turned off for it.
    """
    kwargs: dict[str, Any] = dict(
        features_extractor_class=EXTRACTORS.get(network.type),
        features_extractor_kwargs=extractor_kwargs(network),
        activation_fn=ACTIVATIONS.get(network.activation),
    )
    if network.type == "cnn":
        kwargs["normalize_images"] = False
    if algo_name == "dqn":
        kwargs["net_arch"] = list(network.net_arch)
    elif algo_name == "ppo":
        kwargs["net_arch"] = dict(pi=list(network.net_arch), vf=list(network.net_arch))
        kwargs["share_features_extractor"] = network.share_features_extractor
    else:  # pragma: no cover - guarded by the config schema
        raise UserError(f"algo.name: unknown algorithm '{algo_name}'")
    return kwargs


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


OPTIMIZERS: Registry[type[torch.optim.Optimizer]] = Registry("optimizer", "optim.optimizer")
OPTIMIZERS.register("adam", torch.optim.Adam)
OPTIMIZERS.register("adamw", torch.optim.AdamW)

# SB3's optimizer epsilon where the config leaves it out (PPO's policy sets 1e-5 for Adam).
DEFAULT_EPS = {"dqn": 1e-8, "ppo": 1e-5}


def optimizer_kwargs(cfg: ExperimentConfig) -> dict[str, Any]:
    """``optimizer_class`` / ``optimizer_kwargs`` for SB3's policy_kwargs from ``cfg.optim``."""
    optim = cfg.optim
    eps = optim.eps if optim.eps is not None else DEFAULT_EPS[cfg.algo.name]
    return dict(
        optimizer_class=OPTIMIZERS.get(optim.optimizer),
        optimizer_kwargs=dict(weight_decay=optim.weight_decay, eps=eps),
    )


def build_model(cfg: ExperimentConfig, env: Any, device: str | torch.device = "cpu") -> BaseAlgorithm:
    """Build the SB3 model the config describes, on ``env`` (a VecEnv or a gym.Env).

    The network section becomes the policy's features extractor and heads
    (:func:`agents.models.algorithms.policy_kwargs`); the optim section the optimizer, its weight decay
    and the learning-rate schedule over ``algo.learning_rate``.
    """
    check_spaces(cfg, env.action_space)
    algo_cls = ALGORITHMS.get(cfg.algo.name)
    kwargs = cfg.algo.model_dump(exclude={"name"})
    kwargs["learning_rate"] = make_lr_schedule(cfg.optim, cfg.algo.learning_rate)
    pkwargs = {**policy_kwargs(cfg.network, cfg.algo.name), **optimizer_kwargs(cfg)}
    try:
        return algo_cls(
            "MlpPolicy",
            env,
            policy_kwargs=pkwargs,
            seed=cfg.train.seed,
            device=device,
            verbose=0,
            **kwargs,
        )
    except UserError:
        raise  # a network that does not fit the observation: the message names the key
    except (ValueError, AssertionError, RuntimeError) as exc:
        # SB3 and torch check spaces and shapes here; say which config section to change.
        raise UserError(f"network/algo: the model cannot be built for {cfg.env.id}: {exc}".splitlines()[0]) from exc


def parameter_counts(model: BaseAlgorithm) -> dict[str, int]:
    """Trainable parameters by part of the policy (DQN's target network is left out of the
    total). PPO with separate extractors lists the actor's and the critic's."""
    policy = model.policy
    counts: dict[str, int] = {}
    if hasattr(policy, "q_net"):
        counts["total"] = count_parameters(policy.q_net)
        counts["features_extractor"] = count_parameters(policy.q_net.features_extractor)
        counts["q_net"] = counts["total"]
        counts["q_net_target (copy)"] = count_parameters(policy.q_net_target)
        return counts
    counts["total"] = count_parameters(policy)
    if getattr(policy, "share_features_extractor", True):
        counts["features_extractor"] = count_parameters(policy.features_extractor)
    else:
        counts["pi_features_extractor"] = count_parameters(policy.pi_features_extractor)
        counts["vf_features_extractor"] = count_parameters(policy.vf_features_extractor)
    for name in ("mlp_extractor", "action_net", "value_net"):
        counts[name] = count_parameters(getattr(policy, name))
    return counts
