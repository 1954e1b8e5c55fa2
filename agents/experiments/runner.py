"""Running one trial of an experiment: train, resume or skip it by the state of its run folder;
a failure becomes the trial's result (``status: failed``) and does not stop the others."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

from agents.config import identity_difference
from agents.errors import Interrupted, UserError, WallTimeReached
from agents.experiments.plan import Trial
from agents.rundir.checkpoints import latest_valid
from agents.rundir.loading import read_run_config
from agents.training.loop import resume, train


def run_state(trial: Trial) -> tuple[str, str]:
    """('new' | 'finished' | 'resumable' | 'stale' | 'conflict', detail) of the trial's folder."""
    run_dir = trial.run_dir
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return "new", ""
    if not (run_dir / "config.yaml").is_file():
        return "conflict", f"{run_dir} exists but is not a run folder (no config.yaml); move it away"
    try:
        stored = read_run_config(run_dir)
    except UserError as exc:
        return "conflict", str(exc)
    diff = identity_difference(stored.model_dump(mode="json"), trial.cfg.model_dump(mode="json"))
    if diff:
        return "conflict", (f"{run_dir} was trained with another config ({'; '.join(diff[:3])}"
                            f"{' ...' if len(diff) > 3 else ''}); use another --name or remove the folder")
    total = trial.cfg.train.total_timesteps
    done = _summary_steps(run_dir)
    if done is not None and done >= total:
        return "finished", f"{done} steps"
    ckpt, _ = latest_valid(run_dir / "checkpoints")
    if ckpt is not None:
        return "resumable", ckpt.name
    return "stale", "no valid checkpoint yet"


def _summary_steps(run_dir: Path) -> int | None:
    try:
        return int(json.loads((run_dir / "train_summary.json").read_text())["num_timesteps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def trial_result(trial: Trial, status: str, error: str | None = None, wall_s: float | None = None) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    try:
        summary = json.loads((trial.run_dir / "train_summary.json").read_text())
    except (OSError, ValueError):
        pass
    return {"name": trial.name, "seed": trial.seed, "grid": trial.grid, "run_dir": str(trial.run_dir),
            "status": status, "steps": summary.get("num_timesteps"), "total": trial.cfg.train.total_timesteps,
            "train_wall_s": summary.get("wall_s"), "best_eval_return": summary.get("best_eval_return"),
            "wall_s": None if wall_s is None else round(wall_s, 2), "error": error}


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip(": ")


def run_trial(trial: Trial, argv: list[str], out=None, extra_callbacks: list | None = None,
              deadline: float | None = None) -> dict[str, Any]:
    """Train, resume or skip one trial; any failure becomes ``status: failed`` with the error.

    An interrupt (Ctrl-C, SIGTERM) propagates after training saved its checkpoint. At the
    experiment's ``deadline`` (a ``time.time()`` value) the trial saves a checkpoint and
    becomes ``stopped`` (unfinished: the same command continues it); past it, a trial that
    has not started stays ``not started``."""
    out = out or sys.stdout
    start = time.time()
    state, detail = run_state(trial)
    try:
        if state == "finished":
            return trial_result(trial, "skipped", wall_s=time.time() - start)
        if state == "conflict":
            return trial_result(trial, "failed", detail, wall_s=time.time() - start)
        if deadline is not None and time.time() >= deadline:
            return trial_result(trial, "not started", "the experiment's wall-time limit came first; run again")
        if state == "resumable":
            stored_total = _stored_total(trial.run_dir)
            total = trial.cfg.train.total_timesteps
            resume(trial.run_dir, argv, total_timesteps=None if total == stored_total else total, out=out,
                   deadline=deadline, extra_callbacks=extra_callbacks)
            return trial_result(trial, "resumed", wall_s=time.time() - start)
        if state == "stale":  # started, but died before its first checkpoint: nothing to keep
            shutil.rmtree(trial.run_dir)
        train(trial.cfg, trial.run_dir, argv, out=out, extra_callbacks=extra_callbacks, deadline=deadline)
        return trial_result(trial, "done", wall_s=time.time() - start)
    except WallTimeReached as exc:
        return trial_result(trial, "stopped", str(exc), wall_s=time.time() - start)
    except (Interrupted, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - one failed trial must not stop the others
        if os.environ.get("LANEFORGE_TRACEBACK"):
            traceback.print_exc()
        return trial_result(trial, "failed", one_line(exc), wall_s=time.time() - start)


def _stored_total(run_dir: Path) -> int | None:
    try:
        return int(yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["total_timesteps"])
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return None


def log_path(trial: Trial) -> Path:
    return trial.run_dir.parent / "logs" / f"{trial.name}.log"


def run_sequential(trials: list[Trial], argv: list[str], console, deadline: float | None = None) -> list[dict]:
    results = []
    for i, trial in enumerate(trials, 1):
        console.rule(f"[{i}/{len(trials)}] {trial.name}")
        results.append(run_trial(trial, argv, deadline=deadline))
    return results
