"""Shared network builders: SB3 features extractors in registries.

Each builder is a ``BaseFeaturesExtractor`` with a ``features_dim`` and no algorithm logic
(stable-baselines3 ``common/torch_layers.py`` style):

- ``mlp``: vector observations (flattened), optional hidden layers.
- ``cnn``: any 3-D Box observation, channels first (GrayscaleObservation stacks, OccupancyGrid).
- ``attention``: ego-attention over a vehicle list (Kinematics, row 0 the ego), any row count.

Running a trained policy on observations with another row count lives in
:mod:`agents.models.inference`; the translation to ``policy_kwargs`` in
:mod:`agents.models.algorithms`.
"""

from __future__ import annotations

import math
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

    row_agnostic = False  # needs the training row count

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


def _shape_error(kind: str, needs: str, space: gym.Space, hint: str) -> UserError:
    shape = getattr(space, "shape", None)
    return UserError(f"network.type: '{kind}' needs {needs}, but the observation space is {space} (shape {shape}); {hint}")


class CnnExtractor(BaseFeaturesExtractor):
    """Conv stack over any 3-D Box observation (channels first), then an optional linear layer.

    highway-env's GrayscaleObservation (uint8 frame stack) and OccupancyGrid (float, unbounded,
    one channel per feature) are both channels-first 3-D Boxes. SB3's image check rejects the
    latter, so this extractor does not rely on it: it scales inputs itself (``input_norm``)
    and ``policy_kwargs`` turns SB3's own image scaling off. The output size is found by a
    dummy pass.
    """

    row_agnostic = False
    scales_inputs = True  # input_norm: SB3's image scaling stays off

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        channels: list[int] | tuple[int, ...] = (32, 64, 64),
        kernel_sizes: list[int] | tuple[int, ...] = (8, 4, 3),
        strides: list[int] | tuple[int, ...] = (4, 2, 1),
        padding: int = 0,
        features_dim: int = 256,
        layer_norm: bool = False,
        dropout: float = 0.0,
        input_norm: str = "bounds",
        activation: str = "relu",
    ) -> None:
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 3:
            raise _shape_error(
                "cnn", "a 3-D Box observation (channels x height x width)", observation_space,
                "use an image observation (env.config.observation.type: GrayscaleObservation or "
                "OccupancyGrid) or network.type: mlp / attention for vector observations",
            )
        if not (len(channels) == len(kernel_sizes) == len(strides)) or not channels:
            raise UserError("network.cnn: channels, kernel_sizes and strides need the same non-zero length")
        super().__init__(observation_space, features_dim=1)  # set after the dummy pass
        act = ACTIVATIONS.get(activation)
        layers: list[nn.Module] = []
        in_ch = observation_space.shape[0]
        for ch, k, st in zip(channels, kernel_sizes, strides):
            layers += [nn.Conv2d(in_ch, ch, kernel_size=k, stride=st, padding=padding), act()]
            in_ch = ch
        layers.append(nn.Flatten())
        self.convs = nn.Sequential(*layers)
        self._register_input_norm(observation_space, input_norm)
        try:
            with torch.no_grad():
                n_flat = self.convs(torch.zeros(1, *observation_space.shape)).shape[1]
        except RuntimeError as exc:
            raise UserError(
                f"network.cnn.kernel_sizes / network.cnn.strides: the conv stack does not fit the "
                f"observation of shape {observation_space.shape} (height x width {observation_space.shape[1:]}): "
                f"{str(exc).splitlines()[0]}; use smaller kernels or strides, fewer layers, or padding"
            ) from exc
        head: list[nn.Module] = []
        if features_dim > 0:
            head.append(nn.Linear(n_flat, features_dim))
            if layer_norm:
                head.append(nn.LayerNorm(features_dim))
            head.append(act())
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        self.head = nn.Sequential(*head)
        self._features_dim = features_dim if features_dim > 0 else n_flat

    def _register_input_norm(self, space: gym.spaces.Box, input_norm: str) -> None:
        if input_norm not in ("bounds", "none"):
            raise UserError(f"network.cnn.input_norm: unknown '{input_norm}'; valid: bounds, none")
        low = np.asarray(space.low, dtype=np.float64)
        high = np.asarray(space.high, dtype=np.float64)
        finite = np.isfinite(low) & np.isfinite(high) & (high > low)
        offset = np.where(finite, low, 0.0)
        scale = np.where(finite, high - low, 1.0)
        self.scale_inputs = input_norm == "bounds" and bool(finite.any())
        if self.scale_inputs and np.all(offset == offset.flat[0]) and np.all(scale == scale.flat[0]):
            offset, scale = offset.flat[0:1], scale.flat[0:1]  # one scalar: the usual case
        # Derived from the space, so not saved with the parameters.
        self.register_buffer("in_offset", torch.as_tensor(offset, dtype=torch.float32), persistent=False)
        self.register_buffer("in_scale", torch.as_tensor(scale, dtype=torch.float32), persistent=False)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        x = observations.float()
        if self.scale_inputs:
            x = (x - self.in_offset) / self.in_scale
        return self.head(self.convs(x))


EXTRACTORS.register("cnn", CnnExtractor)


def _mlp(sizes: list[int], act: type[nn.Module], n_input: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in sizes:
        layers += [nn.Linear(n_input, size), act()]
        n_input = size
    return nn.Sequential(*layers)


class MaskedMultiHeadAttention(nn.Module):
    """Multi-head attention of queries over keys, with absent keys masked out.

    Written out (rather than ``nn.MultiheadAttention``) to return the per-head weights in one
    code path for training and inference; masked keys get a weight of exactly 0.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        assert dim % heads == 0, "heads must divide the embedding size (checked by the config)"
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, absent: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """queries (B, Q, E), keys (B, N, E), absent (B, N) bool -> (B, Q, E), weights (B, H, Q, N)."""
        b, nq, dim = queries.shape
        n = keys.shape[1]
        d = dim // self.heads
        q = self.query(queries).view(b, nq, self.heads, d).transpose(1, 2)
        k = self.key(keys).view(b, n, self.heads, d).transpose(1, 2)
        v = self.value(keys).view(b, n, self.heads, d).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        scores = scores.masked_fill(absent[:, None, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)
        out = (self.dropout(weights) @ v).transpose(1, 2).reshape(b, nq, dim)
        return self.out(out), weights


class SelfAttentionBlock(nn.Module):
    """All vehicles attend to all present vehicles; residual + layer norm, then a
    feed-forward layer with residual + layer norm (a post-norm transformer encoder layer)."""

    def __init__(self, dim: int, heads: int, act: type[nn.Module], layer_norm: bool, dropout: float) -> None:
        super().__init__()
        self.attention = MaskedMultiHeadAttention(dim, heads, dropout)
        self.feedforward = nn.Sequential(nn.Linear(dim, 2 * dim), act(), nn.Linear(2 * dim, dim))
        self.norm1 = nn.LayerNorm(dim) if layer_norm else nn.Identity()
        self.norm2 = nn.LayerNorm(dim) if layer_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, absent: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attention(x, x, absent)
        x = self.norm1(x + self.dropout(attended))
        return self.norm2(x + self.dropout(self.feedforward(x)))


class EgoAttentionExtractor(BaseFeaturesExtractor):
    """Ego-attention over a vehicle list (Leurent & Mercat 2019, "Social Attention for
    Autonomous Decision-Making in Dense Traffic").

    Input: (batch, vehicles, features), row 0 the ego vehicle (highway-env's Kinematics with
    ``flatten: false``). Every row goes through a shared per-vehicle encoder (the ego through
    its own one when ``separate_ego_encoder``); optional self-attention blocks mix the
    vehicles; then the ego's query attends over all vehicles (the ego included) with multi-head
    attention, and rows whose presence feature is below 0.5 are masked out. The output (the
    ego's attended embedding, residual + layer norm) does not depend on the order of the
    non-ego rows nor on absent rows, and the extractor accepts any number of rows: a model
    trained with N rows runs on more through :func:`predict_any_rows`.
    """

    row_agnostic = True  # any number of vehicle rows (absent ones masked)

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        encoder_layers: list[int] | tuple[int, ...] = (64, 64),
        heads: int = 2,
        self_attention_layers: int = 0,
        separate_ego_encoder: bool = True,
        presence_index: int = 0,
        layer_norm: bool = True,
        dropout: float = 0.0,
        activation: str = "relu",
    ) -> None:
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 2:
            raise _shape_error(
                "attention", "a 2-D Box observation (vehicles x features, row 0 the ego)", observation_space,
                "use env.config.observation.type: Kinematics (vehicles x features), or network.type: mlp / cnn",
            )
        n_features = observation_space.shape[1]
        if presence_index >= n_features:
            raise UserError(
                f"network.attention.presence_index: {presence_index} is not a column of the "
                f"{n_features} observation features; put 'presence' in env.config.observation.features "
                "and give its index"
            )
        if not encoder_layers or encoder_layers[-1] % heads:
            raise UserError("network.attention.heads: must divide the embedding size (encoder_layers[-1])")
        dim = encoder_layers[-1]
        super().__init__(observation_space, features_dim=dim)
        act = ACTIVATIONS.get(activation)
        self.presence_index = presence_index
        self.heads = heads
        self.encoder = _mlp(list(encoder_layers), act, n_features)
        self.ego_encoder = _mlp(list(encoder_layers), act, n_features) if separate_ego_encoder else None
        self.blocks = nn.ModuleList(
            SelfAttentionBlock(dim, heads, act, layer_norm, dropout) for _ in range(self_attention_layers))
        self.ego_attention = MaskedMultiHeadAttention(dim, heads, dropout)
        self.norm = nn.LayerNorm(dim) if layer_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward_with_weights(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, F) -> features (B, E) and the ego query's attention weights (B, heads, N)."""
        x = observations.float()
        absent = x[..., self.presence_index] < 0.5
        absent[:, 0] = False  # the ego is always there (and keeps the softmax defined)
        if self.ego_encoder is not None:
            h = torch.cat([self.ego_encoder(x[:, :1]), self.encoder(x[:, 1:])], dim=1)
        else:
            h = self.encoder(x)
        for block in self.blocks:
            h = block(h, absent)
        ego = h[:, :1]
        attended, weights = self.ego_attention(ego, h, absent)
        features = self.norm(ego + self.dropout(attended)).squeeze(1)
        return features, weights[:, :, 0, :]

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.forward_with_weights(observations)[0]


EXTRACTORS.register("attention", EgoAttentionExtractor)


def extractor_kwargs(network: Any) -> dict[str, Any]:
    """Constructor kwargs of the chosen extractor: its option sub-section (``network.mlp``,
    ``network.cnn``, ``network.attention``, named like the extractor's parameters) plus the
    shared ``network.activation``."""
    options = getattr(network, network.type, None)
    kwargs = options.model_dump() if options is not None else {}
    kwargs["activation"] = network.activation
    return kwargs


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
