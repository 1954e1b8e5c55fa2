"""The process backend: one ``python -m agents.experiments.child`` subprocess per trial, at
most ``--workers`` CPUs busy (a trial counting ``env.n_envs``). Sweeps start their trials'
children through :func:`start_child` too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agents.errors import Interrupted
from agents.experiments.plan import Trial
from agents.experiments.progress import RunsProgress
from agents.experiments.runner import log_path, trial_result
from agents.rundir.layout import PROJECT_ROOT
from agents.runtime import install_interrupt_handlers

CHILD_MODULE = "agents.experiments.child"


def child_command() -> list[str]:
    return [sys.executable, "-m", CHILD_MODULE]


def child_env(wandb_mode: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("WANDB_ERROR_REPORTING", "false")
    env.setdefault("WANDB_SILENT", "true")
    if wandb_mode:
        env["WANDB_MODE"] = wandb_mode
    return env


def start_child(spec: dict, log: Path, extra_env: dict | None = None, pass_fds: tuple = (),
                preexec_fn=None) -> subprocess.Popen:
    """Start ``python -m agents.experiments.child`` on one trial spec (JSON on stdin); output goes to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    result_path = log.with_suffix(".result.json")
    result_path.unlink(missing_ok=True)
    spec = {**spec, "result": str(result_path)}
    with open(log, "ab") as fh:
        proc = subprocess.Popen(child_command(), stdin=subprocess.PIPE, stdout=fh, stderr=subprocess.STDOUT,
                                cwd=PROJECT_ROOT, env={**child_env(spec["config"]["logging"]["wandb"]), **(extra_env or {})},
                                start_new_session=preexec_fn is None, pass_fds=pass_fds, preexec_fn=preexec_fn)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(spec).encode())
    proc.stdin.close()
    return proc


def child_result(trial: Trial, proc: subprocess.Popen, log: Path, wall_s: float) -> dict:
    """The result the child wrote, or a failure naming the last line of its log."""
    try:
        return json.loads(log.with_suffix(".result.json").read_text())
    except (OSError, ValueError):
        pass
    code = proc.returncode
    status = "interrupted" if code in (130, 143, -signal.SIGTERM, -signal.SIGINT) else "failed"
    return trial_result(trial, status, f"exit {code}: {_last_line(log)} (log: {log})", wall_s=wall_s)


def _last_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def run_processes(trials: list[Trial], argv: list[str], workers: int, progress: RunsProgress,
                  deadline: float | None = None) -> list[dict]:
    """One subprocess per trial; at most ``workers`` CPUs busy, a trial counting ``env.n_envs``
    (a trial needing more than ``workers`` runs alone). Past ``deadline`` no trial starts."""
    results: dict[str, dict] = {}
    pending = list(trials)
    running: dict[str, tuple[Trial, subprocess.Popen, float, int]] = {}

    # children run in their own sessions: a signal to this process is forwarded to them below
    restore_signals = install_interrupt_handlers()
    try:
        while pending or running:
            used = sum(need for *_, need in running.values())
            if deadline is not None and time.time() >= deadline:
                for trial in pending:
                    results[trial.name] = trial_result(trial, "not started", "the experiment's wall-time limit came first")
                pending = []
            for trial in list(pending):
                need = min(trial.cpus, workers)
                if used + need > workers and running:
                    continue
                pending.remove(trial)
                proc = start_child({**trial.spec(argv), "deadline": deadline}, log_path(trial))
                running[trial.name] = (trial, proc, time.time(), need)
                used += need
                progress.print(f"started  {trial.name}  (log: {log_path(trial)})")
            time.sleep(0.2)
            progress.tick(len(running))
            for name, (trial, proc, t0, _) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[name]
                results[name] = child_result(trial, proc, log_path(trial), time.time() - t0)
                progress.print(f"{results[name]['status']:<8} {name}")
                progress.advance()
    except (KeyboardInterrupt, Interrupted) as exc:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        progress.print(f"interrupted: stopping {len(running)} running runs (each saves a checkpoint); "
                       "run the same command again to resume")
        for trial, proc, *_ in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # training checkpoints and exits 143
        for trial, proc, *_ in running.values():
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise Interrupted(exc.code if isinstance(exc, Interrupted) else 130) from None
    finally:
        restore_signals()
    return [results[t.name] for t in trials]
