"""stable-baselines3 VecEnv over one batched FastHighway simulator.

SB3's contract: ``step_wait`` resets finished envs in the same step, returns the fresh
observation, and puts the last one in ``infos[i]["terminal_observation"]``;
``infos[i]["TimeLimit.truncated"]`` marks a time-limit end so value bootstrapping is right.
Episode returns come from wrapping this with ``VecMonitor`` (left to the caller).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

from .env import FastHighwayVectorEnv


class FastHighwaySB3VecEnv(VecEnv):
    """``num_envs`` FastHighway envs stepped at once, as an SB3 VecEnv."""

    def __init__(self, num_envs: int, config: dict | None = None, seed: int | None = None,
                 render_mode: str | None = None, max_episode_steps: int | None = None) -> None:
        self.venv = FastHighwayVectorEnv(num_envs, config, render_mode=render_mode,
                                         max_episode_steps=max_episode_steps)
        self.render_mode = render_mode
        super().__init__(num_envs, self.venv.single_observation_space, self.venv.single_action_space)
        self._actions: np.ndarray | None = None
        self._next_seed = seed

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        self._next_seed = seed
        return super().seed(seed)

    def reset(self) -> np.ndarray:
        seed, self._next_seed = self._next_seed, None
        obs, info = self.venv.reset(seed=seed)
        self.reset_infos = self._env_infos(info, self.num_envs)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        obs, rew, term, trunc, info = self.venv.step(self._actions)
        done = term | trunc
        infos = self._env_infos(info, self.num_envs)
        finals = self._env_infos(info["final_info"], self.num_envs) if done.any() else []
        for b in np.nonzero(done)[0]:
            final = finals[b]
            final["terminal_observation"] = info["final_obs"][b]
            final["TimeLimit.truncated"] = bool(trunc[b] and not term[b])
            infos[b] = final
        return obs, rew.astype(np.float32), done, infos

    @staticmethod
    def _env_infos(info: dict[str, Any], n: int) -> list[dict[str, Any]]:
        """The batched info as n per-env dicts of Python scalars (nested dicts kept nested).

        One ``tolist()`` per key and a zip: building the dicts value by value with ``.item()``
        took a quarter of a step at 256 envs.
        """
        columns: dict[str, list] = {}
        for key, value in info.items():
            if key.startswith("_") or key in ("final_obs", "final_info"):
                continue
            columns[key] = (FastHighwaySB3VecEnv._env_infos(value, n) if isinstance(value, dict)
                            else np.asarray(value).tolist())
        if not columns:
            return [{} for _ in range(n)]
        keys = list(columns)
        return [dict(zip(keys, row)) for row in zip(*columns.values())]

    def close(self) -> None:
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [self.venv.render_env(b) for b in range(self.num_envs)]

    # Attribute access: every env of the batch shares one simulator and config.
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        if attr_name == "render_mode":
            return [self.render_mode] * len(self._get_indices(indices))
        value = getattr(self.venv, attr_name)
        return [value] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(f"FastHighwaySB3VecEnv: set '{attr_name}' through the config, not set_attr")

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        method = getattr(self.venv, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))
