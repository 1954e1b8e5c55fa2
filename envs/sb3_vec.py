"""One stable-baselines3 VecEnv over any same-step Gymnasium VectorEnv (a batched simulator).

SB3's contract, as its ``DummyVecEnv`` keeps it: ``step_wait`` resets finished envs in the
same step and returns the fresh observation; ``infos[i]`` is the finished episode's info
with ``terminal_observation`` and ``TimeLimit.truncated`` (a time-limit end, so values are
bootstrapped); ``reset_infos[i]`` is refreshed with the new episode's reset info;
``seed``/``set_options`` apply at the next ``reset``. Gymnasium's SAME_STEP layout gives all
of it: the finished episodes' info and observation under ``final_info``/``final_obs``, the
reset info at the top level. Episode returns come from wrapping with ``VecMonitor``.

Every batched env of laneforge (today ``laneforge/FastHighway-v0``; later batched roads)
reaches SB3 through :class:`VectorEnvAdapter`; :func:`envs.factory.make_batched_vec_env`
builds the VectorEnv from the id's registered ``vector_entry_point``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

FINAL_KEYS = ("final_obs", "final_info")


class VectorEnvAdapter(VecEnv):
    """``venv``'s ``num_envs`` envs as an SB3 VecEnv; ``seed`` seeds the first reset."""

    def __init__(self, venv: gym.vector.VectorEnv, seed: int | None = None) -> None:
        mode = venv.metadata.get("autoreset_mode")
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(f"{type(venv).__name__}: SB3 needs same-step autoreset (autoreset_mode "
                             f"SAME_STEP), this vector env has {mode}")
        self.venv = venv
        self.render_mode = venv.render_mode
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None
        if seed is not None:
            self.seed(seed)

    def reset(self) -> np.ndarray:
        obs, info = self.venv.reset(seed=self._batch_seed(), options=self._batch_options())
        self.reset_infos = env_infos(info, self.num_envs)
        self._reset_seeds()
        self._reset_options()
        return obs

    def _batch_seed(self) -> int | list[int] | None:
        """SB3's ``seed(s)`` gives env i the seed s + i, which is what a VectorEnv's
        ``reset(seed=s)`` means: pass s; other per-env seeds go as a list."""
        seeds = list(self._seeds)
        if seeds[0] is None:
            return None
        return seeds[0] if seeds == [seeds[0] + i for i in range(self.num_envs)] else seeds

    def _batch_options(self) -> dict | None:
        """One options dict for the batch (a VectorEnv resets all its envs with one)."""
        given = [o for o in self._options if o]
        if not given:
            return None
        if len(given) == self.num_envs and all(o == given[0] for o in given):
            return dict(given[0])
        per_env_keys = getattr(self.venv.unwrapped, "per_env_config_keys", None)
        if per_env_keys and all(set(o or {}) <= {"config"} for o in self._options):
            # per-env configs, in the list form the batched env takes (it refuses keys that cannot differ)
            return {"config": [dict((o or {}).get("config") or {}) for o in self._options]}
        allowed = f", or each env only a 'config' that differs in {', '.join(per_env_keys)}" if per_env_keys else ""
        raise ValueError(f"set_options: this vector env resets all its envs with one options dict: give every env "
                         f"the same options{allowed}")

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        obs, rew, term, trunc, info = self.venv.step(self._actions)
        done = np.asarray(term) | np.asarray(trunc)
        infos = env_infos(info, self.num_envs)
        if done.any():
            finals = env_infos(info["final_info"], self.num_envs)
            for b in np.nonzero(done)[0]:
                self.reset_infos[b] = infos[b]  # the top level holds the new episode's reset info
                infos[b] = {**finals[b], "terminal_observation": info["final_obs"][b]}
        for b, row in enumerate(infos):  # on every step, as DummyVecEnv
            row["TimeLimit.truncated"] = bool(trunc[b] and not term[b])
        return obs, np.asarray(rew, dtype=np.float32), done, infos

    def close(self) -> None:
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        if hasattr(self.venv, "render_env"):
            return [self.venv.render_env(b) for b in range(self.num_envs)]
        frames = self.venv.render()
        return list(frames) if frames is not None else [None] * self.num_envs

    # Attribute access: every env of the batch shares one simulator and config.
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = self.render_mode if attr_name == "render_mode" else getattr(self.venv, attr_name)
        return [value] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(f"{type(self.venv).__name__}: set '{attr_name}' through the config, not set_attr")

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        method = getattr(self.venv, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))


def env_infos(info: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """A Gymnasium vector info as n per-env dicts of Python scalars (nested dicts kept nested;
    a key whose ``_key`` mask is off for env i is left out of its dict, as SyncVectorEnv means it).

    One ``tolist()`` per key: building the dicts value by value with ``.item()`` took a quarter
    of a step at 256 envs.
    """
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, value in info.items():
        if key.startswith("_") or key in FINAL_KEYS:
            continue
        column = env_infos(value, n) if isinstance(value, dict) else np.asarray(value).tolist()
        mask = info.get(f"_{key}")
        present = [True] * n if mask is None else np.asarray(mask).tolist()
        for row, item, here in zip(rows, column, present):
            if here:
                row[key] = item
    return rows
