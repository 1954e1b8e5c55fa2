"""Training callbacks: reward terms, episode counts, progress, periodic evaluation, checkpoints,
wall-clock limits."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from stable_baselines3.common.callbacks import BaseCallback

from agents.evaluation.episodes import TRAIN_EVAL_SEED_BASE, aggregate, model_policy, run_episode
from agents.plainlog import PlainProgress, is_terminal


class RewardTermsCallback(BaseCallback):
    """Means of highway-env's named reward terms (``info["rewards"]``) as ``rollout/reward_<term>``."""

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            for name, value in (info.get("rewards") or {}).items():
                self.logger.record_mean(f"rollout/reward_{name}", float(value))
        return True


class EpisodeCounter(BaseCallback):
    """Counts finished episodes for every algorithm (SB3's on-policy loop counts none) and
    keeps the recent returns; its counts are stored in checkpoints and restored on resume.

    On-policy algorithms only change their parameters between rollouts, so a checkpoint
    taken mid-rollout (Ctrl-C, a time limit, a periodic checkpoint) holds the parameters of
    the last rollout boundary: :meth:`resume_point` gives that boundary's step and episode
    counts, so a resumed run redoes the unused part of the rollout and ends exactly on budget.
    """

    def __init__(self, episodes: int = 0, on_policy: bool = False) -> None:
        super().__init__()
        self.episodes = episodes
        self.returns: deque[float] = deque(maxlen=20)
        self.on_policy = on_policy
        self._in_rollout = False
        self._boundary = (0, episodes)

    def _on_training_start(self) -> None:
        self._boundary = (self.num_timesteps, self.episodes)

    def _on_rollout_start(self) -> None:
        self._in_rollout = True
        self._boundary = (self.num_timesteps, self.episodes)

    def _on_rollout_end(self) -> None:
        self._in_rollout = False

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            if "episode" in info:
                self.episodes += 1
                self.returns.append(float(info["episode"]["r"]))
        return True

    def resume_point(self) -> tuple[int, int]:
        """(env steps, episodes) a checkpoint taken now continues from."""
        if self.on_policy and self._in_rollout:
            return self._boundary
        return self.num_timesteps, self.episodes

    def recent_return(self) -> str:
        return f"{np.mean(self.returns):.2f}" if self.returns else "-"


class TrainProgressCallback(BaseCallback):
    """Progress on stderr: steps, episodes, recent return, steps/s and ETA. A rich bar on a
    terminal; a plain line every ``every_s`` seconds otherwise (logs, nohup, SLURM, CI)."""

    def __init__(self, total_timesteps: int, counter: EpisodeCounter, every_s: float = 30.0,
                 plain: bool | None = None) -> None:
        super().__init__()
        self.total = total_timesteps
        self.counter = counter
        self.every_s = every_s
        self.plain = not is_terminal() if plain is None else plain
        self.progress: Progress | None = None
        self.lines: PlainProgress | None = None
        self.task = None
        self._t0 = 0.0
        self._n0 = 0
        self._last_update = 0.0

    def _on_training_start(self) -> None:
        self._t0, self._n0 = time.time(), self.num_timesteps
        if self.plain:
            self.lines = PlainProgress("train", self.total, self.every_s, start=self.num_timesteps)
            return
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(),
            TextColumn("{task.completed:>7.0f}/{task.total:.0f} steps"),
            TextColumn("ep {task.fields[episodes]}"), TextColumn("return {task.fields[ret]}"),
            TextColumn("{task.fields[sps]} steps/s"), TimeRemainingColumn(),
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=self.total, completed=self.num_timesteps,
                                           episodes=self.counter.episodes, ret="-", sps="-")

    def _on_step(self) -> bool:
        if self.lines is not None:
            self.lines.update(self.num_timesteps, episodes=f"{self.counter.episodes:,}",
                              **{"return": self.counter.recent_return()})
            return True
        now = time.time()
        if now - self._last_update < 0.25 and self.num_timesteps < self.total:
            return True  # the bar refreshes 4 times a second; updating it every step costs
        self._last_update = now
        elapsed = max(now - self._t0, 1e-9)
        self.progress.update(
            self.task, completed=self.num_timesteps, episodes=self.counter.episodes,
            ret=self.counter.recent_return(), sps=f"{(self.num_timesteps - self._n0) / elapsed:.1f}",
        )
        return True

    def _on_training_end(self) -> None:
        if self.lines is not None:
            self.lines.close(episodes=f"{self.counter.episodes:,}", **{"return": self.counter.recent_return()})
        if self.progress is not None:
            self.progress.stop()


class WallClockCallback(BaseCallback):
    """Time-based checkpoints (``every_s``) and a clean stop before a wall-time limit.

    ``deadline`` is a ``time.time()`` value (absolute, so an experiment's workers share it). Training stops (``stopped`` is set and SB3
    returns from ``learn``) once the time left is below a margin that covers what still has
    to happen before the process may exit: finishing the current PPO update (the longest
    gap between two steps seen so far) and writing the checkpoint (the longest save seen),
    both doubled, plus 10 s.
    """

    def __init__(self, save: Callable[[], Any], deadline: float | None = None, every_s: float | None = None) -> None:
        super().__init__()
        self.save = save
        self.deadline = deadline
        self.every_s = every_s
        self.stopped = False
        self.longest_gap = 0.0
        self.longest_save = 0.0
        self._last_step = 0.0
        self._last_save = 0.0

    def _on_training_start(self) -> None:
        self._last_step = self._last_save = time.monotonic()

    def timed_save(self) -> Any:
        t0 = time.monotonic()
        out = self.save()
        self.longest_save = max(self.longest_save, time.monotonic() - t0)
        self._last_save = time.monotonic()
        return out

    def margin(self) -> float:
        return 2 * self.longest_gap + 2 * self.longest_save + 10.0

    def out_of_time(self) -> bool:
        return self.deadline is not None and self.deadline - time.time() <= self.margin()

    def _on_step(self) -> bool:
        now = time.monotonic()
        self.longest_gap = max(self.longest_gap, now - self._last_step)
        self._last_step = now
        if self.out_of_time():
            self.stopped = True
            return False
        if self.every_s is not None and now - self._last_save >= self.every_s:
            self.timed_save()
        return True


class EveryNStepsCallback(BaseCallback):
    """Calls ``fire()`` each time the env-step count crosses a multiple of ``freq``
    (n_envs > 1 steps several at once, so equality checks would miss some)."""

    def __init__(self, freq: int) -> None:
        super().__init__()
        self.freq = freq
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.freq + 1) * self.freq

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.freq * ((self.num_timesteps - self._next) // self.freq + 1)
            self.fire()
        return True

    def fire(self) -> None:
        raise NotImplementedError


class PeriodicEvalCallback(EveryNStepsCallback):
    """Deterministic evaluation every ``eval_freq`` env steps on a separate env, with seeds
    reserved for it; logs ``eval/...`` and keeps the best model (by mean return)."""

    def __init__(self, eval_env: Any, eval_freq: int, n_episodes: int,
                 on_best: Callable[[float], None], best_return: float = -np.inf) -> None:
        super().__init__(eval_freq)
        self.eval_env = eval_env
        self.n_episodes = n_episodes
        self.on_best = on_best
        self.best_return = best_return

    def fire(self) -> None:
        self.evaluate()

    def evaluate(self) -> dict:
        policy = model_policy(self.model)
        rows = [run_episode(policy, self.eval_env, TRAIN_EVAL_SEED_BASE + i).row() for i in range(self.n_episodes)]
        metrics = aggregate(rows)
        for name, stats in metrics.items():
            self.logger.record(f"eval/{name}", stats["mean"])
        mean_return = metrics["return"]["mean"]
        if mean_return > self.best_return:
            self.best_return = mean_return
            self.on_best(mean_return)
        self.logger.record("eval/best_return", self.best_return)
        self.logger.dump(self.num_timesteps)
        return metrics


class PeriodicCheckpointCallback(EveryNStepsCallback):
    """Calls ``save(step)`` every ``freq`` env steps (the run decides what a checkpoint holds)."""

    def __init__(self, freq: int, save: Callable[[int], Path]) -> None:
        super().__init__(freq)
        self.save = save

    def fire(self) -> None:
        self.save(self.num_timesteps)


class NonFiniteError(RuntimeError):
    pass


class NonFiniteCallback(BaseCallback):
    """Stop training when the loss or a parameter stops being finite, naming the step.

    Checked after each rollout (PPO: before each update; DQN: every ``train_freq`` steps) and
    on every logged loss (tests/launch_train.py --nan-at proves it by poisoning a weight).
    """

    def __init__(self, every: int = 100) -> None:
        super().__init__()
        self.every = every
        self._last_check = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last_check >= self.every:
            self._check()
        return True

    def _on_rollout_end(self) -> None:
        self._check()

    def _check(self) -> None:
        self._last_check = self.num_timesteps
        for key in ("train/loss", "train/value_loss", "train/policy_gradient_loss"):
            value = self.logger.name_to_value.get(key)
            if value is not None and not np.isfinite(value):
                raise NonFiniteError(f"non-finite {key} ({value}) at step {self.num_timesteps}")
        for name, param in self.model.policy.named_parameters():
            if not torch.isfinite(param).all():
                raise NonFiniteError(f"non-finite parameter '{name}' at step {self.num_timesteps}")
