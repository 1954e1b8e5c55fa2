"""Evaluate a run folder over a suite of scenarios.

For each scenario the run's observation and action config is forced on the scenario's env
(so the trained network fits; an attention network may see more vehicle rows), episodes run
with seeds reserved for evaluation, the first K are recorded as videos, and metrics get 95%
bootstrap CIs. Episodes can run in worker processes (``workers``): every episode is seeded
and the policy deterministic, so the results are the same as with one worker. Finished
tasks are saved as they come, so an interrupted evaluation resumes (:mod:`agents.evaluation.resume_state`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from agents.cli import quiet_libraries
from agents.errors import Interrupted, UserError
from agents.evaluation.episodes import (
    FINAL_EVAL_SEED_BASE,
    model_policy,
    record_videos,
    run_episode,
    scenario_entry,
    write_report,
)
from agents.evaluation import resume_state as eval_progress
from agents.evaluation.report import write_report_html, write_report_markdown
from agents.evaluation.resume_state import as_json, parameters_sha256
from agents.fileio import atomic_write
from agents.models.extractors import EXTRACTORS
from agents.plainlog import PlainProgress, is_terminal
from agents.rundir.loading import LoadedRun, load_run
from agents.rundir.tracking import finish_wandb, init_wandb
from envs.factory import EnvConfigError, default_env_config, make_env
from envs.suites import Scenario

SEED_STRIDE = 100_000  # episodes per --seed value inside the reserved evaluation range


def train_scenario(run: LoadedRun) -> Scenario:
    return Scenario(name="train_env", split="seen", env_id=run.config.env.id, env_config=dict(run.config.env.config))


def model_info(run: LoadedRun) -> dict[str, Any]:
    cfg = run.config
    return {"algo": cfg.algo.name, "network": cfg.network.type, "timesteps": int(run.model.num_timesteps),
            "train_env": cfg.env.id, "train_env_config": cfg.env.config, "seed": cfg.train.seed}


# ---------------------------------------------------------------- fitting scenarios to the model


def _train_section(run_cfg: Any, section: str) -> dict[str, Any]:
    """The run's observation/action config, or its train env's default when not set."""
    if section in run_cfg.env.config:
        return dict(run_cfg.env.config[section])
    defaults = default_env_config(run_cfg.env.id) or {}
    return dict(defaults.get(section, {}))


def forced_config(run_cfg: Any, scenario: Scenario) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scenario's env config with the run's observation and action forced on it.

    Returns (env_config, forced): ``forced`` records what was overridden, for the report.
    A row-agnostic network (attention) keeps a scenario's larger ``observation.vehicles_count`` (it runs
    on any number of vehicle rows); scenario-specific action keys that don't change the
    action space (such as roundabout's ``target_speeds``) are kept.
    """
    if default_env_config(scenario.env_id) is None:
        return dict(scenario.env_config), {}
    config = dict(scenario.env_config)
    forced: dict[str, Any] = {}
    obs = _train_section(run_cfg, "observation")
    own_obs = dict(config.get("observation", {}))
    if EXTRACTORS.get(run_cfg.network.type).row_agnostic and own_obs.get("vehicles_count", 0) > obs.get("vehicles_count", 5):
        obs["vehicles_count"] = own_obs["vehicles_count"]
    if obs and own_obs != obs:
        forced["observation"] = obs
        config["observation"] = obs
    act = _train_section(run_cfg, "action")
    own_act = dict(config.get("action", {}))
    merged = {**{k: v for k, v in own_act.items() if k == "target_speeds"}, **act}
    if act and own_act != merged:
        forced["action"] = merged
        config["action"] = merged
    return config, forced


def scenario_env(run_cfg: Any, scenario: Scenario, render_mode: str | None = None):
    """The env a run is judged in for ``scenario``: the scenario's env with the run's
    observation and action forced on it (:func:`forced_config`), under the run's episode limit."""
    config, _ = forced_config(run_cfg, scenario)
    return make_env(scenario.env_id, config, render_mode=render_mode, max_episode_steps=run_cfg.env.max_episode_steps)


def fit_problem(model: Any, env: Any, network: str) -> str | None:
    """Why the model cannot act in ``env`` (None when it can)."""
    want, got = model.observation_space, env.observation_space
    if type(want) is not type(got):
        return f"observation space {got} differs from the model's {want}"
    if getattr(got, "shape", None) != getattr(want, "shape", None):
        rows_only = (len(got.shape) == len(want.shape) and got.shape[1:] == want.shape[1:])
        if not (rows_only and EXTRACTORS.get(network).row_agnostic):
            return f"observation shape {got.shape} differs from the model's {want.shape}"
    if env.action_space != model.action_space:
        return f"action space {env.action_space} differs from the model's {model.action_space}"
    return None


# ---------------------------------------------------------------- episodes (in-process or in workers)


@dataclass
class Task:
    scenario: int
    seeds: list[int]
    video_dir: str | None = None
    record: bool = False  # keep trajectories for --save-rollouts
    first_video: int = 0  # index of the first recorded episode (names the video files)
    video_speed: float = 1.0


_RUN: LoadedRun | None = None


def _init_worker(run_dir: str, model: str, device: str) -> None:
    global _RUN
    quiet_libraries()
    import torch

    torch.set_num_threads(1)
    _RUN = load_run(run_dir, model=model, device=device)


def _run_task(run: LoadedRun, scenario: Scenario, task: Task) -> dict[str, Any]:
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
            results.append(run_episode(policy, env, seed, record=task.record))
    finally:
        env.close()
    return {"scenario": task.scenario, "results": results}


def _run_task_in_worker(scenario: Scenario, task: Task) -> dict[str, Any]:
    assert _RUN is not None, "worker not initialized"
    return _run_task(_RUN, scenario, task)


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

    def tasks(self, scenario: int, done: set[int], chunk: int) -> list[Task]:
        """The tasks left for ``scenario``: one per recorded episode (its video is named by its
        index), then the other episodes in chunks; ``done`` seeds are skipped."""
        todo = [s for s in range(self.seed_base, self.seed_base + self.episodes) if s not in done]
        tasks = [Task(scenario, [s], str(self.video_dir), record=self.record, first_video=s - self.seed_base,
                      video_speed=self.video_speed) for s in todo if s - self.seed_base < self.videos]
        rest = [s for s in todo if s - self.seed_base >= self.videos]
        return tasks + [Task(scenario, rest[i:i + chunk], record=self.record) for i in range(0, len(rest), chunk)]

    def remaining(self, scenarios: list[Scenario], results: dict[int, list], skip: set[int],
                  chunk: int) -> list[Task]:
        """The tasks left for every scenario but those in ``skip`` (after dropping stale videos)."""
        tasks = []
        for i, sc in enumerate(scenarios):
            done = {r.seed for r in results[i]}
            self.drop_stale_videos(sc.name, done)
            if i not in skip:
                tasks += self.tasks(i, done, chunk)
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


# ---------------------------------------------------------------- progress


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


# ---------------------------------------------------------------- the suite


def check_scenarios(run: LoadedRun, scenarios: list[Scenario]) -> tuple[dict[int, str], dict[int, dict]]:
    """Why each scenario the model cannot act in does not fit, and what was forced on each."""
    problems: dict[int, str] = {}
    forced: dict[int, dict] = {}
    for i, sc in enumerate(scenarios):
        try:
            config, forced[i] = forced_config(run.config, sc)
            env = make_env(sc.env_id, config, max_episode_steps=run.config.env.max_episode_steps)
            try:
                problem = fit_problem(run.model, env, run.config.network.type)
            finally:
                env.close()
        except (EnvConfigError, UserError, ValueError) as exc:
            problem = str(exc)
        if problem:
            problems[i] = problem
    return problems, forced


def eval_settings(run: LoadedRun, model: str, scenarios: list[Scenario], plan: Plan, seed: int) -> dict[str, Any]:
    """What makes two evaluations the same: the model, the scenarios, episodes, seed and videos."""
    return as_json({
        "model": {"which": model, "timesteps": int(run.model.num_timesteps),
                  "parameters_sha256": parameters_sha256(run.model)},
        "scenarios": [{"name": s.name, "split": s.split, "env_id": s.env_id, "env_config": s.env_config}
                      for s in scenarios],
        "episodes": plan.episodes, "seed": seed, "video_episodes": plan.videos,
        "video_speed": plan.video_speed if plan.videos else None, "save_rollouts": plan.record,
    })


def _validate(episodes: int, seed: int, workers: int, video_speed: float, log_every: float) -> None:
    if episodes < 1:
        raise UserError("--episodes must be at least 1")
    if workers < 1:
        raise UserError("--workers must be at least 1")
    if not 0 <= seed < 10 or seed * SEED_STRIDE + episodes > 10 * SEED_STRIDE:
        raise UserError(f"--seed must be in 0..9 and --episodes at most {SEED_STRIDE} (evaluation seeds are reserved)")
    if not video_speed > 0:
        raise UserError(f"--video-speed must be above 0 (1 = real time, 2 = highway-env's videos), got {video_speed}")
    if not log_every >= 0:
        raise UserError(f"--log-every must be 0 or more seconds, got {log_every}")


def evaluate_run(run_dir: Path, suite_name: str, scenarios: list[Scenario] | None, episodes: int, seed: int,
                 video_episodes: int, device: str = "cpu", model: str = "model", wandb_mode: str = "disabled",
                 progress: bool = True, workers: int = 1, save_rollouts: bool = False, video_speed: float = 1.0,
                 log_every: float = 30.0) -> Path:
    """Evaluate ``run_dir`` on ``scenarios``; returns the report's path.

    Finished tasks are saved as they come (:mod:`agents.evaluation.resume_state`): rerunning an
    interrupted evaluation with the same settings runs only the episodes still missing, and
    gives the same report as one uninterrupted run.
    """
    _validate(episodes, seed, workers, video_speed, log_every)
    run = load_run(run_dir, model=model, device=device)
    scenarios = scenarios or [train_scenario(run)]
    out_dir = run.run_dir / "eval" / suite_name
    plan = Plan(episodes, FINAL_EVAL_SEED_BASE + seed * SEED_STRIDE, min(video_episodes, episodes),
                out_dir / "videos", video_speed, save_rollouts)
    settings = eval_settings(run, model, scenarios, plan, seed)
    state = eval_progress.check_previous(out_dir, settings)
    if state == "complete":
        print(f"{out_dir / 'report.json'}: already complete with these settings (delete {out_dir} to evaluate "
              "again)", file=sys.stderr)
        return out_dir / "report.json"
    if state == "new":
        eval_progress.start(out_dir, settings)
    done = eval_progress.load_done(out_dir)
    problems, forced = check_scenarios(run, scenarios)
    results = {i: list(done.get(sc.name, [])) for i, sc in enumerate(scenarios)}
    tasks = plan.remaining(scenarios, results, set(problems), chunk=max(1, min(10, episodes // workers or 1)))
    total = episodes * (len(scenarios) - len(problems))
    finished = sum(len(results[i]) for i in results if i not in problems)
    with episode_progress(f"eval {suite_name}", total, finished, progress, log_every) as advance:
        try:
            for out in _execute(run, scenarios, tasks, workers, model, device):
                results[out["scenario"]] += out["results"]
                eval_progress.save_task(out_dir, scenarios[out["scenario"]].name, out["results"])
                advance(len(out["results"]))
        except KeyboardInterrupt:
            print(f"interrupted: finished episodes are kept in {out_dir / eval_progress.PARTIAL}; rerun the same "
                  "command to continue", file=sys.stderr)
            raise Interrupted(130) from None
    report, entries = _write_reports(run, out_dir, suite_name, scenarios, plan, results, problems, forced, settings)
    _log_wandb(run, suite_name, entries, wandb_mode)
    eval_progress.clear(out_dir)
    return report


def _execute(run: LoadedRun, scenarios: list[Scenario], tasks: list[Task], workers: int, model: str,
             device: str) -> Iterator[dict[str, Any]]:
    """Each task's results as it finishes: in this process, or in ``workers`` processes."""
    if workers == 1:
        for t in tasks:
            yield _run_task(run, scenarios[t.scenario], t)
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


def _write_reports(run: LoadedRun, out_dir: Path, suite_name: str, scenarios: list[Scenario], plan: Plan,
                   results: dict[int, list], problems: dict[int, str], forced: dict[int, dict],
                   settings: dict[str, Any]) -> tuple[Path, list[dict]]:
    """report.json (with the settings), report.md, report.html and the rollouts; the report's
    path and its scenario entries."""
    entries = []
    for i, sc in enumerate(scenarios):
        if i in problems:
            entries.append(scenario_entry(sc.name, sc.split, sc.env_id, sc.env_config, [], [],
                                          status="incompatible", reason=problems[i], forced=forced.get(i)))
            continue
        episodes_i = sorted(results[i], key=lambda r: r.seed)
        rows = [r.row() for r in episodes_i]
        rel = [str(v.relative_to(run.run_dir)) for v in plan.videos_of(sc.name)]
        entries.append(scenario_entry(sc.name, sc.split, sc.env_id, sc.env_config, rows, rel, forced=forced.get(i)))
        if plan.record:
            save_rollout_file(out_dir / "rollouts" / f"{sc.name}.npz", episodes_i)
    report = write_report(out_dir, run.run_dir, suite_name, model_info(run), entries, settings=settings)
    write_report_markdown(report)
    write_report_html(report)
    return report, entries


def save_rollout_file(path: Path, episodes: list) -> None:
    """Trajectories as plain numeric arrays (``np.load`` needs no pickle)."""
    steps = [ep.trajectory for ep in episodes]
    arrays = {
        "episode": np.concatenate([np.full(len(t["actions"]), i) for i, t in enumerate(steps)]),
        "seed": np.array([ep.seed for ep in episodes]),
        "crashed": np.array([ep.crashed for ep in episodes]),
        "success": np.array([np.nan if ep.success is None else ep.success for ep in episodes]),
        "return": np.array([ep.return_ for ep in episodes]),
    }
    for key in ("observations", "actions", "rewards", "ego_x", "ego_y", "ego_speed"):
        arrays[key] = np.concatenate([np.asarray(t[key]) for t in steps]) if steps else np.array([])

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    atomic_write(path, write)


def _log_wandb(run: LoadedRun, suite: str, entries: list[dict], mode: str) -> None:
    """An eval run in the training run's W&B group: metrics in the summary, a table of the
    scenario rows, and the videos as wandb.Video."""
    if mode == "disabled":
        return
    cfg = run.config
    wb = init_wandb(mode, run.run_dir, f"{run.run_dir.name}__eval__{suite}", cfg.logging.project,
                    cfg.logging.experiment or "default",
                    [cfg.algo.name, cfg.network.type, cfg.env.id, f"seed{cfg.train.seed}", "eval"],
                    {**cfg.model_dump(mode="json"), "eval_suite": suite, "train_run": run.run_dir.name},
                    job_type="eval")
    if wb is None:
        return
    try:
        import wandb

        metrics = sorted({m for e in entries for m in e["metrics"]})
        table = wandb.Table(columns=["scenario", "split", "env_id", "status", "episodes", *metrics])
        summary = {}
        for e in entries:
            table.add_data(e["name"], e["split"], e["env_id"], e["status"], e["episodes"],
                           *[e["metrics"].get(m, {}).get("mean") for m in metrics])
            for metric, stats in e["metrics"].items():
                summary[f"eval/{e['name']}/{metric}"] = stats["mean"]
        wb.summary.update(summary)
        log: dict[str, Any] = {f"eval/{suite}/scenarios": table}
        for e in entries:
            for v in e["videos"][:2]:
                log[f"videos/{e['name']}/{Path(v).stem}"] = wandb.Video(str(run.run_dir / v), format="mp4")
        wb.log(log)
    except Exception as exc:  # noqa: BLE001 - W&B never fails an evaluation
        print(f"warning: W&B eval logging failed: {exc}", file=sys.stderr)
    finish_wandb(wb)


def render_human(run_dir: Path, scenario: Scenario | None, episodes: int, seed: int, model: str = "model") -> None:
    """Watch the agent live in a window (needs a display)."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise UserError("--render human needs a display, and none is set (DISPLAY is empty); "
                        "use the recorded videos instead (--video-episodes K)")
    run = load_run(run_dir, model=model)
    sc = scenario or train_scenario(run)
    env = scenario_env(run.config, sc, render_mode="human")
    policy = model_policy(run.model)
    try:
        for i in range(episodes):
            run_episode(policy, env, FINAL_EVAL_SEED_BASE + seed * SEED_STRIDE + i)
    finally:
        env.close()
