"""laneforge/FastHighway-v0: highway-env's straight highway, batched on arrays.

- :class:`FastHighwayEnv` one env (``gymnasium.make``), :class:`FastHighwayVectorEnv` B envs
  (``gymnasium.make_vec``), :func:`make_sb3_vec_env` a stable-baselines3 VecEnv.
- :func:`state_from_highway` imports a highway-env scene; :func:`highway_v0_config` gives the
  overrides for highway-v0 (defaults are highway-fast-v0).
"""

from __future__ import annotations

from .bridge import load_into_highway, state_from_highway, state_from_road
from .config import default_config, highway_v0_config
from .env import FastHighwayCore, FastHighwayEnv, FastHighwayVectorEnv

ENV_ID = "laneforge/FastHighway-v0"


def make_sb3_vec_env(num_envs: int, config: dict | None = None, seed: int | None = None, *,
                     max_episode_steps: int | None = None, render_mode: str | None = None):
    """A stable-baselines3 VecEnv of ``num_envs`` FastHighway envs stepped as one batch.

    Same-step autoreset with ``terminal_observation`` and ``TimeLimit.truncated`` in the infos;
    ``seed`` seeds the first reset. Wrap it with VecMonitor for episode statistics.
    """
    from envs.sb3_vec import VectorEnvAdapter

    venv = FastHighwayVectorEnv(num_envs, config, render_mode=render_mode, max_episode_steps=max_episode_steps)
    return VectorEnvAdapter(venv, seed)


__all__ = [
    "ENV_ID", "FastHighwayCore", "FastHighwayEnv", "FastHighwayVectorEnv", "default_config",
    "highway_v0_config", "load_into_highway", "make_sb3_vec_env", "state_from_highway",
    "state_from_road",
]
