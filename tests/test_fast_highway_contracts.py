"""FastHighway keeps highway-env's configuration patterns and Gymnasium's vector contracts:
``env.unwrapped.config[key] = value`` then ``reset()``, ``reset(options={"config": ...})``,
one frame per sub-env from the vector ``render()`` (vector RecordVideo), and ``np_random_seed``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401

SMALL = {"vehicles_count": 6, "duration": 5}


def _lanes_seen(env, resets: int = 8) -> set[int]:
    lanes: set[int] = set()
    for i in range(resets):
        env.reset(seed=i)
        lanes |= set(np.asarray(env.unwrapped.core.state.lane).ravel().tolist())
    return lanes


def test_config_edited_between_resets_is_applied_whole():
    env = gym.make("laneforge/FastHighway-v0", config=dict(SMALL))
    env.reset(seed=0)
    env.unwrapped.config["lanes_count"] = 5  # highway-env's documented pattern
    env.unwrapped.config["observation"] = {**env.unwrapped.config["observation"], "vehicles_count": 8}
    obs, _ = env.reset(seed=0)
    assert env.unwrapped.core.params.lanes == 5 and max(_lanes_seen(env)) >= 3  # the road has 5 lanes now
    assert obs.shape == (8, 5) and env.observation_space.shape == (8, 5)
    # the right-lane reward reads the same lane count as the road: 1.0 in lane 4 only
    core = env.unwrapped.core
    core.state.lane[0, 0] = 4
    assert core.info_at_reset()["rewards"]["right_lane_reward"][0] == pytest.approx(1.0)


def test_reset_options_config_and_bad_values():
    env = gym.make("laneforge/FastHighway-v0", config=dict(SMALL))
    env.reset(seed=0, options={"config": {"lanes_count": 2}})
    assert env.unwrapped.core.params.lanes == 2 and _lanes_seen(env) <= {0, 1}
    env.unwrapped.config["lanes_count"] = 0
    with pytest.raises(ValueError, match="lanes_count"):
        env.reset()
    with pytest.raises(ValueError, match="only options\\['config'\\]"):
        env.reset(options={"speed": 3})


def test_vector_env_reconfigures_every_sub_env_and_sets_its_seed():
    venv = gym.make_vec("laneforge/FastHighway-v0", num_envs=3, vectorization_mode="vector_entry_point",
                        config=dict(SMALL))
    venv.reset(seed=42)
    assert venv.np_random_seed == 42
    venv.unwrapped.config["lanes_count"] = 4
    obs, _ = venv.reset(seed=1, options={"config": {"observation": {"type": "Kinematics", "vehicles_count": 6}}})
    assert venv.unwrapped.core.params.lanes == 4 and obs.shape == (3, 6, 5)
    assert venv.single_observation_space.shape == (6, 5) and venv.observation_space.shape == (3, 6, 5)


def test_vector_render_gives_one_frame_per_env_and_vector_record_video_works(tmp_path):
    venv = gym.make_vec("laneforge/FastHighway-v0", num_envs=2, vectorization_mode="vector_entry_point",
                        config=dict(SMALL, duration=2), render_mode="rgb_array")
    frames = venv.render()
    assert frames is None or len(frames) == 2  # nothing to draw before reset
    venv.reset(seed=0)
    frames = venv.render()
    assert len(frames) == 2 and frames[0].ndim == 3 and frames[0].shape == frames[1].shape
    recorded = gym.wrappers.vector.RecordVideo(venv, str(tmp_path), episode_trigger=lambda i: i == 0,
                                               disable_logger=True)
    recorded.reset(seed=0)
    for _ in range(4):
        recorded.step(np.ones(2, int))
    recorded.close()
    assert list(tmp_path.glob("*.mp4")), "vector RecordVideo wrote no video"
