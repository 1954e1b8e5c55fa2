"""Network builders (mlp, cnn, attention) with DQN and PPO, the optim section, and inference on
tensors with more vehicle rows than in training. Tiny networks on fake envs: fast."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3 import DQN, PPO

from agents.config import ExperimentConfig, parse_config
from agents.errors import UserError
from agents.models.algorithms import ALGORITHMS, build_model, parameter_counts, policy_kwargs
from agents.models.extractors import EXTRACTORS, EgoAttentionExtractor, extractor_kwargs
from agents.models.inference import attention_weights, predict_any_rows
from agents.models.schedules import LRSchedule, make_lr_schedule

ROWS, FEATURES, N_ACTIONS = 5, 7, 3

SPACES = {
    # highway-env Kinematics: vehicles x (presence, x, y, vx, vy, cos_h, sin_h), row 0 the ego
    "mlp": gym.spaces.Box(-1.0, 1.0, (ROWS, FEATURES), np.float32),
    "attention": gym.spaces.Box(-1.0, 1.0, (ROWS, FEATURES), np.float32),
    # GrayscaleObservation: uint8 frame stack, channels first
    "cnn": gym.spaces.Box(0, 255, (4, 24, 16), np.uint8),
    # OccupancyGrid: float, unbounded, one channel per feature
    "cnn_grid": gym.spaces.Box(-np.inf, np.inf, (3, 9, 9), np.float32),
}

NETWORKS = {
    "mlp": {"type": "mlp", "net_arch": [16], "mlp": {"layers": [16, 16], "layer_norm": True, "residual": True}},
    "cnn": {"type": "cnn", "net_arch": [16],
            "cnn": {"channels": [4, 8], "kernel_sizes": [3, 3], "strides": [2, 1], "features_dim": 16}},
    "cnn_grid": {"type": "cnn", "net_arch": [16],
                 "cnn": {"channels": [4, 8], "kernel_sizes": [3, 3], "strides": [1, 1], "features_dim": 16}},
    "attention": {"type": "attention", "net_arch": [16],
                  "attention": {"encoder_layers": [16, 16], "heads": 2, "self_attention_layers": 1}},
}
ALGOS = {
    "dqn": {"name": "dqn", "learning_starts": 10, "buffer_size": 200, "batch_size": 8},
    "ppo": {"name": "ppo", "n_steps": 16, "batch_size": 8, "n_epochs": 1},
}
CASES = [(a, n) for a in ALGOS for n in NETWORKS]


def vehicles(rng: np.random.Generator, batch: int, rows: int = ROWS, present: int | None = None) -> np.ndarray:
    """Kinematics-like observations: the ego and ``present`` other vehicles, the rest absent (zeros)."""
    obs = rng.uniform(-1, 1, (batch, rows, FEATURES)).astype(np.float32)
    n_present = rows if present is None else present + 1
    obs[:, :n_present, 0] = 1.0
    obs[:, n_present:] = 0.0
    return obs


def sample_obs(space: gym.spaces.Box, rng: np.random.Generator, batch: int) -> np.ndarray:
    if space.shape == (ROWS, FEATURES):
        return vehicles(rng, batch, present=ROWS - 2)
    if space.dtype == np.uint8:
        return rng.integers(0, 256, (batch, *space.shape)).astype(np.uint8)
    return rng.uniform(-1, 1, (batch, *space.shape)).astype(np.float32)


class FakeEnv(gym.Env):
    """Random observations of a given space, discrete actions, reward 0."""

    def __init__(self, space: gym.spaces.Box) -> None:
        self.observation_space = space
        self.action_space = gym.spaces.Discrete(N_ACTIONS)
        self._rng = np.random.default_rng(0)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        return sample_obs(self.observation_space, self._rng, 1)[0], {}

    def step(self, action):
        return sample_obs(self.observation_space, self._rng, 1)[0], 0.0, False, False, {}


def make_cfg(algo: str, net: str, **sections) -> ExperimentConfig:
    data = {"algo": ALGOS[algo], "network": NETWORKS[net], "train": {"seed": 0}, **sections}
    return ExperimentConfig.model_validate(data)


def make_model(algo: str, net: str, **sections):
    return build_model(make_cfg(algo, net, **sections), FakeEnv(SPACES[net]))


def policy_outputs(model, obs: torch.Tensor) -> torch.Tensor:
    """Every head's output: DQN's Q-values, PPO's action logits and value."""
    policy = model.policy
    if hasattr(policy, "q_net"):
        return policy.q_net(obs)
    dist = policy.get_distribution(obs)
    return torch.cat([dist.distribution.logits, policy.predict_values(obs)], dim=1)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# ------------------------------------------------------------------ every builder x algorithm


@pytest.mark.parametrize("algo,net", CASES)
def test_forward_shapes(algo, net):
    model = make_model(algo, net)
    obs = torch.as_tensor(sample_obs(SPACES[net], np.random.default_rng(1), 3))
    extractor = model.policy.q_net.features_extractor if algo == "dqn" else model.policy.features_extractor
    assert isinstance(extractor, EXTRACTORS.get(NETWORKS[net]["type"]))
    features = extractor(obs)
    assert features.shape == (3, extractor.features_dim)
    out = policy_outputs(model, obs)
    assert out.shape == ((3, N_ACTIONS) if algo == "dqn" else (3, N_ACTIONS + 1))
    actions, _ = model.predict(obs.numpy(), deterministic=True)
    assert actions.shape == (3,)


@pytest.mark.parametrize("algo,net,share", [(a, n, True) for a, n in CASES] + [("ppo", n, False) for n in NETWORKS])
def test_gradients_reach_every_parameter(algo, net, share):
    network = {**NETWORKS[net], "share_features_extractor": share}
    cfg = ExperimentConfig.model_validate({"algo": ALGOS[algo], "network": network})
    model = build_model(cfg, FakeEnv(SPACES[net]))
    obs = torch.as_tensor(sample_obs(SPACES[net], np.random.default_rng(2), 6))
    model.policy.set_training_mode(True)
    out = policy_outputs(model, obs)
    (out * torch.randn_like(out)).sum().backward()
    trained = model.policy.q_net if algo == "dqn" else model.policy
    missing = [name for name, p in trained.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"
    if algo == "ppo" and not share:
        assert model.policy.pi_features_extractor is not model.policy.vf_features_extractor


@pytest.mark.parametrize("algo,net", CASES)
def test_save_load_round_trip_identical_actions(algo, net, tmp_path):
    sections = {"optim": {"optimizer": "adamw", "weight_decay": 0.01, "lr_schedule": "cosine", "warmup_fraction": 0.1}}
    model = make_model(algo, net, **sections)
    model.learn(40)  # some updates, so the parameters differ from a fresh build
    obs = sample_obs(SPACES[net], np.random.default_rng(3), 16)
    expected, _ = model.predict(obs, deterministic=True)
    path = tmp_path / "model.zip"
    model.save(path)
    loaded = (DQN if algo == "dqn" else PPO).load(path)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], expected)
    # evaluation's path: rebuild from the config, load the parameters only
    rebuilt = make_model(algo, net, **sections)
    rebuilt.set_parameters(str(path))
    np.testing.assert_array_equal(rebuilt.predict(obs, deterministic=True)[0], expected)
    with torch.no_grad():
        t = torch.as_tensor(obs)
        torch.testing.assert_close(policy_outputs(rebuilt, t), policy_outputs(model, t))


@pytest.mark.parametrize("algo,net", CASES)
def test_predict_any_rows_matches_predict_on_training_shape(algo, net):
    model = make_model(algo, net)
    obs = sample_obs(SPACES[net], np.random.default_rng(4), 8)
    np.testing.assert_array_equal(predict_any_rows(model, obs), model.predict(obs, deterministic=True)[0])
    single = predict_any_rows(model, obs[0])
    assert single.shape == () and single == model.predict(obs[0], deterministic=True)[0]


# ------------------------------------------------------------------ attention properties


def attention_extractor(self_attention_layers: int = 1, separate: bool = True) -> EgoAttentionExtractor:
    torch.manual_seed(0)
    ex = EgoAttentionExtractor(SPACES["attention"], encoder_layers=[16, 16], heads=2,
                               self_attention_layers=self_attention_layers, separate_ego_encoder=separate)
    return ex.eval()


@settings(max_examples=25, deadline=None, database=None)
@given(seed=st.integers(0, 2**31 - 1), rows=st.integers(2, 9), data=st.data(),
       layers=st.integers(0, 2), separate=st.booleans())
def test_attention_invariant_to_order_of_other_vehicles(seed, rows, data, layers, separate):
    ex = attention_extractor(layers, separate)
    n_present = data.draw(st.integers(0, rows - 1), label="other vehicles present")
    obs = vehicles(np.random.default_rng(seed), 2, rows, n_present)
    order = [0] + data.draw(st.permutations(range(1, rows)), label="order of rows 1..")
    with torch.no_grad():
        a = ex(torch.as_tensor(obs))
        b = ex(torch.as_tensor(obs[:, order]))
        wa = ex.forward_with_weights(torch.as_tensor(obs))[1]
        wb = ex.forward_with_weights(torch.as_tensor(obs[:, order]))[1]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(wa[:, :, order], wb, atol=1e-6, rtol=1e-5)  # weights follow their vehicle


@settings(max_examples=25, deadline=None, database=None)
@given(seed=st.integers(0, 2**31 - 1), rows=st.integers(1, 6), extra=st.integers(0, 6),
       data=st.data(), layers=st.integers(0, 2))
def test_attention_invariant_to_absent_vehicles(seed, rows, extra, data, layers):
    """Absent rows (presence 0) change nothing, whatever their other features and however many."""
    ex = attention_extractor(layers)
    rng = np.random.default_rng(seed)
    n_present = data.draw(st.integers(0, rows - 1))
    obs = vehicles(rng, 2, rows, n_present)
    junk = rng.uniform(-1, 1, (2, rows + extra, FEATURES)).astype(np.float32)
    junk[:, :, 0] = rng.uniform(-1, 0.49, (2, rows + extra))  # presence < 0.5: absent
    padded = junk.copy()
    padded[:, : n_present + 1] = obs[:, : n_present + 1]
    with torch.no_grad():
        a = ex(torch.as_tensor(obs))
        b = ex(torch.as_tensor(padded))
        w = ex.forward_with_weights(torch.as_tensor(padded))[1]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert torch.all(w[:, :, n_present + 1:] == 0)


@pytest.mark.parametrize("algo", ALGOS)
def test_predict_any_rows_with_more_rows_than_training(algo):
    model = make_model(algo, "attention")
    model.learn(40)
    rng = np.random.default_rng(5)
    obs = vehicles(rng, 8, ROWS, present=ROWS - 1)
    expected, _ = model.predict(obs, deterministic=True)
    # the same traffic padded with absent rows: the same actions
    padded = np.zeros((8, 3 * ROWS, FEATURES), np.float32)
    padded[:, :ROWS] = obs
    np.testing.assert_array_equal(predict_any_rows(model, padded), expected)
    # denser traffic than in training: valid actions, one per observation, single or batched
    dense = vehicles(rng, 8, 3 * ROWS)
    actions = predict_any_rows(model, dense)
    assert actions.shape == (8,) and np.all((actions >= 0) & (actions < N_ACTIONS))
    assert predict_any_rows(model, dense[0]).shape == ()
    with pytest.raises(ValueError):
        model.predict(dense, deterministic=True)  # why predict_any_rows exists


@pytest.mark.parametrize("algo", ALGOS)
def test_attention_weights(algo):
    model = make_model(algo, "attention")
    obs = vehicles(np.random.default_rng(6), 4, 2 * ROWS, present=3)
    w = attention_weights(model, obs)
    assert w.shape == (4, 2, 2 * ROWS)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(w[:, :, 4:] == 0) and np.all(w[:, :, :4] > 0)
    assert attention_weights(model, obs[0]).shape == (1, 2, 2 * ROWS)


def test_rows_other_than_training_need_attention():
    """Inference is library code: it raises ValueError (the CLIs never reach it with a misfit)."""
    model = make_model("dqn", "mlp")
    with pytest.raises(ValueError, match="row-agnostic network"):
        predict_any_rows(model, vehicles(np.random.default_rng(7), 2, ROWS + 2))
    with pytest.raises(ValueError, match="attention network"):
        attention_weights(model, vehicles(np.random.default_rng(7), 2, ROWS))


# ------------------------------------------------------------------ networks that do not fit


@pytest.mark.parametrize("net,space,key", [
    ("cnn", gym.spaces.Box(-1, 1, (ROWS, FEATURES), np.float32), "network.type"),
    ("cnn", gym.spaces.Box(-1, 1, (ROWS * FEATURES,), np.float32), "network.type"),
    ("attention", gym.spaces.Box(-1, 1, (ROWS * FEATURES,), np.float32), "network.type"),
    ("attention", gym.spaces.Box(0, 255, (4, 24, 16), np.uint8), "network.type"),
    ("cnn", gym.spaces.Box(-np.inf, np.inf, (3, 2, 2), np.float32), "network.cnn.kernel_sizes"),
])
@pytest.mark.parametrize("algo", ALGOS)
def test_network_that_does_not_fit_fails_at_build(algo, net, space, key):
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        build_model(make_cfg(algo, net), FakeEnv(space))


def test_attention_presence_index_out_of_range_names_key():
    network = {**NETWORKS["attention"], "attention": {"encoder_layers": [8], "heads": 2, "presence_index": 9}}
    cfg = ExperimentConfig.model_validate({"algo": ALGOS["dqn"], "network": network})
    with pytest.raises(UserError, match=r"network\.attention\.presence_index"):
        build_model(cfg, FakeEnv(SPACES["attention"]))


@pytest.mark.parametrize("network,key", [
    ({"type": "attention", "attention": {"encoder_layers": [10], "heads": 3}}, "network.attention"),
    ({"type": "cnn", "cnn": {"channels": [4, 8], "kernel_sizes": [3], "strides": [1, 1]}}, "network.cnn"),
    ({"type": "cnn", "cnn": {"chanels": [4]}}, "network.cnn.chanels"),
    ({"type": "transformer"}, "network.type"),
    ({"activation": "swish"}, "network.activation"),
])
def test_bad_network_options_are_config_errors(network, key):
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        parse_config({"network": network})


@pytest.mark.parametrize("net", NETWORKS)
def test_extractor_kwargs_cover_the_options(net):
    cfg = make_cfg("dqn", net)
    kwargs = extractor_kwargs(cfg.network)
    section = getattr(cfg.network, cfg.network.type)
    assert set(kwargs) == set(type(section).model_fields) | {"activation"}
    assert policy_kwargs(cfg.network, ALGORITHMS.get("ppo"))["net_arch"] == {"pi": [16], "vf": [16]}


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "silu", "elu", "leaky_relu"])
def test_activation_reaches_extractor_and_heads(activation):
    network = {**NETWORKS["attention"], "activation": activation}
    model = build_model(ExperimentConfig.model_validate({"algo": ALGOS["ppo"], "network": network}),
                        FakeEnv(SPACES["attention"]))
    names = {type(m).__name__.lower().replace("_", "") for m in model.policy.modules()}
    expected = {"relu": "relu", "tanh": "tanh", "gelu": "gelu", "silu": "silu", "elu": "elu",
                "leaky_relu": "leakyrelu"}[activation]
    assert expected in names
    assert model.policy.activation_fn.__name__.lower().replace("_", "") == expected


# ------------------------------------------------------------------ cnn input scaling


def test_cnn_scales_frames_and_passes_unbounded_grids():
    frames = EXTRACTORS.get("cnn")(SPACES["cnn"], channels=[2], kernel_sizes=[3], strides=[1], features_dim=0)
    assert frames.scale_inputs and float(frames.in_scale) == 255.0
    grid = EXTRACTORS.get("cnn")(SPACES["cnn_grid"], channels=[2], kernel_sizes=[3], strides=[1], features_dim=0)
    assert not grid.scale_inputs
    assert grid.features_dim == 2 * 7 * 7
    assert policy_kwargs(make_cfg("dqn", "cnn").network, ALGORITHMS.get("dqn"))["normalize_images"] is False


# ------------------------------------------------------------------ optim: schedules, AdamW


@pytest.mark.parametrize("kind,warmup,points", [
    ("constant", 0.0, {0.0: 1.0, 0.5: 1.0, 1.0: 1.0}),
    ("constant", 0.2, {0.0: 0.0, 0.1: 0.5, 0.2: 1.0, 0.9: 1.0}),
    ("linear", 0.0, {0.0: 1.0, 0.25: 0.775, 0.5: 0.55, 1.0: 0.1}),
    ("linear", 0.5, {0.25: 0.5, 0.5: 1.0, 0.75: 0.55, 1.0: 0.1}),
    ("cosine", 0.0, {0.0: 1.0, 0.5: 0.55, 1.0: 0.1}),
    ("cosine", 0.2, {0.1: 0.5, 0.2: 1.0, 0.6: 0.55, 1.0: 0.1}),
])
def test_schedule_values(kind, warmup, points):
    sched = LRSchedule(kind, 1.0, final_fraction=0.1, warmup_fraction=warmup)
    for progress, value in points.items():
        assert sched.value_at(progress) == pytest.approx(value)
        assert sched(1.0 - progress) == pytest.approx(value)  # SB3 passes progress_remaining
    again = pickle.loads(pickle.dumps(sched))  # SB3 pickles it into model.zip
    assert again(0.3) == sched(0.3)


def test_cosine_schedule_is_monotone_after_warmup():
    sched = LRSchedule("cosine", 3e-4, final_fraction=0.0, warmup_fraction=0.1)
    values = [sched.value_at(p) for p in np.linspace(0.1, 1.0, 50)]
    assert all(a >= b for a, b in zip(values, values[1:])) and values[-1] == pytest.approx(0.0, abs=1e-12)


def test_constant_without_warmup_stays_a_float():
    cfg = make_cfg("dqn", "mlp")
    assert make_lr_schedule(cfg.optim, 5e-4) == 5e-4


@pytest.mark.parametrize("algo", ALGOS)
def test_adamw_weight_decay_reaches_the_optimizer(algo):
    model = make_model(algo, "mlp", optim={"optimizer": "adamw", "weight_decay": 0.05, "eps": 1e-6})
    opt = model.policy.optimizer
    assert isinstance(opt, torch.optim.AdamW)
    assert all(g["weight_decay"] == 0.05 and g["eps"] == 1e-6 for g in opt.param_groups)
    default = make_model(algo, "mlp").policy.optimizer
    assert type(default) is torch.optim.Adam
    assert all(g["weight_decay"] == 0.0 and g["eps"] == {"dqn": 1e-8, "ppo": 1e-5}[algo] for g in default.param_groups)


@pytest.mark.parametrize("algo", ALGOS)
def test_lr_schedule_drives_the_optimizer(algo):
    model = make_model(algo, "mlp", optim={"lr_schedule": "linear", "final_lr_fraction": 0.5})
    lr0 = model.policy.optimizer.param_groups[0]["lr"]
    assert lr0 == pytest.approx(5e-4)
    model.learn(64)
    lr = model.policy.optimizer.param_groups[0]["lr"]
    assert 0.5 * lr0 <= lr < lr0
    assert lr == pytest.approx(model.lr_schedule(model._current_progress_remaining))


# ------------------------------------------------------------------ parameter counts


def test_parameter_counts_ppo_separate_extractors_and_dqn_target():
    network = {**NETWORKS["attention"], "share_features_extractor": False}
    ppo = build_model(ExperimentConfig.model_validate({"algo": ALGOS["ppo"], "network": network}),
                      FakeEnv(SPACES["attention"]))
    c = parameter_counts(ppo)
    assert c["pi_features_extractor"] == c["vf_features_extractor"] > 0
    assert c["total"] == sum(c[k] for k in ("pi_features_extractor", "vf_features_extractor", "mlp_extractor",
                                            "action_net", "value_net"))
    shared = parameter_counts(make_model("ppo", "attention"))
    assert shared["total"] == c["total"] - c["vf_features_extractor"]
    d = parameter_counts(make_model("dqn", "attention"))
    assert d["total"] == d["q_net"] == d["q_net_target (copy)"]
    assert 0 < d["features_extractor"] < d["total"]


# ------------------------------------------------------------------ end to end on highway-env


def test_attention_model_drives_denser_intersection_than_trained():
    """Built for 15 vehicle rows from configs/intersection_dqn_attention.yaml, driven through
    evaluation's run_episode on intersection-v0 with 30 rows and more traffic."""
    from agents.config import load_config
    from agents.evaluation.episodes import run_episode
    from envs.factory import make_env

    cfg = load_config("configs/intersection_dqn_attention.yaml", ["algo.learning_starts=0"])
    train_env = make_env(cfg.env.id, cfg.env.config)
    model = build_model(cfg, train_env)
    dense_cfg = {**cfg.env.config, "observation": {**cfg.env.config["observation"], "vehicles_count": 30},
                 "initial_vehicle_count": 20}
    env = make_env(cfg.env.id, dense_cfg)
    seen = []

    def policy(obs):
        seen.append(obs.shape)
        return predict_any_rows(model, obs)

    try:
        result = run_episode(policy, env, seed=2_000_000)
    finally:
        env.close()
        train_env.close()
    assert result.length >= 1 and set(seen) == {(30, FEATURES)}
    assert attention_weights(model, np.zeros((30, FEATURES), np.float32) + 1).shape == (1, 2, 30)


def test_predict_any_rows_explores_only_when_asked():
    model = make_model("dqn", "attention")
    obs = vehicles(np.random.default_rng(8), 64, 2 * ROWS)
    greedy = predict_any_rows(model, obs)
    np.testing.assert_array_equal(predict_any_rows(model, obs, deterministic=True), greedy)
    model.exploration_rate = 1.0
    np.random.seed(0)
    model.policy.action_space.seed(0)
    assert not np.array_equal(predict_any_rows(model, obs, deterministic=False), greedy)
