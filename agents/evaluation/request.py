"""What ``evaluate.py`` asks: a typed request, built by the entry script from its parsed flags,
and :func:`run_evaluation`, which carries it out (a suite run, or watching live)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from agents.errors import UserError
from agents.evaluation.episodes import read_report
from agents.evaluation.report import print_report_summary
from agents.evaluation.suite_run import evaluate_run, render_human
from agents.models.algorithms import resolve_device
from agents.rundir.layout import sanitize
from agents.rundir.loading import check_model_choice, read_run_config
from envs.factory import is_batched
from envs.suites import Scenario, load_suite


@dataclass(frozen=True)
class EvalRequest:
    """An evaluation of one run folder; the defaults are evaluate.py's."""

    run_dir: Path
    suite: Path | None = None  # scenario suite YAML (default: the training env as one seen scenario)
    episodes: int = 20  # per scenario
    seed: int = 0  # a block of the reserved evaluation seeds (0-9)
    video: bool = True
    video_episodes: int = 2  # recorded per scenario
    video_speed: float = 1.0  # 1 = real time
    simulator: str = "highway-env"  # or "twin": scenarios with a batched twin are judged on it
    twins_only: bool = False  # with simulator "twin": only the scenarios that have a twin
    workers: int = 1
    save_rollouts: bool = False
    render: str | None = None  # "human": watch live instead
    model: str = "model"  # model | best | checkpoint | checkpoint:STEPS
    name: str | None = None  # report folder under RUN_DIR/eval/ (default: the suite's name, or train_env)
    device: str = "cpu"
    wandb: str | None = None  # default: the run's logging.wandb
    progress: bool = True
    log_every: float = 30.0  # [s] between progress lines when stderr is not a terminal


def _scenarios(request: EvalRequest) -> tuple[list[Scenario] | None, str]:
    """The suite's scenarios (None: the training env) and the report folder's name (with
    ``--simulator twin``: ``<suite>-twin``, so it never mixes with the highway-env report)."""
    if request.twins_only and request.simulator != "twin":
        raise UserError("--twins-only goes with --simulator twin")
    suffix = "-twin-only" if request.twins_only else "-twin" if request.simulator == "twin" else ""
    if request.suite is None:
        if request.twins_only:
            raise UserError("--twins-only needs --suite (the training env is not a suite scenario with a twin)")
        return None, request.name or "train_env" + suffix
    try:
        suite = load_suite(request.suite)
    except (ValueError, OSError) as exc:
        raise UserError(str(exc).splitlines()[0]) from exc
    scenarios = list(suite.scenarios)
    if request.simulator == "twin":
        alone = [sc.name for sc in scenarios if sc.twin is None and not is_batched(sc.env_id)]
        if request.twins_only:  # the scenarios a batched simulator judges: a twin's, or their own env's
            scenarios = [sc for sc in scenarios if sc.name not in alone]
            if not scenarios:
                raise UserError(f"--twins-only: no scenario of {request.suite} names a twin (see README, "
                                "'Fast evaluation on the batched twin')")
        elif alone:
            print(f"note: {len(alone)} scenarios have no twin and run on highway-env ({', '.join(alone)}); "
                  "--twins-only leaves them out", file=sys.stderr)
    return scenarios, request.name or suite.name + suffix


def run_evaluation(request: EvalRequest) -> int:
    """Evaluate as requested, print the summary and where the report is; returns the exit code."""
    check_model_choice(request.model)
    if request.video_episodes < 0:
        raise UserError("--video-episodes must be 0 or more")
    scenarios, name = _scenarios(request)
    if sanitize(name) != name:
        raise UserError(f"--name '{name}': use letters, digits, '-', '_' or '.' only")
    device = str(resolve_device(request.device))
    if request.render == "human":
        render_human(request.run_dir, scenarios[0] if scenarios else None, request.episodes, request.seed,
                     request.model)
        return 0
    wandb_mode = request.wandb or read_run_config(request.run_dir).logging.wandb
    report = evaluate_run(request.run_dir, name, scenarios, request.episodes, request.seed,
                          request.video_episodes if request.video else 0, device=device, model=request.model,
                          wandb_mode=wandb_mode, progress=request.progress, workers=request.workers,
                          save_rollouts=request.save_rollouts, video_speed=request.video_speed,
                          log_every=request.log_every, simulator=request.simulator)
    print_report_summary(read_report(report))
    print(f"report: {report}")
    print(f"page:   {report.with_name('report.html')}")
    return 0
