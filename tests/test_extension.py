"""Algorithms and networks are data: a new one is a registry entry made in this test alone,
and training, inference, parameter counts and evaluation's row handling take it unchanged."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import A2C
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from agents.config import ExperimentConfig
from agents.evaluation.scenario_fit import fit_problem, forced_config
from agents.models.algorithms import ALGORITHMS, AlgoSpec, actor_critic_heads, build_model, parameter_counts, policy_kwargs, spec_of
from agents.models.extractors import EXTRACTORS
from agents.models.inference import policy_extractor, predict_any_rows
from envs.suites import Scenario
from tests.test_networks import FEATURES, ROWS, FakeEnv, vehicles


class MeanPoolExtractor(BaseFeaturesExtractor):
    """A toy row-agnostic network: one linear layer per vehicle row, then the mean over rows."""

    row_agnostic = True

    def __init__(self, observation_space: gym.spaces.Box, activation: str = "relu") -> None:
        super().__init__(observation_space, features_dim=16)
        self.encode = nn.Sequential(nn.Linear(observation_space.shape[-1], 16), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.encode(observations).mean(dim=1)


SPACE = gym.spaces.Box(-1.0, 1.0, (ROWS, FEATURES), np.float32)


@pytest.fixture
def meanpool(monkeypatch):
    monkeypatch.setitem(EXTRACTORS._entries, "meanpool", MeanPoolExtractor)


def _cfg(algo: str, **network) -> ExperimentConfig:
    algo_section = {"name": algo, "learning_starts": 0} if algo == "dqn" else {"name": algo, "n_steps": 16,
                                                                                 "batch_size": 16}
    return ExperimentConfig.model_validate({"algo": algo_section, "network": {"net_arch": [8], **network}})


@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_a_network_registered_in_a_test_trains_and_sees_any_row_count(meanpool, algo):
    model = build_model(_cfg(algo, type="meanpool"), FakeEnv(SPACE))
    model.learn(32)
    assert isinstance(policy_extractor(model), MeanPoolExtractor)
    more_rows = vehicles(np.random.default_rng(0), 3, ROWS + 4)
    assert predict_any_rows(model, more_rows).shape == (3,)  # row-agnostic: no other code knows its name
    wide = Scenario("dense", "unseen", "highway-fast-v0",
                    {"observation": {"type": "Kinematics", "vehicles_count": ROWS + 4}})
    run_cfg = _cfg(algo, type="meanpool")
    run_cfg.env.config = {"observation": {"type": "Kinematics", "vehicles_count": ROWS}}
    config, _ = forced_config(run_cfg, wide)
    assert config["observation"]["vehicles_count"] == ROWS + 4  # kept, as for attention
    env = FakeEnv(gym.spaces.Box(-1.0, 1.0, (ROWS + 4, FEATURES), np.float32))
    assert fit_problem(model, env, "meanpool") is None and fit_problem(model, env, "mlp") is not None


def test_an_algorithm_registered_in_a_test_gets_inference_and_counts(meanpool, monkeypatch):
    spec = AlgoSpec(cls=A2C, off_policy=False, log_interval=1, optimizer_eps=1e-5, heads=actor_critic_heads,
                    acting_extractor=lambda policy: policy.pi_features_extractor,
                    parameter_counts=ALGORITHMS.get("ppo").parameter_counts)
    monkeypatch.setitem(ALGORITHMS._entries, "a2c", spec)
    network = _cfg("ppo", type="meanpool").network
    model = A2C("MlpPolicy", FakeEnv(SPACE), n_steps=8, policy_kwargs=policy_kwargs(network, spec), seed=0)
    model.learn(16)
    assert spec_of(model) is spec
    counts = parameter_counts(model)
    assert counts["total"] == sum(p.numel() for p in model.policy.parameters()) and counts["features_extractor"] > 0
    obs = vehicles(np.random.default_rng(1), 4, ROWS)
    np.testing.assert_array_equal(predict_any_rows(model, obs), model.predict(obs, deterministic=True)[0])
    assert predict_any_rows(model, vehicles(np.random.default_rng(1), 2, ROWS + 3)).shape == (2,)
