"""The episodes of an evaluation as tasks: what is left to run (:class:`Plan`: seeds per
scenario, which are recorded, their video names), running a task in this process or in worker
processes (every episode seeded and the policy deterministic, so results do not depend on the
worker count), and the progress shown while they run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from agents.cli import quiet_libraries
from agents.evaluation.episodes import model_policy, record_videos, run_batch, run_episode
from agents.evaluation.scenario_fit import forced_config, scenario_env
from agents.models.extractors import EXTRACTORS
from agents.plainlog import PlainProgress, is_terminal
from agents.rundir.loading import LoadedRun, load_run
from envs.factory import is_batched, make_batched_core
from envs.families import FamilySampler
from envs.suites import Scenario, highway_env_draw

# Episodes per batch on a batched simulator: a fixed size, so results do not depend on --workers.
BATCH_EPISODES = 1000


@dataclass
class Task:
    scenario: int
    seeds: list[int]
    video_dir: str | None = None
    record: bool = False  # keep trajectories for --save-rollouts
    first_video: int = 0  # index of the first recorded episode (names the video files)
    video_speed: float = 1.0
    batched: bool = False  # all seeds at once on the scenario's batched simulator (episodes.run_batch)


_RUN: LoadedRun | None = None


def _init_worker(run_dir: str, model: str, device: str) -> None:
    global _RUN
    quiet_libraries()
    import torch

    torch.set_num_threads(1)
    _RUN = load_run(run_dir, model=model, device=device)


def run_task(run: LoadedRun, scenario: Scenario, task: Task) -> dict[str, Any]:
    if task.batched:
        config, _ = forced_config(run.config, scenario)
        core = make_batched_core(scenario.env_id, len(task.seeds), config)
        if scenario.family is not None:  # held-out draws, seeded by the block's first seed
            core.set_family(FamilySampler(scenario.family, scenario.family_seed + task.seeds[0], len(task.seeds)))
        results = run_batch(model_policy(run.model), core, task.seeds[0], task.seeds,
                            max_episode_steps=run.config.env.max_episode_steps, record=task.record)
        return {"scenario": task.scenario, "results": results}
    if scenario.on_highway_env:
        return {"scenario": task.scenario, "results": _family_on_highway_env(run, scenario, task)}
    env = scenario_env(run.config, scenario, render_mode="rgb_array" if task.video_dir else None)
    if task.video_dir:
        if hasattr(EXTRACTORS.get(run.config.network.type), "forward_with_weights"):
            from agents.evaluation.overlay import AttentionOverlay

            env = AttentionOverlay(env, run.model)  # draws the ego's attention on the frames
        env = record_videos(env, Path(task.video_dir), scenario.name, len(task.seeds), first=task.first_video,
                            speed=task.video_speed)
    policy = model_policy(run.model)
    results = []
    try:
        for seed in task.seeds:
            if scenario.family is not None:  # a single env of a family scenario (a recorded episode)
                env.unwrapped.core.set_family(scenario.episode_sampler(seed))
            results.append(run_episode(policy, env, seed, record=task.record))
    finally:
        env.close()
    return {"scenario": task.scenario, "results": results}


def _family_on_highway_env(run: LoadedRun, scenario: Scenario, task: Task) -> list:
    """Each seed's family draw on its highway-env env (a new env per episode: the draws differ
    in road and hazard), the run's observation and action forced on it."""
    results = []
    for i, seed in enumerate(task.seeds):
        draw, env_id, config = highway_env_draw(scenario, seed)
        env = scenario_env(run.config, Scenario(name=scenario.name, split=scenario.split, env_id=env_id, env_config=config),
                           render_mode="rgb_array" if task.video_dir else None)
        if task.video_dir:
            env = record_videos(env, Path(task.video_dir), scenario.name, 1, first=task.first_video + i,
                                speed=task.video_speed)
        try:
            result = run_episode(model_policy(run.model), env, seed, record=task.record)
        finally:
            env.close()
        result.scenario = draw
        results.append(result)
    return results


def _run_task_in_worker(scenario: Scenario, task: Task) -> dict[str, Any]:
    assert _RUN is not None, "worker not initialized"
    return run_task(_RUN, scenario, task)


@dataclass
class Plan:
    """What an evaluation runs: ``episodes`` seeds per scenario from ``seed_base``, the first
    ``videos`` of them recorded into ``video_dir``."""

    episodes: int
    seed_base: int
    videos: int
    video_dir: Path
    video_speed: float = 1.0
    record: bool = False

    def video_name(self, scenario: str, index: int) -> str:
        return f"{scenario}-episode-{index}.mp4"

    def tasks(self, scenario: int, done: set[int], chunk: int, batched: bool = False) -> list[Task]:
        """The tasks left for ``scenario``: one per recorded episode (its video is named by its
        index), then the other episodes in chunks; ``done`` seeds are skipped. ``batched``: the
        other episodes in fixed blocks of :data:`BATCH_EPISODES` seeds (a block is seeded by its
        first seed, so it runs whole or again, whatever ``chunk`` is)."""
        todo = [s for s in range(self.seed_base, self.seed_base + self.episodes) if s not in done]
        tasks = [Task(scenario, [s], str(self.video_dir), record=self.record, first_video=s - self.seed_base,
                      video_speed=self.video_speed) for s in todo if s - self.seed_base < self.videos]
        rest = [s for s in todo if s - self.seed_base >= self.videos]
        if batched:
            first = self.seed_base + self.videos
            blocks: dict[int, list[int]] = {}
            for s in range(first, self.seed_base + self.episodes):
                blocks.setdefault((s - first) // BATCH_EPISODES, []).append(s)
            return tasks + [Task(scenario, block, record=self.record, batched=True) for block in blocks.values()
                            if not done & set(block)]
        return tasks + [Task(scenario, rest[i:i + chunk], record=self.record) for i in range(0, len(rest), chunk)]

    def remaining(self, scenarios: list[Scenario], results: dict[int, list], skip: set[int],
                  chunk: int) -> list[Task]:
        """The tasks left for every scenario but those in ``skip`` (after dropping stale videos)."""
        tasks = []
        for i, sc in enumerate(scenarios):
            done = {r.seed for r in results[i]}
            self.drop_stale_videos(sc.name, done)
            if i not in skip:
                tasks += self.tasks(i, done, chunk, batched=is_batched(sc.env_id) and not sc.on_highway_env)
        return tasks

    def drop_stale_videos(self, scenario: str, done: set[int]) -> None:
        """Delete this scenario's videos except those of finished recorded episodes (an earlier
        evaluation's, or one cut off while it was being written)."""
        keep = {self.video_name(scenario, s - self.seed_base) for s in done if s - self.seed_base < self.videos}
        for old in self.video_dir.glob(f"{scenario}-episode-*.mp4"):
            if old.name not in keep:
                old.unlink()

    def videos_of(self, scenario: str) -> list[Path]:
        paths = [self.video_dir / self.video_name(scenario, i) for i in range(self.videos)]
        return [p for p in paths if p.is_file()]


@contextmanager
def episode_progress(label: str, total: int, done: int, enabled: bool,
                     log_every: float) -> Iterator[Callable[[int], None]]:
    """``advance(n)`` for n more finished episodes: rich's bar on a terminal, a plain line every
    ``log_every`` seconds otherwise (a log file or pipe), nothing when not ``enabled``."""
    if not enabled:
        yield lambda n: None
    elif is_terminal():
        columns = (TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TextColumn("episodes"),
                   TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
            task_id = bar.add_task("eval", total=total, completed=done)
            yield lambda n: bar.advance(task_id, n)
    else:
        plain = PlainProgress(label, total, every_s=log_every, unit="episodes", start=done)
        count = [done]

        def advance(n: int) -> None:
            count[0] += n
            plain.update(count[0])

        try:
            yield advance
        finally:
            plain.close()


def execute(run: LoadedRun, scenarios: list[Scenario], tasks: list[Task], workers: int, model: str,
             device: str) -> Iterator[dict[str, Any]]:
    """Each task's results as it finishes: in this process, or in ``workers`` processes."""
    if workers == 1:
        for t in tasks:
            yield run_task(run, scenarios[t.scenario], t)
        return
    ctx = get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(str(run.run_dir), model, device)) as pool:
        futures = [pool.submit(_run_task_in_worker, scenarios[t.scenario], t) for t in tasks]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            for fut in futures:  # an interrupt or error: don't wait for tasks not started
                fut.cancel()
