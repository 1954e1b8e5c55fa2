"""FastHighway (laneforge/FastHighway-v0): parity with highway-env, Gymnasium and SB3 interfaces."""

from __future__ import annotations

import warnings

import gymnasium as gym
import highway_env  # noqa: F401  (registers highway-env ids)
import numpy as np
import pytest
from highway_env.road.road import Road, RoadNetwork
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.controller import MDPVehicle

import envs  # noqa: F401  (registers laneforge ids)
from envs.fast_highway import (
    FastHighwayCore,
    FastHighwayEnv,
    FastHighwayVectorEnv,
    highway_v0_config,
    make_sb3_vec_env,
    state_from_highway,
    state_from_road,
)
from envs.fast_highway.sim import SimState, road_act
from tests.fast_highway_steps import assert_steps_like, random_actions

ENV_ID = "laneforge/FastHighway-v0"
SMALL = {"vehicles_count": 8}


def _rollout_parity(hw_id: str, config: dict, seed: int, steps: int,
                    hw_config: dict | None = None) -> list[tuple[float, float, float, float]]:
    """Step highway-env and FastHighway from the same scene with the same ego actions."""
    if hw_config is None:
        hw_config = {"vehicles_count": config.get("vehicles_count", 20)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hw = gym.make(hw_id, config=hw_config).unwrapped
    hw.reset(seed=seed)
    core = FastHighwayCore(1, config)
    core.set_state(state_from_highway(hw))
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(steps):
        action = int(rng.integers(hw.action_space.n))
        hw_obs, hw_rew, hw_term, hw_trunc, hw_info = hw.step(action)
        rew, term, trunc, info = core.step(np.array([action]))
        s = core.state
        pos = np.array([v.position for v in hw.road.vehicles])
        speed = np.array([v.speed for v in hw.road.vehicles])
        errors.append((
            float(np.abs(pos - np.stack([s.x[0], s.y[0]], -1)).max()),
            float(np.abs(speed - s.speed[0]).max()),
            float(np.abs(hw_obs - core.observe()[0]).max()),
            abs(hw_rew - rew[0]),
        ))
        assert bool(term[0]) == hw_term and bool(trunc[0]) == hw_trunc
        assert info["rewards"]["right_lane_reward"][0] == pytest.approx(hw_info["rewards"]["right_lane_reward"])
        assert [v.target_lane_index[2] for v in hw.road.vehicles] == list(s.target_lane[0])
        assert [v.crashed for v in hw.road.vehicles] == list(s.crashed[0])
        if hw_term:
            break
    return errors


@pytest.mark.parametrize("seed", [0, 3])
def test_step_parity_with_highway_fast(seed):
    errors = np.array(_rollout_parity("highway-fast-v0", {"vehicles_count": 12}, seed, steps=10))
    assert errors[:, 0].max() < 1e-6  # positions [m]
    assert errors[:, 1].max() < 1e-6  # speeds [m/s]
    assert errors[:, 2].max() < 1e-6  # Kinematics observation
    assert errors[:, 3].max() < 1e-9  # reward


def test_step_parity_with_highway_v0_all_pairs_collisions():
    config = dict(highway_v0_config(), vehicles_count=15)
    errors = np.array(_rollout_parity("highway-v0", config, seed=1, steps=3))
    assert errors[:, :3].max() < 1e-6


@pytest.mark.parametrize(
    "config",
    [
        {"lanes_count": 1, "vehicles_count": 6},
        {"lanes_count": 5, "vehicles_density": 2, "vehicles_count": 15, "policy_frequency": 2,
         "simulation_frequency": 10},
        {"vehicles_count": 8, "action": {"type": "DiscreteMetaAction", "target_speeds": [10, 20, 30, 40]},
         "observation": {"type": "Kinematics", "vehicles_count": 7, "see_behind": True, "absolute": True,
                         "features": ["presence", "x", "y", "vx", "vy", "cos_h", "sin_h", "lat_off"]}},
        {"vehicles_count": 8, "action": {"type": "DiscreteMetaAction", "longitudinal": False},
         "observation": {"type": "Kinematics", "normalize": False}, "normalize_reward": False},
    ],
)
def test_step_parity_across_configs(config):
    errors = np.array(_rollout_parity("highway-fast-v0", config, seed=2, steps=6, hw_config=config))
    assert errors.max() < 1e-6


def test_imported_scenes_on_different_roads_step_as_one_batch_like_highway_env():
    """Scenes of highway-fast-v0 with 2, 4 and 5 lanes, imported into one batch: each env keeps
    its own road (lane changes, closest lanes), observation (y scaled by its lane count) and
    reward (right_lane_reward over its lanes), as its highway-env env computes them."""
    hws = []
    for lanes in (2, 4, 5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hw = gym.make("highway-fast-v0", config={"lanes_count": lanes, "vehicles_count": 12}).unwrapped
        hw.reset(seed=lanes)
        hws.append(hw)
    core = FastHighwayCore(3, {"vehicles_count": 12})  # 3 lanes: the batch makes room for 5
    core.set_state(SimState.concat([state_from_highway(hw) for hw in hws]))
    assert core.params.lanes == 5 and list(core.state.lanes) == [2, 4, 5]
    assert_steps_like(hws, core, steps=15, policy=random_actions, seed=1)
    assert core.state.lane[0].max() == 1 and core.state.lane[2].max() == 4


def test_imported_drivers_with_their_own_idm_and_mobil_parameters_step_like_highway_env():
    """RandomizedHighway-v0 scenes (2-4 lanes, each vehicle with its own desired speed, time
    headway, politeness up to 0.3, comfort acceleration and deceleration, ACC_MAX, and driver
    types) and highway-fast-v0 with laneforge's aggressive drivers (highway-env's
    other_vehicles_type pattern), imported into one batch, step as highway-env steps them."""
    hws = []
    for seed in range(4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hw = gym.make("laneforge/RandomizedHighway-v0",
                          config={"vehicles_count": 14, "politeness_range": [0.0, 0.3],
                                  "driver_shares": {"aggressive": [0.2, 0.4], "defensive": [0.2, 0.4]}}).unwrapped
        hw.reset(seed=seed)
        hws.append(hw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hw = gym.make("highway-fast-v0", config={"vehicles_count": 14, "vehicles_density": 1.5,
                                                 "other_vehicles_type": "envs.drivers.AggressiveDriver"}).unwrapped
    hw.reset(seed=0)
    hws.append(hw)
    core = FastHighwayCore(5, {"vehicles_count": 14})
    core.set_state(SimState.concat([state_from_highway(h) for h in hws]))
    assert core.params.drivers and core.state.politeness[:4, 1:].max() > 0.1  # the polite MOBIL path runs
    assert len(set(core.state.time_wanted[:, 1:].ravel().round(6))) > 10
    assert assert_steps_like(hws, core, steps=15, policy=random_actions, seed=3)["lane_changes"] > 0


def _lane_change_road() -> Road:
    """Three IDM vehicles changing into lane 1; the middle one must abort first."""
    road = Road(network=RoadNetwork.straight_road_network(3, speed_limit=30), np_random=np.random.default_rng(0))
    ego = MDPVehicle(road, np.array([500.0, 8.0]), 0.0, 25.0)
    road.vehicles.append(ego)
    for x, y, lane in ((100.0, 1.0, 0), (60.0, 7.0, 2), (40.0, 1.0, 0)):
        v = IDMVehicle(road, np.array([x, y]), 0.0, 25.0, target_lane_index=("0", "1", 1), timer=0.5)
        assert v.lane_index[2] == lane
        road.vehicles.append(v)
    return road


def test_sequential_lane_change_abort_matches_road_act():
    road = _lane_change_road()
    s = state_from_road(road)
    core = FastHighwayCore(1, {"vehicles_count": 3})
    road.act()  # highway-env: sequential over road.vehicles
    road_act(s, core.params)
    expected = [v.target_lane_index[2] for v in road.vehicles]
    assert list(s.target_lane[0]) == expected
    # vehicle 2 aborts (back to lane 2) because of vehicle 1; vehicle 3 then no longer sees
    # vehicle 2 targeting lane 1 and keeps changing: a parallel update would abort it too
    assert expected == [2, 1, 2, 1]


def test_make_and_make_vec_build_the_batched_classes():
    venv = gym.make_vec(ENV_ID, num_envs=3, config=SMALL)
    assert isinstance(venv, FastHighwayVectorEnv)
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    env = gym.make(ENV_ID, config=SMALL)
    assert isinstance(env.unwrapped, FastHighwayEnv)
    hw = gym.make("highway-fast-v0")
    assert env.observation_space == hw.observation_space
    assert env.action_space == hw.action_space


def test_gymnasium_env_checker():
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(gym.make(ENV_ID, config=SMALL).unwrapped, skip_render_check=True)


def test_vector_env_spaces_and_infos():
    venv = FastHighwayVectorEnv(4, SMALL)
    obs, info = venv.reset(seed=0)
    assert obs.shape == (4, 5, 5) and obs.dtype == np.float32
    assert venv.observation_space.contains(obs)
    assert info["_speed"].all() and info["speed"].shape == (4,)
    for _ in range(3):
        obs, rew, term, trunc, info = venv.step(venv.action_space.sample())
        assert venv.observation_space.contains(obs)
        assert rew.shape == term.shape == trunc.shape == (4,)
        assert ((0 <= rew) & (rew <= 1)).all()
        terms = {k for k in info["rewards"] if not k.startswith("_")}
        assert terms == {"collision_reward", "right_lane_reward", "high_speed_reward", "on_road_reward"}
        assert info["crashed"].dtype == bool


def test_autoreset_same_step_on_truncation():
    venv = FastHighwayVectorEnv(3, dict(SMALL, duration=2))
    venv.reset(seed=1)
    venv.step(np.ones(3, int))
    obs, _, term, trunc, info = venv.step(np.ones(3, int))
    done = term | trunc
    assert trunc.all() or done.all()
    assert info["_final_obs"].all()
    assert not np.array_equal(info["final_obs"][0], obs[0])  # obs is the fresh episode
    assert (venv.core.state.time == 0).all()
    fresh = FastHighwayVectorEnv(3, dict(SMALL, duration=2)).reset(seed=5)[0]
    assert obs[:, 0, 0].tolist() == fresh[:, 0, 0].tolist() == [1.0, 1.0, 1.0]  # ego present


def test_crash_terminates_and_resets_only_that_env():
    venv = FastHighwayVectorEnv(2, SMALL)
    venv.reset(seed=0)
    s = venv.core.state
    s.x[0, 1], s.y[0, 1], s.lane[0, 1], s.target_lane[0, 1] = s.x[0, 0] + 3.0, s.y[0, 0], s.lane[0, 0], s.lane[0, 0]
    s.speed[0, 1] = 0.0
    time_before = s.time[1]
    _, rew, term, _, info = venv.step(np.array([1, 1]))
    assert term.tolist() == [True, False]
    assert info["final_info"]["crashed"][0] and info["_final_info"].tolist() == [True, False]
    assert info["final_info"]["rewards"]["collision_reward"][0] == 1.0
    terms = {k: v[0] for k, v in info["final_info"]["rewards"].items()}
    expected = (-1 + 0.1 * terms["right_lane_reward"] + 0.4 * terms["high_speed_reward"] + 1) / (0.4 + 0.1 + 1)
    assert rew[0] == pytest.approx(expected)  # highway-env's normalization, collision -1 -> 0
    assert venv.core.state.time.tolist() == [0.0, time_before + 1]


def test_same_seed_same_batch_different_seed_different():
    def rollout(seed):
        venv = FastHighwayVectorEnv(4, SMALL)
        obs = [venv.reset(seed=seed)[0]]
        for t in range(4):
            obs.append(venv.step(np.full(4, t % 5))[0])
        return np.stack(obs)

    assert np.array_equal(rollout(7), rollout(7))
    assert not np.array_equal(rollout(7), rollout(8))
    single = gym.make(ENV_ID, config=SMALL)
    assert np.array_equal(single.reset(seed=3)[0], single.reset(seed=3)[0])


def test_spawn_follows_highway_env_placement():
    core = FastHighwayCore(2000, {})
    core.seed(0)
    core.reset_envs()
    s = core.state
    assert (np.diff(s.x, axis=1) > 0).all()  # each vehicle placed ahead of the previous ones
    assert (s.speed[:, 0] == 25).all() and ((21 <= s.speed[:, 1:]) & (s.speed[:, 1:] <= 24)).all()
    assert set(np.unique(s.lane)) == {0, 1, 2}
    offset0 = 1.5 * (12 + 25) * np.exp(-5 / 40 * 3)
    assert ((3.9 * offset0 <= s.x[:, 0]) & (s.x[:, 0] <= 4.1 * offset0)).all()
    # same distributions as highway-env's own spawning (20 of its scenes)
    hw = gym.make("highway-fast-v0").unwrapped
    gaps = []
    for seed in range(20):
        hw.reset(seed=seed)
        gaps.append(np.diff([v.position[0] for v in hw.road.vehicles]).mean())
    assert np.mean(gaps) == pytest.approx(np.diff(s.x, axis=1).mean(), rel=0.05)


def test_sb3_adapter_trains_ppo():
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    torch.set_num_threads(1)
    venv = make_sb3_vec_env(8, dict(SMALL, duration=5), seed=0)
    obs = venv.reset()
    assert obs.shape == (8, 5, 5)
    terminal_seen = False
    for _ in range(6):
        venv.step_async(np.ones(8, int))
        obs, rew, done, infos = venv.step_wait()
        assert rew.dtype == np.float32 and len(infos) == 8
        for i in np.nonzero(done)[0]:
            assert infos[i]["terminal_observation"].shape == (5, 5)
            assert "TimeLimit.truncated" in infos[i]
            terminal_seen = True
    assert terminal_seen
    model = PPO("MlpPolicy", VecMonitor(venv), n_steps=32, batch_size=64, n_epochs=1, seed=0, verbose=0)
    model.learn(256)
    assert model.num_timesteps >= 256
    assert len(model.ep_info_buffer) > 0  # episodes ended and were reset by the adapter


@pytest.mark.parametrize("config", [SMALL, dict(highway_v0_config(), vehicles_count=12)])
def test_numpy_and_torch_cpu_backends_agree(config):
    pytest.importorskip("torch")
    cores = [FastHighwayCore(16, dict(config, backend=backend)) for backend in ("numpy", "torch")]
    for core in cores:
        core.seed(11)
        core.reset_envs()
    rng = np.random.default_rng(0)
    for _ in range(5):
        actions = rng.integers(0, 5, 16)
        (rew_a, term_a, trunc_a, info_a), (rew_b, term_b, trunc_b, info_b) = (c.step(actions) for c in cores)
        np.testing.assert_allclose(rew_a, rew_b, rtol=0, atol=1e-12)
        assert np.array_equal(term_a, term_b) and np.array_equal(trunc_a, trunc_b)
        np.testing.assert_allclose(cores[0].observe(), cores[1].observe(), rtol=0, atol=1e-6)
    a, b = cores[0].state, cores[1].state.numpy(cores[1].xp)
    np.testing.assert_allclose(np.stack([a.x, a.y, a.speed]), np.stack([b.x, b.y, b.speed]), rtol=0, atol=1e-9)
    assert np.array_equal(a.target_lane, b.target_lane) and np.array_equal(a.crashed, b.crashed)


def test_torch_backend_vector_env_autoresets():
    pytest.importorskip("torch")
    venv = FastHighwayVectorEnv(4, dict(SMALL, backend="torch", duration=2))
    obs, _ = venv.reset(seed=0)
    assert isinstance(obs, np.ndarray) and obs.dtype == np.float32
    venv.step(np.ones(4, int))
    _, rew, term, trunc, info = venv.step(np.ones(4, int))
    assert isinstance(rew, np.ndarray) and (term | trunc).all() and info["_final_obs"].all()


def test_factory_builds_and_checks_keys():
    from envs.factory import EnvConfigError, check_env_config, make_env

    env = make_env(ENV_ID, {"vehicles_count": 5, "other_vehicles_type": "idm", "backend": "numpy"})
    assert env.reset(seed=0)[0].shape == (5, 5)
    with pytest.raises(EnvConfigError, match="vehicles_count"):
        check_env_config(ENV_ID, {"vehicle_count": 5})


@pytest.mark.parametrize(
    ("num_envs", "config", "match"),
    [
        (0, {}, "num_envs"),
        (2, {"lanes_count": 0}, "lanes_count"),
        (2, {"vehicles_count": 0}, "vehicles_count"),
        (2, {"backend": "jax"}, "backend"),
        (2, {"backend": "torch", "device": "tpu"}, "device"),
        (2, {"vehicle_count": 3}, "vehicle_count"),
        (2, {"observation": {"type": "OccupancyGrid"}}, "observation"),
        (2, {"action": {"type": "ContinuousAction"}}, "action"),
        (2, {"other_vehicles_type": "highway_env.vehicle.behavior.LinearVehicle"}, "other_vehicles_type"),
    ],
)
def test_bad_parameters_fail_with_the_key(num_envs, config, match):
    with pytest.raises(ValueError, match=match):
        FastHighwayVectorEnv(num_envs, config)


def test_cuda_without_gpu_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="device"):
        FastHighwayVectorEnv(2, {"backend": "torch", "device": "cuda"})


def test_rgb_array_frame_of_one_env():
    env = gym.make(ENV_ID, config=SMALL, render_mode="rgb_array")
    env.reset(seed=0)
    *_, info = env.step(1)
    ego = env.unwrapped.vehicle  # what agents.evaluation reads from highway-env envs
    assert ego.speed == info["speed"] and ego.lane_index[2] in (0, 1, 2)
    frame = env.render()
    assert frame.shape == (150, 600, 3) and frame.dtype == np.uint8
    assert frame.std() > 10  # not a blank (black) frame
    venv = FastHighwayVectorEnv(2, SMALL, render_mode="rgb_array")
    venv.reset(seed=0)
    assert venv.render_env(1).shape == (150, 600, 3)


def test_train_py_on_fast_highway_then_evaluate_on_highway_env(tmp_path):
    """The batched simulator through the ordinary config (n_envs = B, one process), and the
    agent judged on highway-env's own highway-fast-v0 through evaluate.py."""
    import json

    from tests.conftest import run_cli

    run_dir = tmp_path / "fh"
    proc = run_cli("train.py", "--config", "configs/fast_highway_ppo.yaml", "--run-dir", str(run_dir),
                   "--wandb", "disabled", "env.n_envs=16", "algo.n_steps=16", "algo.batch_size=64",
                   "algo.n_epochs=1", "train.total_timesteps=512", "train.eval_freq=256", "train.eval_episodes=1",
                   "train.progress_bar=false")
    assert proc.returncode == 0, proc.stderr
    assert "one batched simulator" in proc.stdout
    assert json.loads((run_dir / "train_summary.json").read_text())["num_timesteps"] == 512
    suite = tmp_path / "transfer.yaml"
    suite.write_text("name: transfer\nscenarios:\n"
                     "  - {name: fast, env_id: laneforge/FastHighway-v0, split: seen, env_config: {duration: 5}}\n"
                     "  - {name: highway_env, env_id: highway-fast-v0, split: unseen, env_config: {duration: 5}}\n")
    proc = run_cli("evaluate.py", str(run_dir), "--suite", str(suite), "--episodes", "2", "--video-episodes", "1",
                   "--no-progress", "--wandb", "disabled")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((run_dir / "eval" / "transfer" / "report.json").read_text())
    assert [s["status"] for s in report["scenarios"]] == ["ok", "ok"]
    assert all(len(s["videos"]) == 1 for s in report["scenarios"])
