"""Evaluate a run folder over a suite of scenarios.

For each scenario the run's observation and action config is forced on the scenario's env
(so the trained network fits; an attention network may see more vehicle rows), episodes run
with seeds reserved for evaluation, the first K are recorded as videos, and metrics get 95%
bootstrap CIs. Episodes can run in worker processes (``workers``): every episode is seeded
and the policy deterministic, so the results are the same as with one worker.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from agents.errors import UserError
from agents.evaluation import (
    FINAL_EVAL_SEED_BASE,
    model_policy,
    record_videos,
    run_episode,
    scenario_entry,
    write_report,
)
from agents.runs import LoadedRun, load_run
from agents.tracking import finish_wandb, init_wandb
from envs.factory import EnvConfigError, default_env_config, make_env

SEED_STRIDE = 100_000  # episodes per --seed value inside the reserved evaluation range


@dataclass
class Scenario:
    name: str
    split: str  # "seen" | "unseen"
    env_id: str
    env_config: dict[str, Any] = field(default_factory=dict)


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
    An attention network keeps a scenario's larger ``observation.vehicles_count`` (it runs
    on any number of vehicle rows); scenario-specific action keys that don't change the
    action space (such as roundabout's ``target_speeds``) are kept.
    """
    if default_env_config(scenario.env_id) is None:
        return dict(scenario.env_config), {}
    config = dict(scenario.env_config)
    forced: dict[str, Any] = {}
    obs = _train_section(run_cfg, "observation")
    own_obs = dict(config.get("observation", {}))
    if run_cfg.network.type == "attention" and own_obs.get("vehicles_count", 0) > obs.get("vehicles_count", 5):
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
        if not (rows_only and network == "attention"):
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


_RUN: LoadedRun | None = None


def _init_worker(run_dir: str, model: str, device: str) -> None:
    global _RUN
    from agents.cli import quiet_libraries

    quiet_libraries()
    import torch

    torch.set_num_threads(1)
    _RUN = load_run(run_dir, model=model, device=device)


def _run_task(run: LoadedRun, scenario: Scenario, task: Task) -> dict[str, Any]:
    env = scenario_env(run.config, scenario, render_mode="rgb_array" if task.video_dir else None)
    if task.video_dir:
        if run.config.network.type == "attention":
            from agents.overlay import AttentionOverlay

            env = AttentionOverlay(env, run.model)  # draws the ego's attention on the frames
        env = record_videos(env, Path(task.video_dir), scenario.name, len(task.seeds))
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


def _tasks(scenario_index: int, seed_base: int, episodes: int, videos: int, video_dir: Path | None,
           chunk: int, record: bool) -> list[Task]:
    seeds = list(range(seed_base, seed_base + episodes))
    n_video = min(videos, episodes) if video_dir is not None else 0
    tasks = [Task(scenario_index, seeds[:n_video], str(video_dir), record)] if n_video else []
    rest = seeds[n_video:]
    tasks += [Task(scenario_index, rest[i:i + chunk], None, record) for i in range(0, len(rest), chunk)]
    return tasks


# ---------------------------------------------------------------- the suite


def evaluate_run(run_dir: Path, suite_name: str, scenarios: list[Scenario] | None, episodes: int, seed: int,
                 video_episodes: int, device: str = "cpu", model: str = "model", wandb_mode: str = "disabled",
                 progress: bool = True, workers: int = 1, save_rollouts: bool = False) -> Path:
    if episodes < 1:
        raise UserError("--episodes must be at least 1")
    if workers < 1:
        raise UserError("--workers must be at least 1")
    if not 0 <= seed < 10 or seed * SEED_STRIDE + episodes > 10 * SEED_STRIDE:
        raise UserError(f"--seed must be in 0..9 and --episodes at most {SEED_STRIDE} (evaluation seeds are reserved)")
    run = load_run(run_dir, model=model, device=device)
    scenarios = scenarios or [train_scenario(run)]
    out_dir = run.run_dir / "eval" / suite_name
    video_dir = out_dir / "videos"
    seed_base = FINAL_EVAL_SEED_BASE + seed * SEED_STRIDE

    # Check every scenario first: one that cannot fit is reported, the rest go on.
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

    for sc in scenarios:  # videos of an earlier evaluation of this suite would be mixed in
        for old in video_dir.glob(f"{sc.name}-episode-*.mp4"):
            old.unlink()
    chunk = max(1, min(10, episodes // max(workers, 1) or 1))
    tasks = [t for i in range(len(scenarios)) if i not in problems
             for t in _tasks(i, seed_base, episodes, video_episodes, video_dir, chunk, save_rollouts)]
    results: dict[int, list] = {i: [] for i in range(len(scenarios))}
    with Progress(TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TextColumn("episodes"),
                  TimeRemainingColumn(), disable=not progress, transient=False) as bar:
        task_id = bar.add_task("eval", total=episodes * (len(scenarios) - len(problems)))
        if workers == 1:
            for t in tasks:
                out = _run_task(run, scenarios[t.scenario], t)
                results[t.scenario] += out["results"]
                bar.advance(task_id, len(t.seeds))
        else:
            ctx = get_context("forkserver")
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                     initargs=(str(run.run_dir), model, device)) as pool:
                futures = {pool.submit(_run_task_in_worker, scenarios[t.scenario], t): t for t in tasks}
                for fut in as_completed(futures):
                    out = fut.result()
                    results[out["scenario"]] += out["results"]
                    bar.advance(task_id, len(futures[fut].seeds))

    entries = []
    for i, sc in enumerate(scenarios):
        if i in problems:
            entries.append(scenario_entry(sc.name, sc.split, sc.env_id, sc.env_config, [], [],
                                          status="incompatible", reason=problems[i], forced=forced.get(i)))
            continue
        episodes_i = sorted(results[i], key=lambda r: r.seed)
        rows = [r.row() for r in episodes_i]
        videos = sorted(video_dir.glob(f"{sc.name}-episode-*.mp4")) if video_episodes else []
        rel = [str(v.relative_to(run.run_dir)) for v in videos]
        entries.append(scenario_entry(sc.name, sc.split, sc.env_id, sc.env_config, rows, rel, forced=forced.get(i)))
        if save_rollouts:
            save_rollout_file(out_dir / "rollouts" / f"{sc.name}.npz", episodes_i)
    report = write_report(out_dir, run.run_dir, suite_name, model_info(run), entries)
    from agents.report import write_html, write_markdown

    write_markdown(report)
    write_html(report)
    _log_wandb(run, suite_name, entries, wandb_mode)
    return report


def save_rollout_file(path: Path, episodes: list) -> None:
    """Trajectories as plain numeric arrays (``np.load`` needs no pickle)."""
    from agents.fileio import atomic_write

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
