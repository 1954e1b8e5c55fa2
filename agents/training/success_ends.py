"""``train.success_continues``: a success that ends an episode is learned as a time-limit end.

WorkZone ends its episode once the ego has passed the zone (``info["success"]``). To a learner
that is a terminal state worth nothing, while highway-env's normalized reward pays >= 0 at every
step: passing the zone early forgoes the rest of the episode's reward, so an agent that can slow
down learns to dawdle before the zone (measured in benchmarks/RESULTS.md, the generalist's
section). The road goes on after the zone, as it does after a time limit, so the learner is
told what SB3 already understands for time limits: ``TimeLimit.truncated`` on that step's info,
which makes PPO bootstrap from ``terminal_observation`` (SB3's on-policy rollout) and DQN's
replay buffer keep the transition non-terminal (``handle_timeout_termination``), as Pardo et
al. 2018 ("Time limits in reinforcement learning") argue for ends that are artifacts of how an
episode is cut. No library wrapper does this: SB3's VecEnvWrapper is the hook.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnvWrapper


class SuccessContinues(VecEnvWrapper):
    """Marks each episode that ended in success (not in a crash) as truncated, for the learner."""

    def reset(self) -> Any:
        return self.venv.reset()

    def step_wait(self) -> Any:
        obs, rewards, dones, infos = self.venv.step_wait()
        for i in np.flatnonzero(dones):
            info = infos[i]
            if bool(info.get("success", False)) and not bool(info.get("crashed", False)) \
                    and info.get("terminal_observation") is not None:
                info["TimeLimit.truncated"] = True
        return obs, rewards, dones, infos
