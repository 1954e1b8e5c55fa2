"""The one SB3 adapter for batched envs behaves as SB3's DummyVecEnv: tested on the same
highway-env envs behind gymnasium's SyncVectorEnv (SAME_STEP) and behind DummyVecEnv."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor, VecNormalize

import envs  # noqa: F401
import highway_env  # noqa: F401  (registers highway-fast-v0)
from envs.sb3_vec import VectorEnvAdapter

CONFIG = {"vehicles_count": 5, "duration": 4, "vehicles_density": 2.0}
N = 3


def _env(config: dict = CONFIG):
    return lambda: gym.make("highway-fast-v0", config=dict(config))


def _pair(seed: int = 7) -> tuple[VectorEnvAdapter, DummyVecEnv]:
    ours = VectorEnvAdapter(SyncVectorEnv([_env()] * N, autoreset_mode=AutoresetMode.SAME_STEP), seed=seed)
    theirs = DummyVecEnv([_env()] * N)
    theirs.seed(seed)
    return ours, theirs


def _same_info(a: dict, b: dict) -> None:
    assert set(a) == set(b), (sorted(a), sorted(b))
    for key in a:
        if isinstance(a[key], np.ndarray) or isinstance(b[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key])
        else:
            assert a[key] == b[key], key


def test_steps_autoresets_and_reset_infos_match_dummy_vec_env():
    ours, theirs = _pair()
    np.testing.assert_array_equal(ours.reset(), theirs.reset())
    rng = np.random.default_rng(0)
    autoresets = 0
    for _ in range(14):
        actions = rng.integers(0, 5, size=N)
        a, b = ours.step(actions), theirs.step(actions)
        for x, y in zip(a[:3], b[:3]):
            np.testing.assert_array_equal(x, y)
        for i in range(N):
            _same_info(a[3][i], b[3][i])  # the finished episode's info, terminal_observation included
        for i in range(N):  # DummyVecEnv refreshes reset_infos[i] when env i autoresets
            ra, rb = ours.reset_infos[i], theirs.reset_infos[i]
            assert ra.keys() == rb.keys()
            np.testing.assert_array_equal(ra["speed"], rb["speed"])
        autoresets += int(a[2].sum())
    assert autoresets >= N  # duration 4 s: every env ended at least once
    ours.close(), theirs.close()


def test_options_apply_at_the_next_reset_and_wrappers_work():
    ours, theirs = _pair()
    for venv in (ours, theirs):
        venv.set_options({"config": {"duration": 2}})
        venv.reset()
        steps = 0
        done = np.zeros(N, bool)
        while not done.all():
            _, _, d, _ = venv.step(np.ones(N, int))
            done |= d
            steps += 1
        assert steps == 2  # the option's 2 s episode at 1 Hz, for both
    ours.set_options([{"config": {"duration": 2}}, {}, {}])  # SyncVectorEnv resets all envs with one dict
    with pytest.raises(ValueError, match="resets all its envs with one options dict: give every env the same options$"):
        ours.reset()
    wrapped = VecNormalize(VecMonitor(_pair()[0]))  # SB3's wrappers take it like any VecEnv
    wrapped.reset()
    for _ in range(5):
        wrapped.step(np.ones(N, int))
    assert wrapped.obs_rms.count > 1


def test_refuses_a_vector_env_without_same_step_autoreset():
    with pytest.raises(ValueError, match="SAME_STEP"):
        VectorEnvAdapter(SyncVectorEnv([_env()] * 2))  # gymnasium's default is NEXT_STEP
