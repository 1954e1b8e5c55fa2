"""Experiments: grids of configs x seeds run as ordinary run folders in ``runs/<EXP>/``.

``python train.py --config C --seeds 0-4 --grid network.type=mlp,attention`` plans one run per
(grid combination, seed), named deterministically from the grid values and the seed (no
timestamp), so running the experiment again finds its runs: finished ones are skipped,
unfinished ones resumed from their newest valid checkpoint. All runs share one W&B group (the
experiment name, ``logging.experiment``) and carry the grid values as W&B tags.

Backends: ``sequential`` (in this process), ``process`` (one subprocess per run, at most
``--workers`` CPUs busy, a run counting ``env.n_envs`` CPUs) and ``ray`` (one Ray task per
run reserving ``env.n_envs`` CPUs; a private local instance or an existing cluster). Ray is
imported only by the Ray backend and by sweeps (``--sweep``, see :mod:`agents.experiments.sweep`).

A failed run is reported with its error and does not stop the others; a table of all runs
is printed at the end.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from agents.config import flag_overrides
from agents.errors import UserError, WallTimeReached
from agents.experiments.backends.process import run_processes
from agents.experiments.backends.ray import run_ray
from agents.experiments.plan import Trial, parse_grid, parse_seeds, plan
from agents.experiments.progress import RunsProgress
from agents.experiments.request import ExperimentRequest
from agents.experiments.runner import run_sequential, run_state, run_trial
from agents.fileio import atomic_write_text


def run_experiment(request: ExperimentRequest, argv: list[str], deadline: float | None = None) -> int:
    """Entry from train.py: plan, validate, run on the chosen backend, summarize. At
    ``deadline`` (``time.time()``; from ``--max-wall-time``) running trials checkpoint and
    stop, the others are not started, and the command exits 75: rerun it to continue."""
    from rich.console import Console

    if request.config is None:
        raise UserError("--config is required for an experiment (or --sweep FILE)")
    backend = request.backend or ("process" if request.workers else "sequential")
    if backend != "ray" and (request.ray_address or request.gpus_per_trial):
        raise UserError("--ray-address and --gpus-per-trial need --backend ray")
    if request.workers is not None and request.workers < 1:
        raise UserError(f"--workers {request.workers}: must be at least 1")
    overrides = flag_overrides(request.overrides, device=request.device, wandb=request.wandb)
    seeds = (parse_seeds(request.seeds) if request.seeds is not None
             else ([request.seed] if request.seed is not None else None))
    root = Path(request.storage or "runs").expanduser().resolve()
    experiment, trials = plan(request.config, overrides, parse_grid(request.grid or []), seeds, request.name, root)
    console = Console(width=None if sys.stdout.isatty() else 160)
    states = {t.name: run_state(t) for t in trials}
    _print_plan(console, experiment, root / experiment, trials, states, backend)
    if request.dry_run:
        console.print("dry run: every run's config is valid; nothing was trained or written")
        return 0
    (root / experiment).mkdir(parents=True, exist_ok=True)
    todo = [t for t in trials if states[t.name][0] not in ("finished", "conflict")]
    pre = {t.name: run_trial(t, argv) for t in trials if states[t.name][0] in ("finished", "conflict")}  # no work
    started = time.time()
    if backend == "sequential":
        done = run_sequential(todo, argv, console, deadline)
    else:
        every_s = min(t.cfg.train.log_every_s for t in trials)
        with RunsProgress(len(todo), every_s) as progress:
            if backend == "process":
                done = run_processes(todo, argv, request.workers or os.cpu_count() or 1, progress, deadline)
            else:
                done = run_ray(todo, argv, request.ray_address, request.workers, request.gpus_per_trial or 0.0, progress,
                               deadline)
    by_name = {**pre, **{r["name"]: r for r in done}}
    results = [by_name[t.name] for t in trials]
    write_experiment_json(root / experiment, experiment, request, backend, results, time.time() - started)
    print_results_table(console, experiment, results)
    failed = [r for r in results if r["status"] in ("failed", "interrupted")]
    if failed:
        console.print(f"[red]{len(failed)} of {len(results)} runs failed[/red]; the others are complete. "
                      "Fix the cause and run the same command again: finished runs are skipped.")
        return 1
    unfinished = [r for r in results if r["status"] in ("stopped", "not started")]
    if unfinished:
        console.print(f"[yellow]{len(unfinished)} of {len(results)} runs are unfinished[/yellow] (the wall-time limit "
                      "came first; each stopped one saved a checkpoint). Run the same command again to continue.")
        return WallTimeReached.code
    console.print(f"experiment folder: {root / experiment}\ncompare: python compare.py {root / experiment}")
    return 0


def _print_plan(console, experiment: str, folder: Path, trials: list[Trial], states: dict, backend: str) -> None:
    counts: dict[str, int] = {}
    for state, _ in states.values():
        counts[state] = counts.get(state, 0) + 1
    console.print(f"experiment [bold]{experiment}[/bold]: {len(trials)} runs in {folder} (backend {backend}; "
                  + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")")


def print_results_table(console, experiment: str, results: list[dict]) -> None:
    from rich.table import Table

    table = Table(title=f"experiment {experiment}")
    for col in ("run", "status", "steps", "train s", "best eval return", "error"):
        table.add_column(col, overflow="fold")
    colors = {"done": "green", "resumed": "green", "skipped": "cyan", "failed": "red", "interrupted": "yellow",
              "stopped": "yellow", "not started": "yellow"}
    for r in results:
        best = r.get("best_eval_return")
        table.add_row(r["name"], f"[{colors.get(r['status'], 'white')}]{r['status']}",
                      f"{r['steps'] if r['steps'] is not None else '-'}/{r['total']}",
                      "-" if r.get("train_wall_s") is None else f"{r['train_wall_s']:.0f}",
                      "-" if best is None else f"{best:.2f}", r.get("error") or "")
    console.print(table)


def write_experiment_json(folder: Path, experiment: str, request: ExperimentRequest, backend: str, results: list[dict],
                          wall_s: float) -> None:
    info = {"experiment": experiment, "config": str(request.config), "overrides": list(request.overrides),
            "grid": list(request.grid or []), "seeds": request.seeds, "backend": backend,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "wall_s": round(wall_s, 2),
            "runs": results}
    atomic_write_text(folder / "experiment.json", json.dumps(info, indent=2))
