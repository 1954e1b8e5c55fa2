"""Evaluate a run folder over a suite of scenarios (the fitting of scenarios to the model is in
:mod:`agents.evaluation.scenario_fit`, the tasks and workers in :mod:`agents.evaluation.tasks`).

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
from pathlib import Path
from typing import Any

import numpy as np

from agents.errors import Interrupted, UserError
from agents.evaluation.episodes import (
    FINAL_EVAL_SEED_BASE,
    model_policy,
    read_report,
    run_episode,
    scenario_entry,
    write_report,
)
from agents.evaluation import resume_state as eval_progress
from agents.evaluation.report import write_report_html, write_report_markdown
from agents.evaluation.scenario_fit import fit_problem, forced_config, scenario_env, train_scenario
from agents.evaluation.tasks import Plan, episode_progress, execute
from agents.evaluation.resume_state import as_json, parameters_sha256
from agents.fileio import atomic_write
from agents.rundir.loading import LoadedRun, load_run
from agents.runtime import install_interrupt_handlers
from agents.rundir.tracking import finish_wandb, init_wandb
from envs.factory import EnvConfigError, is_batched, make_env
from envs.suites import Scenario

SEED_STRIDE = 100_000  # episodes per --seed value inside the reserved evaluation range


def model_info(run: LoadedRun) -> dict[str, Any]:
    cfg = run.config
    return {"algo": cfg.algo.name, "network": cfg.network.type, "timesteps": int(run.model.num_timesteps),
            "train_env": cfg.env.id, "train_env_config": cfg.env.config, "seed": cfg.train.seed}


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


def simulator_of(scenario: Scenario, judged: Scenario) -> dict[str, Any]:
    """What judged a scenario, for report.json: ``{"simulator": "highway-env"}``, or the batched
    simulator's id, with the env it ran where a twin stood in for the scenario's own."""
    batched = is_batched(judged.env_id) and not judged.on_highway_env
    out: dict[str, Any] = {"simulator": judged.env_id if batched else "highway-env"}
    if judged is not scenario:
        out["judged_by"] = {"env_id": judged.env_id, "env_config": judged.env_config}
    if judged.family is not None:
        out["family"] = {"name": judged.family.name, "seed": judged.family_seed, "draws": judged.family.summary()}
    return out


def eval_settings(run: LoadedRun, model: str, scenarios: list[Scenario], plan: Plan, seed: int,
                  simulator: str = "highway-env") -> dict[str, Any]:
    """What makes two evaluations the same: the model, the scenarios (and what judges each),
    episodes, seed and videos."""
    return as_json({
        "model": {"which": model, "timesteps": int(run.model.num_timesteps),
                  "parameters_sha256": parameters_sha256(run.model)},
        "scenarios": [{"name": s.name, "split": s.split, "env_id": s.env_id, "env_config": s.env_config,
                       **simulator_of(s, s.on(simulator))} for s in scenarios],
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
                 log_every: float = 30.0, simulator: str = "highway-env") -> Path:
    """Evaluate ``run_dir`` on ``scenarios``; returns the report's path.

    Finished tasks are saved as they come (:mod:`agents.evaluation.resume_state`): rerunning an
    interrupted evaluation with the same settings runs only the episodes still missing, and
    gives the same report as one uninterrupted run. ``simulator`` "twin" judges each scenario
    that names a batched twin on it (the others on their own env).
    """
    _validate(episodes, seed, workers, video_speed, log_every)
    run = load_run(run_dir, model=model, device=device)
    named = scenarios or [train_scenario(run)]
    scenarios = [sc.on(simulator) for sc in named]
    out_dir = run.run_dir / "eval" / suite_name
    plan = Plan(episodes, FINAL_EVAL_SEED_BASE + seed * SEED_STRIDE, min(video_episodes, episodes),
                out_dir / "videos", video_speed, save_rollouts)
    settings = eval_settings(run, model, named, plan, seed, simulator)
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
    restore_signals = install_interrupt_handlers()
    with episode_progress(f"eval {suite_name}", total, finished, progress, log_every) as advance:
        try:
            for out in execute(run, scenarios, tasks, workers, model, device):
                results[out["scenario"]] += out["results"]
                eval_progress.save_task(out_dir, scenarios[out["scenario"]].name, out["results"])
                advance(len(out["results"]))
        except (KeyboardInterrupt, Interrupted) as exc:
            print(f"interrupted: finished episodes are kept in {out_dir / eval_progress.PARTIAL}; rerun the same "
                  "command to continue", file=sys.stderr)
            raise Interrupted(exc.code if isinstance(exc, Interrupted) else 130) from None
        finally:
            restore_signals()
    report, entries = _write_reports(run, out_dir, suite_name, named, scenarios, plan, results, problems, forced,
                                     settings)
    _log_wandb(run, suite_name, entries, wandb_mode, read_report(report)["summary"])
    eval_progress.clear(out_dir)
    return report


def _write_reports(run: LoadedRun, out_dir: Path, suite_name: str, named: list[Scenario], scenarios: list[Scenario],
                   plan: Plan, results: dict[int, list], problems: dict[int, str], forced: dict[int, dict],
                   settings: dict[str, Any]) -> tuple[Path, list[dict]]:
    """report.json (with the settings), report.md, report.html and the rollouts; the report's
    path and its scenario entries (``named``: the suite's scenarios, ``scenarios``: what judged
    each)."""
    entries = []
    for i, (sc, judged) in enumerate(zip(named, scenarios)):
        judge = simulator_of(sc, judged)
        if i in problems:
            entries.append(scenario_entry(sc.name, sc.split, sc.env_id, sc.env_config, [], [], judge,
                                          status="incompatible", reason=problems[i], forced=forced.get(i)))
            continue
        episodes_i = sorted(results[i], key=lambda r: r.seed)
        rows = [r.row() for r in episodes_i]
        rel = [str(v.relative_to(run.run_dir)) for v in plan.videos_of(sc.name)]
        entries.append(scenario_entry(sc.name, sc.split, sc.env_id, sc.env_config, rows, rel, judge,
                                      forced=forced.get(i)))
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


def _log_wandb(run: LoadedRun, suite: str, entries: list[dict], mode: str, headline: dict[str, dict]) -> None:
    """An eval run in the training run's W&B group: metrics in the summary (per scenario, and
    the seen/unseen/gap ``headline``), a table of the scenario rows, and the videos as wandb.Video."""
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
        table = wandb.Table(columns=["scenario", "split", "env_id", "simulator", "status", "episodes", *metrics])
        summary = {}
        for e in entries:
            table.add_data(e["name"], e["split"], e["env_id"], e["simulator"], e["status"], e["episodes"],
                           *[e["metrics"].get(m, {}).get("mean") for m in metrics])
            for metric, stats in e["metrics"].items():
                summary[f"eval/{e['name']}/{metric}"] = stats["mean"]
        for split, values in headline.items():  # the seen/unseen headline, with its CI bounds
            for metric, stats in values.items():
                summary[f"eval/{suite}/{split}/{metric}"] = stats["mean"]
                if stats.get("ci95"):
                    summary[f"eval/{suite}/{split}/{metric}_ci95_lo"] = stats["ci95"][0]
                    summary[f"eval/{suite}/{split}/{metric}_ci95_hi"] = stats["ci95"][1]
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
