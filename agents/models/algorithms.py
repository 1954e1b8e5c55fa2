"""Algorithm factory: the config's algo section -> a stable-baselines3 model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.utils import get_device

from agents.errors import UserError
from agents.models.extractors import ACTIVATIONS, EXTRACTORS, count_parameters, extractor_kwargs
from agents.models.schedules import make_lr_schedule
from agents.registry import Registry

if TYPE_CHECKING:  # the config's types only: agents.config imports models' registries, not the reverse
    from agents.config import ExperimentConfig

@dataclass(frozen=True)
class AlgoSpec:
    """What generic code needs to know of an algorithm, as data (nothing branches on its name).

    Adding an algorithm is one registry entry here plus its config class in
    ``agents.config.schema`` (the typed ``algo`` section).
    """

    cls: type[BaseAlgorithm]
    off_policy: bool  # learns from a replay buffer (kept in the newest checkpoint), not rollouts
    log_interval: int  # SB3's log_interval when the config leaves it out: episodes or rollouts
    optimizer_eps: float  # SB3's optimizer epsilon for this algorithm's policy
    heads: Callable[[Any], dict[str, Any]]  # network config -> net_arch (and head options)
    acting_extractor: Callable[[Any], BaseFeaturesExtractor]  # policy -> the extractor choosing actions
    parameter_counts: Callable[[Any], dict[str, int]]  # policy -> trainable parameters by part
    action_spaces: tuple[type[gym.Space], ...] | None = None  # None: any
    epsilon_greedy: bool = False  # predict(deterministic=False) explores at model.exploration_rate


def _q_counts(policy: Any) -> dict[str, int]:
    """DQN: the online Q-network (its target copy is listed, not added to the total)."""
    total = count_parameters(policy.q_net)
    return {"total": total, "features_extractor": count_parameters(policy.q_net.features_extractor),
            "q_net": total, "q_net_target (copy)": count_parameters(policy.q_net_target)}


def _actor_critic_counts(policy: Any) -> dict[str, int]:
    """Actor-critic: everything; with separate extractors the actor's and the critic's."""
    counts = {"total": count_parameters(policy)}
    if getattr(policy, "share_features_extractor", True):
        counts["features_extractor"] = count_parameters(policy.features_extractor)
    else:
        counts["pi_features_extractor"] = count_parameters(policy.pi_features_extractor)
        counts["vf_features_extractor"] = count_parameters(policy.vf_features_extractor)
    for name in ("mlp_extractor", "action_net", "value_net"):
        counts[name] = count_parameters(getattr(policy, name))
    return counts


def actor_critic_heads(network: Any) -> dict[str, Any]:
    """``dict(pi=, vf=)`` heads of ``network.net_arch`` each, and the shared-extractor option."""
    return {"net_arch": dict(pi=list(network.net_arch), vf=list(network.net_arch)),
            "share_features_extractor": network.share_features_extractor}


ALGORITHMS: Registry[AlgoSpec] = Registry("algorithm", "algo.name")
ALGORITHMS.register("dqn", AlgoSpec(
    cls=DQN, off_policy=True, log_interval=4, optimizer_eps=1e-8,
    heads=lambda network: {"net_arch": list(network.net_arch)},
    acting_extractor=lambda policy: policy.q_net.features_extractor,
    parameter_counts=_q_counts, action_spaces=(gym.spaces.Discrete,), epsilon_greedy=True))
ALGORITHMS.register("ppo", AlgoSpec(
    cls=PPO, off_policy=False, log_interval=1, optimizer_eps=1e-5, heads=actor_critic_heads,
    acting_extractor=lambda policy: policy.pi_features_extractor, parameter_counts=_actor_critic_counts))


def spec_of(model: BaseAlgorithm) -> AlgoSpec:
    """The registered spec of a built model."""
    for name in ALGORITHMS:
        spec = ALGORITHMS.get(name)
        if isinstance(model, spec.cls):
            return spec
    raise ValueError(f"{type(model).__name__} is not a registered algorithm ({', '.join(ALGORITHMS)})")


def policy_kwargs(network: Any, spec: AlgoSpec) -> dict[str, Any]:
    """Translate the network config into SB3 ``policy_kwargs``: the features extractor, the
    algorithm's heads (DQN's Q-network takes a list ``net_arch``, PPO's actor-critic
    ``dict(pi=, vf=)``), the activation always set explicitly (SB3's DQN defaults to ReLU, PPO
    to Tanh). An extractor that scales its inputs itself (``scales_inputs``) turns SB3's image
    scaling off."""
    extractor = EXTRACTORS.get(network.type)
    kwargs: dict[str, Any] = dict(
        features_extractor_class=extractor,
        features_extractor_kwargs=extractor_kwargs(network),
        activation_fn=ACTIVATIONS.get(network.activation),
        **spec.heads(network),
    )
    if getattr(extractor, "scales_inputs", False):
        kwargs["normalize_images"] = False
    return kwargs


def resolve_device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device / --device: cuda was asked for but no CUDA GPU is visible; use auto or cpu")
    return get_device(device)


def check_spaces(cfg: ExperimentConfig, action_space: gym.Space) -> None:
    spec = ALGORITHMS.get(cfg.algo.name)
    if spec.action_spaces is not None and not isinstance(action_space, spec.action_spaces):
        kinds = " or ".join(k.__name__ for k in spec.action_spaces)
        raise UserError(
            f"algo.name: {cfg.algo.name.upper()} needs a {kinds.lower()} action space but {cfg.env.id} has "
            f"{action_space}; use another algo.name or a discrete action type "
            "(env.config.action.type=DiscreteMetaAction)"
        )


OPTIMIZERS: Registry[type[torch.optim.Optimizer]] = Registry("optimizer", "optim.optimizer")
OPTIMIZERS.register("adam", torch.optim.Adam)
OPTIMIZERS.register("adamw", torch.optim.AdamW)

def optimizer_kwargs(cfg: ExperimentConfig) -> dict[str, Any]:
    """``optimizer_class`` / ``optimizer_kwargs`` for SB3's policy_kwargs from ``cfg.optim``."""
    optim = cfg.optim
    eps = optim.eps if optim.eps is not None else ALGORITHMS.get(cfg.algo.name).optimizer_eps
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
    spec = ALGORITHMS.get(cfg.algo.name)
    algo_cls = spec.cls
    kwargs = cfg.algo.model_dump(exclude={"name"})
    kwargs["learning_rate"] = make_lr_schedule(cfg.optim, cfg.algo.learning_rate)
    pkwargs = {**policy_kwargs(cfg.network, spec), **optimizer_kwargs(cfg)}
    try:
        model = algo_cls(
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
    # A logger with no outputs until train.py sets the run's own: without one, SB3's learn() makes
    # an empty /tmp/SB3-<time> folder at every call (its configure() creates the folder before it
    # knows nothing will be written), so benchmarks and tests left hundreds behind.
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def parameter_counts(model: BaseAlgorithm) -> dict[str, int]:
    """Trainable parameters by part of the policy (see each spec's ``parameter_counts``)."""
    return spec_of(model).parameter_counts(model.policy)
