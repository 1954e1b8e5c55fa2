"""Shared network builders: SB3 features extractors in a registry, and one translation from
the network config to each algorithm's ``policy_kwargs``.

Each builder is a ``BaseFeaturesExtractor`` with a ``features_dim`` and no algorithm logic
(stable-baselines3 ``common/torch_layers.py`` style).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from agents.errors import UserError
from agents.registry import Registry

ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation", "network.activation")
for _name, _cls in {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}.items():
    ACTIVATIONS.register(_name, _cls)

EXTRACTORS: Registry[type[BaseFeaturesExtractor]] = Registry("network type", "network.type")


class MlpExtractor(BaseFeaturesExtractor):
    """Flatten a vector observation, then optional hidden layers (layer norm, dropout,
    residual connections between equal-width layers). With no layers it is SB3's flatten."""

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        layers: list[int] | tuple[int, ...] = (),
        activation: str = "relu",
        layer_norm: bool = False,
        dropout: float = 0.0,
        residual: bool = False,
    ) -> None:
        n_input = int(np.prod(observation_space.shape))
        super().__init__(observation_space, features_dim=layers[-1] if layers else n_input)
        act = ACTIVATIONS.get(activation)
        self.flatten = nn.Flatten()
        self.blocks = nn.ModuleList()
        self.residual_flags: list[bool] = []
        width = n_input
        for size in layers:
            block: list[nn.Module] = [nn.Linear(width, size)]
            if layer_norm:
                block.append(nn.LayerNorm(size))
            block.append(act())
            if dropout > 0:
                block.append(nn.Dropout(dropout))
            self.blocks.append(nn.Sequential(*block))
            self.residual_flags.append(residual and size == width)
            width = size

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        x = self.flatten(observations.float())
        for block, skip in zip(self.blocks, self.residual_flags):
            x = x + block(x) if skip else block(x)
        return x


EXTRACTORS.register("mlp", MlpExtractor)


def extractor_kwargs(network: Any) -> dict[str, Any]:
    """Constructor kwargs of the chosen extractor from the network config section."""
    if network.type == "mlp":
        opts = network.mlp
        return dict(
            layers=list(opts.layers),
            activation=network.activation,
            layer_norm=opts.layer_norm,
            dropout=opts.dropout,
            residual=opts.residual,
        )
    raise UserError(f"network.type: no options known for '{network.type}'")  # pragma: no cover


def policy_kwargs(network: Any, algo_name: str) -> dict[str, Any]:
    """Translate the network config into SB3 ``policy_kwargs`` for DQN or PPO.

    DQN's Q-network takes a list ``net_arch``, PPO's actor-critic ``dict(pi=, vf=)``; the
    activation is always set explicitly (SB3's DQN defaults to ReLU, PPO to Tanh).
    """
    kwargs: dict[str, Any] = dict(
        features_extractor_class=EXTRACTORS.get(network.type),
        features_extractor_kwargs=extractor_kwargs(network),
        activation_fn=ACTIVATIONS.get(network.activation),
    )
    if algo_name == "dqn":
        kwargs["net_arch"] = list(network.net_arch)
    elif algo_name == "ppo":
        kwargs["net_arch"] = dict(pi=list(network.net_arch), vf=list(network.net_arch))
        kwargs["share_features_extractor"] = network.share_features_extractor
    else:  # pragma: no cover - guarded by the config schema
        raise UserError(f"algo.name: unknown algorithm '{algo_name}'")
    return kwargs


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
