"""Ray Tune sweeps: the trainable that runs each trial in a child process, and the sweep runner.

``python train.py --sweep configs/sweeps/FILE.yaml`` samples ``budget`` configurations from
the file's search space (random search, or Optuna's TPE when ``search: optuna`` and optuna is
installed), trains each as an ordinary run folder in ``runs/<EXP>/`` and stops poor trials
early with ASHA on the periodic evaluation metric (``eval/return`` by default).

How a trial reports: Tune runs a function trainable in a thread of its actor, and training
installs a SIGTERM handler, which Python allows only in the main thread. So each trial
trains in a child process (``python -m agents.experiments.child``, the same entry as the
process backend) with :class:`~agents.experiments.trial_report.ReportCallback` passed to
:func:`agents.training.loop.train` through ``extra_callbacks``: every logged dump that holds evaluation metrics is written as a JSON line
to a pipe, and the trainable forwards each line to ``ray.tune.report``. When ASHA stops a
trial, its actor ends, the child gets SIGTERM (``PR_SET_PDEATHSIG``), saves a checkpoint and
exits: the run folder stays resumable.

This module imports Ray only inside the functions that need it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from agents.config import flag_overrides, load_config
from agents.errors import UserError
from agents.experiments.backends.process import child_result, start_child
from agents.experiments.backends.ray import ray_init
from agents.experiments.plan import Trial, check_name
from agents.experiments.request import SweepRequest
from agents.experiments.sweep_spec import load_sweep
from agents.fileio import atomic_write_text


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the thread that started it ends (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


# ------------------------------------------------------------------ the trainable


def trainable(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """One Tune trial: a sampled config -> a run folder trained in a child process."""
    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    seed = int(config["train.seed"])
    sampled = {k: v for k, v in config.items() if k != "train.seed"}
    cfg = load_config(ctx["config"], [*ctx["overrides"], *(f"{k}={json.dumps(v)}" for k, v in sampled.items()),
                                      f"train.seed={seed}"])
    cfg.logging.experiment = ctx["experiment"]
    cfg.logging.tags = [*cfg.logging.tags, "sweep", f"trial={trial_id}"]
    name = f"{trial_id}__s{seed}"
    trial = Trial(name, Path(ctx["root"]) / ctx["experiment"] / name, seed, {k: str(v) for k, v in sampled.items()}, cfg)
    log = trial.run_dir.parent / "logs" / f"{name}.log"
    read_fd, write_fd = os.pipe()
    proc = start_child(trial.spec(ctx["argv"]), log, extra_env={"LANEFORGE_REPORT_FD": str(write_fd)},
                       pass_fds=(write_fd,), preexec_fn=_die_with_parent)
    os.close(write_fd)
    with os.fdopen(read_fd) as lines:
        for line in lines:
            data = json.loads(line)
            tune.report({**data, "run_dir": str(trial.run_dir), "seed": seed})
    proc.wait()
    result = child_result(trial, proc, log, 0.0)
    if result["status"] in ("failed", "interrupted"):
        raise RuntimeError(f"{name}: {result['error']}")


def _dimension(dim: Any) -> Any:
    from ray import tune

    if dim.choice is not None:
        return tune.choice(dim.choice)
    if dim.uniform is not None:
        return tune.uniform(*dim.uniform)
    if dim.loguniform is not None:
        return tune.loguniform(*dim.loguniform)
    return tune.randint(dim.randint[0], dim.randint[1] + 1)  # tune.randint excludes the upper bound


def _search_alg(search: str, metric: str, mode: str) -> Any:
    if search == "random":
        return None  # Tune's BasicVariantGenerator: independent random samples
    try:
        from ray.tune.search.optuna import OptunaSearch

        import optuna  # noqa: F401
    except ImportError:
        raise UserError("search: optuna needs the optuna package (pip install optuna); or use search: random") from None
    return OptunaSearch(metric=metric, mode=mode)


# ------------------------------------------------------------------ the sweep


def run_sweep(request: SweepRequest, argv: list[str]) -> int:
    """Entry from train.py --sweep FILE."""
    from rich.console import Console

    if request.max_wall_time is not None:
        raise UserError("--max-wall-time is for training runs and grids; a sweep's trials are stopped by "
                        "ASHA and its budget (rerun the sweep command to continue after a time limit)")
    if request.seeds or request.grid or request.seed is not None or request.backend not in (None, "ray"):
        raise UserError("--sweep takes its seeds and search space from the sweep file; "
                        "drop --seeds/--seed/--grid/--backend")
    overrides = flag_overrides(request.overrides, device=request.device, wandb=request.wandb)
    spec, base, base_path = load_sweep(request.sweep, overrides)
    if request.config is not None:
        raise UserError("--sweep names its base config in the sweep file (config:); drop --config")
    experiment = check_name(request.name or spec.name or Path(request.sweep).stem)
    root = Path(request.storage or "runs").expanduser().resolve()
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(f"sweep [bold]{experiment}[/bold]: {spec.budget} trials of {base_path.name} "
                  f"({spec.search} search, {'ASHA' if spec.asha else 'no early stopping'} on {spec.metric}), "
                  f"runs in {root / experiment}")
    if request.dry_run:
        console.print("dry run: the sweep file and every dimension's values are valid; nothing was run")
        return 0
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    (root / experiment).mkdir(parents=True, exist_ok=True)
    ray = ray_init(request.ray_address, request.workers, base.logging.wandb)
    try:
        space = {k: _dimension(d) for k, d in spec.space.items()}
        space["train.seed"] = tune.choice(spec.seeds)
        cpus = base.env.n_envs
        resources = (lambda c: {"cpu": int(c.get("env.n_envs", cpus))}) if "env.n_envs" in space else {"cpu": cpus}
        ctx = {"config": str(base_path), "overrides": [*spec.overrides, *overrides], "experiment": experiment,
               "root": str(root), "argv": argv}
        scheduler = None
        if spec.asha:
            scheduler = ASHAScheduler(time_attr="timesteps", max_t=base.train.total_timesteps,
                                      grace_period=spec.asha.grace_period, reduction_factor=spec.asha.reduction_factor)
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(trainable, ctx=ctx), resources),
            param_space=space,
            tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, num_samples=spec.budget,
                                        search_alg=_search_alg(spec.search, spec.metric, spec.mode),
                                        scheduler=scheduler, max_concurrent_trials=spec.max_concurrent),
            run_config=tune.RunConfig(name="tune", storage_path=str(root / experiment), verbose=1),
        )
        results = tuner.fit()
        rows = sweep_rows(results, spec.metric, spec.mode, base.train.total_timesteps)
    finally:
        ray.shutdown()
    write_sweep_results(root / experiment, experiment, spec, rows, base_path)
    print_sweep(console, experiment, spec.metric, rows, base_path)
    return 1 if rows and all(r["status"] == "error" for r in rows) else 0


def sweep_rows(results: Any, metric: str, mode: str, total: int) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        m = r.metrics or {}
        df = r.metrics_dataframe
        best = None
        if df is not None and metric in df:
            best = float(df[metric].max() if mode == "max" else df[metric].min())
        params = {k: v for k, v in (r.config or {}).items() if k != "train.seed"}
        steps = m.get("timesteps")
        status = "error" if r.error else ("complete" if steps is not None and steps >= total else "stopped early")
        rows.append({"trial": Path(m.get("run_dir", "")).name or r.path, "seed": (r.config or {}).get("train.seed"),
                     "params": params, "steps": steps, "last": m.get(metric), "best": best, "status": status,
                     "run_dir": m.get("run_dir"), "error": str(r.error).strip().splitlines()[-1][:300] if r.error else None})
    sign = 1 if mode == "max" else -1

    def order(row: dict) -> tuple:
        last = row["last"] if row["last"] is not None else -sign * float("inf")
        return (row["status"] != "complete", row["status"] == "error", -sign * last)

    return sorted(rows, key=order)


def write_sweep_results(folder: Path, experiment: str, spec: Any, rows: list[dict], base_path: Path) -> None:
    atomic_write_text(folder / "sweep_results.json", json.dumps(
        {"experiment": experiment, "config": str(base_path), "metric": spec.metric, "mode": spec.mode,
         "budget": spec.budget, "trials": rows}, indent=2, default=str))


def print_sweep(console: Any, experiment: str, metric: str, rows: list[dict], base_path: Path) -> None:
    from rich.table import Table

    table = Table(title=f"sweep {experiment}: trials ranked by last {metric} (complete trials first)")
    for col in ("rank", "trial", "seed", "status", "steps", f"last {metric}", "best", "params"):
        table.add_column(col, overflow="fold")
    for i, r in enumerate(rows, 1):
        table.add_row(str(i), r["trial"], str(r["seed"]), r["status"] + (f": {r['error']}" if r["error"] else ""),
                      str(r["steps"] or "-"), "-" if r["last"] is None else f"{r['last']:.3f}",
                      "-" if r["best"] is None else f"{r['best']:.3f}",
                      " ".join(f"{k}={_short(v)}" for k, v in r["params"].items()))
    console.print(table)
    top = next((r for r in rows if r["status"] == "complete"), None)
    if top:
        line = " ".join(f"{k}={json.dumps(v)}" for k, v in top["params"].items())
        console.print(f"best: {top['trial']} (seed {top['seed']}); confirm it over seeds with:\n"
                      f"  python train.py --config {base_path} --seeds 0-4 {line} --name {experiment}-best")


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
