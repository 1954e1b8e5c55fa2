"""Inference on tensors: a trained SB3 model's actions and attention weights for observations
whose vehicle-row count differs from training.

SB3's ``predict`` and ``set_env`` check the observation shape against the training space, so a
model is not re-pointed at a wider space. Instead :func:`predict_any_rows` runs the policy on
tensors (the attention extractor accepts any number of rows; absent rows are masked), and
evaluation calls it when a scenario's observations have a row count other than the model's.
:func:`attention_weights` reads the ego query's attention weights for drawing them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from agents.models.algorithms import spec_of


def policy_extractor(model: Any) -> BaseFeaturesExtractor:
    """The features extractor that chooses actions (the algorithm spec says which: DQN's
    online Q-network's, PPO's actor's, the shared one when ``share_features_extractor``)."""
    return spec_of(model).acting_extractor(model.policy)


def _as_batch(model: Any, obs: Any) -> tuple[torch.Tensor, bool]:
    """Observation(s) -> a float tensor batch; True when ``obs`` was a single observation.

    Every dimension but the row count (the first of one observation) must match the
    observation space; a different row count is accepted only by row-agnostic extractors.
    """
    space = model.policy.observation_space
    arr = np.asarray(obs)
    single = arr.ndim == len(space.shape)
    if not single and arr.ndim != len(space.shape) + 1:
        raise ValueError(f"observation of shape {arr.shape} does not fit the model's space {space.shape} "
                         "(one observation or a batch of them)")
    batch = arr[None] if single else arr
    if batch.shape[2:] != space.shape[1:]:
        raise ValueError(f"observations of shape {batch.shape[1:]} differ from the model's {space.shape} "
                         "beyond the row count (the first dimension of one observation)")
    if batch.shape[1:] != space.shape and not getattr(policy_extractor(model), "row_agnostic", False):
        raise ValueError(
            f"only a row-agnostic network (network.type attention) runs on a different number of observation "
            f"rows ({batch.shape[1]} here, {space.shape[0]} in training)"
        )
    return torch.as_tensor(batch, dtype=torch.float32, device=model.policy.device), single


def predict_any_rows(model: Any, obs: Any, deterministic: bool = True) -> np.ndarray:
    """Actions of an SB3 DQN or PPO ``model`` for observations whose row count may differ
    from the one it was trained with (``model.predict`` refuses those: SB3 checks shapes).

    ``obs``: one observation (rows x features) or a batch (batch x rows x features), any row
    count for the attention network (extra rows are vehicles; absent ones have presence 0),
    the training row count for the others. Returns what ``model.predict(obs)[0]`` would:
    shape ``()`` plus the action shape for one observation, ``(batch, ...)`` for a batch.
    DQN: argmax of the Q-values (epsilon-greedy at ``model.exploration_rate`` when not
    ``deterministic``, as ``DQN.predict``); PPO: the mode of the action distribution (a sample
    when not ``deterministic``), Box actions clipped to the action space.
    """
    tensor, single = _as_batch(model, obs)
    policy = model.policy
    policy.set_training_mode(False)
    with torch.no_grad():
        actions = policy._predict(tensor, deterministic=deterministic)
    actions = actions.cpu().numpy().reshape((-1, *policy.action_space.shape))
    if spec_of(model).epsilon_greedy and not deterministic:
        # numpy's global RNG and the action space's, as DQN.predict (seeded by SB3's set_random_seed)
        for i in range(len(actions)):
            if np.random.rand() < getattr(model, "exploration_rate", 0.0):
                actions[i] = policy.action_space.sample()
    if isinstance(policy.action_space, gym.spaces.Box):
        if getattr(policy, "squash_output", False):
            actions = policy.unscale_action(actions)
        else:
            actions = np.clip(actions, policy.action_space.low, policy.action_space.high)
    return actions[0] if single else actions


def attention_weights(model: Any, obs: Any) -> np.ndarray:
    """The ego query's attention weights of an attention-network ``model`` (DQN or PPO).

    ``obs``: one observation (rows x features) or a batch, any row count. Returns a float
    array of shape (batch, heads, rows) (batch 1 for one observation): entry ``j`` is the weight
    the ego gives vehicle ``j`` (``j = 0`` the ego itself); each head's weights sum to 1 and
    absent vehicles get 0. PPO: the actor's extractor.
    """
    extractor = policy_extractor(model)
    if not hasattr(extractor, "forward_with_weights"):
        raise ValueError(f"attention weights need an attention network (network.type attention), this model "
                         f"has {type(extractor).__name__}")
    tensor, _ = _as_batch(model, obs)
    was_training = extractor.training
    extractor.eval()
    try:
        with torch.no_grad():
            _, weights = extractor.forward_with_weights(tensor)
    finally:
        extractor.train(was_training)
    return weights.cpu().numpy()
