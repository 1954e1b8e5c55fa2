"""Evaluate a run folder: rebuild its model, run deterministic episodes per scenario with
reserved seeds, record videos, write ``eval/<suite>/report.json``, log an eval W&B run."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from agents.errors import UserError
from agents.evaluation import FINAL_EVAL_SEED_BASE, evaluate_scenario, model_policy, scenario_entry, write_report
from agents.runs import LoadedRun, load_run
from agents.tracking import finish_wandb, init_wandb
from envs.factory import EnvConfigError, make_env

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


def evaluate_run(run_dir: Path, suite_name: str, scenarios: list[Scenario] | None, episodes: int, seed: int,
                 video_episodes: int, device: str = "cpu", model: str = "model", wandb_mode: str = "disabled",
                 progress: bool = True) -> Path:
    if episodes < 1:
        raise UserError("--episodes must be at least 1")
    if not 0 <= seed < 10 or seed * SEED_STRIDE + episodes > 10 * SEED_STRIDE:
        raise UserError(f"--seed must be in 0..9 and --episodes at most {SEED_STRIDE} (evaluation seeds are reserved)")
    run = load_run(run_dir, model=model, device=device)
    scenarios = scenarios or [train_scenario(run)]
    out_dir = run.run_dir / "eval" / suite_name
    video_dir = out_dir / "videos"
    policy = model_policy(run.model, deterministic=True)
    seed_base = FINAL_EVAL_SEED_BASE + seed * SEED_STRIDE
    entries = []
    with Progress(TextColumn("[bold]eval {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), disable=not progress, transient=False) as bar:
        task = bar.add_task("", total=episodes * len(scenarios))
        for sc in scenarios:
            bar.update(task, description=sc.name)
            make = partial(_make_scenario_env, run, sc)
            try:
                rows, videos = evaluate_scenario(
                    policy, make, episodes, seed_base, video_dir if video_episodes else None, video_episodes,
                    video_prefix=sc.name, on_episode=lambda _r: bar.advance(task))
            except (EnvConfigError, UserError) as exc:
                entries.append(scenario_entry(sc.name, sc.split, sc.env_id, sc.env_config, [], [],
                                              status="incompatible", reason=str(exc)))
                bar.advance(task, episodes)
                continue
            rel = [str(v.relative_to(run.run_dir)) for v in videos]
            entries.append(scenario_entry(sc.name, sc.split, sc.env_id, sc.env_config, rows, rel))
    report = write_report(out_dir, run.run_dir, suite_name, model_info(run), entries)
    _log_wandb(run, suite_name, entries, wandb_mode)
    return report


def _make_scenario_env(run: LoadedRun, sc: Scenario, render_mode: str | None):
    return make_env(sc.env_id, sc.env_config, render_mode=render_mode, max_episode_steps=run.config.env.max_episode_steps)


def _log_wandb(run: LoadedRun, suite: str, entries: list[dict], mode: str) -> None:
    """An eval run in the training run's W&B group: metrics in the summary, videos as wandb.Video."""
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

        summary = {}
        for e in entries:
            for metric, stats in e["metrics"].items():
                summary[f"eval/{e['name']}/{metric}"] = stats["mean"]
        wb.summary.update(summary)
        for e in entries:
            for v in e["videos"][:4]:
                wb.log({f"videos/{e['name']}": wandb.Video(str(run.run_dir / v), format="mp4")})
    except Exception as exc:  # noqa: BLE001 - W&B never fails an evaluation
        print(f"warning: W&B eval logging failed: {exc}", file=sys.stderr)
    finish_wandb(wb)
