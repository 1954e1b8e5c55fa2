"""Experiments: grids of configs x seeds run as ordinary run folders in ``runs/<EXP>/``.

``python train.py --config C --seeds 0-4 --grid network.type=mlp,attention`` plans one run per
(grid combination, seed), named deterministically from the grid values and the seed (no
timestamp), so running the experiment again finds its runs: finished ones are skipped,
unfinished ones resumed from their newest valid checkpoint. All runs share one W&B group (the
experiment name, ``logging.experiment``) and carry the grid values as W&B tags.

Backends: ``sequential`` (in this process), ``process`` (one subprocess per run, at most
``--workers`` CPUs busy, a run counting ``env.n_envs`` CPUs) and ``ray`` (one Ray task per
run reserving ``env.n_envs`` CPUs; a private local instance or an existing cluster). Ray is
imported only by the Ray backend and by sweeps (``--sweep``, see :mod:`agents.tune_hook`).

A failed run is reported with its error and does not stop the others; a table of all runs
is printed at the end.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.config import MAX_TRAIN_SEED, ExperimentConfig, flatten_config, load_config, parse_config
from agents.errors import Interrupted, UserError, WallTimeReached, did_you_mean
from agents.fileio import atomic_write_text
from agents.plainlog import PlainProgress, is_terminal
from agents.runtime import thread_env
from agents.runs import PROJECT_ROOT, sanitize

# Keys a grid or a search space may not set: the experiment sets them itself.
RESERVED_KEYS = {"train.seed": "use --seeds", "logging.experiment": "use --name"}
# Config keys that may differ between a run folder and a rerun without making it another run.
NOT_IDENTITY = ("train.total_timesteps", "train.progress_bar", "train.log_every_s", "train.max_wall_time",
                "train.checkpoint_every_s", "train.device", "logging")
MAX_SEEDS = 10_000


# ------------------------------------------------------------------ parsing the plan


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,2,5"``; ``"0-2,7"``. Raises UserError."""
    seeds: list[int] = []
    hint = "use a range like 0-4 or a list like 0,2,5 of integers in [0, 1000000)"
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise UserError(f"--seeds {text!r}: cannot read {part.strip()!r}; {hint}")
        lo = int(m[1])
        hi = int(m[2]) if m[2] is not None else lo
        if hi < lo:
            raise UserError(f"--seeds {text!r}: the range {lo}-{hi} runs backwards; write {hi}-{lo}")
        if hi >= MAX_TRAIN_SEED:
            raise UserError(f"--seeds {text!r}: seed {hi} is too large; {hint} (larger seeds are reserved for evaluation)")
        seeds.extend(range(lo, hi + 1))
        if len(seeds) > MAX_SEEDS:
            raise UserError(f"--seeds {text!r}: more than {MAX_SEEDS} seeds; {hint}")
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        raise UserError(f"--seeds {text!r}: seed {dup[0]} is listed twice")
    return seeds


def split_values(text: str) -> list[str]:
    """Split at commas outside brackets: ``"[64,64],[32]"`` -> ``["[64,64]", "[32]"]``."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """``["network.type=mlp,attention", ...]`` -> ``[("network.type", ["mlp", "attention"]), ...]``."""
    grid: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not p for p in key.split(".")):
            raise UserError(f"--grid {item!r}: use KEY=V1,V2,... with a dotted config key, e.g. network.type=mlp,attention")
        if key in RESERVED_KEYS:
            raise UserError(f"--grid {key}: the experiment sets this key itself; {RESERVED_KEYS[key]}")
        if key in (k for k, _ in grid):
            raise UserError(f"--grid {key}: given twice; list all its values in one --grid")
        values = split_values(raw)
        if any(v == "" for v in values):
            raise UserError(f"--grid {item!r}: an empty value; separate values with single commas")
        if len(set(values)) != len(values):
            raise UserError(f"--grid {item!r}: a value is listed twice")
        grid.append((key, values))
    return grid


def check_name(name: str, what: str = "--name") -> str:
    if not name or sanitize(name) != name:
        raise UserError(f"{what} {name!r}: use letters, digits, '_', '.', '-' only")
    return name


# ------------------------------------------------------------------ trials


@dataclass
class Trial:
    """One run of an experiment: its resolved config and its run folder."""

    name: str
    run_dir: Path
    seed: int
    grid: dict[str, str]
    cfg: ExperimentConfig = field(repr=False)

    @property
    def cpus(self) -> int:
        return self.cfg.env.n_envs

    def spec(self, argv: list[str]) -> dict[str, Any]:
        return {"name": self.name, "run_dir": str(self.run_dir), "seed": self.seed, "grid": self.grid,
                "config": self.cfg.model_dump(mode="json"), "argv": argv}

    @staticmethod
    def from_spec(spec: dict[str, Any]) -> "Trial":
        cfg = parse_config(spec["config"], source=f"{spec['run_dir']} (trial config)")
        return Trial(spec["name"], Path(spec["run_dir"]), int(spec["seed"]), dict(spec["grid"]), cfg)


def trial_name(cfg: ExperimentConfig, grid: dict[str, str]) -> str:
    """``<env>__<algo>__<network>[__<key>-<value>...]__s<seed>``: deterministic, no timestamp."""
    parts = [sanitize(cfg.env.id), cfg.algo.name, cfg.network.type]
    for key, raw in grid.items():
        if key not in ("env.id", "algo.name", "network.type"):
            parts.append(f"{key}-{sanitize(raw) or 'x'}")
    parts.append(f"s{cfg.train.seed}")
    return "__".join(parts)


def plan(config: Path, overrides: list[str], grid: list[tuple[str, list[str]]], seeds: list[int] | None,
         name: str | None, root: Path) -> tuple[str, list[Trial]]:
    """Load and validate every combination's config up front; returns (experiment, trials)."""
    base = load_config(config, overrides)
    experiment = check_name(name or base.logging.experiment or Path(config).stem)
    seeds = seeds if seeds is not None else [base.train.seed]
    keys = [k for k, _ in grid]
    trials: list[Trial] = []
    for values in itertools.product(*(v for _, v in grid)):
        combo = dict(zip(keys, values))
        for seed in seeds:
            extra = [f"{k}={v}" for k, v in combo.items()] + [f"train.seed={seed}"]
            try:
                cfg = load_config(config, [*overrides, *extra])
            except UserError as exc:
                where = " ".join(f"{k}={v}" for k, v in combo.items())
                raise UserError(f"--grid {where}: {_grid_hint(exc)}") from None
            cfg.logging.experiment = experiment
            cfg.logging.tags = list(dict.fromkeys([*cfg.logging.tags, *(f"{k}={v}"[:64] for k, v in combo.items())]))
            trials.append(Trial(trial_name(cfg, combo), root / experiment / trial_name(cfg, combo), seed, combo, cfg))
    names = [t.name for t in trials]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise UserError(f"two grid combinations give the same run name {clash[0]!r}; "
                        "use grid values that differ in letters or digits")
    return experiment, trials


def _grid_hint(exc: UserError) -> str:
    """The config error (it already names the key and the nearest valid one)."""
    return str(exc)


# ------------------------------------------------------------------ one trial


def config_difference(stored: ExperimentConfig, wanted: ExperimentConfig) -> list[str]:
    """Dotted keys (with old -> new values) that make ``wanted`` another run than ``stored``."""
    a, b = flatten_config(stored.model_dump(mode="json")), flatten_config(wanted.model_dump(mode="json"))
    diff = []
    for key in sorted(set(a) | set(b)):
        if any(key == p or key.startswith(p + ".") for p in NOT_IDENTITY):
            continue
        if key == "train.torch_threads" and b.get(key) == "auto":  # resolved in the run's config.yaml
            continue
        if a.get(key) != b.get(key):
            diff.append(f"{key}: {a.get(key)!r} -> {b.get(key)!r}")
    return diff


def run_state(trial: Trial) -> tuple[str, str]:
    """('new' | 'finished' | 'resumable' | 'stale' | 'conflict', detail) of the trial's folder."""
    from agents.checkpoints import latest_valid
    from agents.runs import read_run_config

    run_dir = trial.run_dir
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return "new", ""
    if not (run_dir / "config.yaml").is_file():
        return "conflict", f"{run_dir} exists but is not a run folder (no config.yaml); move it away"
    try:
        stored = read_run_config(run_dir)
    except UserError as exc:
        return "conflict", str(exc)
    diff = config_difference(stored, trial.cfg)
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


def _result(trial: Trial, status: str, error: str | None = None, wall_s: float | None = None) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    try:
        summary = json.loads((trial.run_dir / "train_summary.json").read_text())
    except (OSError, ValueError):
        pass
    return {"name": trial.name, "seed": trial.seed, "grid": trial.grid, "run_dir": str(trial.run_dir),
            "status": status, "steps": summary.get("num_timesteps"), "total": trial.cfg.train.total_timesteps,
            "train_wall_s": summary.get("wall_s"), "best_eval_return": summary.get("best_eval_return"),
            "wall_s": None if wall_s is None else round(wall_s, 2), "error": error}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip(": ")


def run_trial(trial: Trial, argv: list[str], out=None, extra_callbacks: list | None = None,
              deadline: float | None = None) -> dict[str, Any]:
    """Train, resume or skip one trial; any failure becomes ``status: failed`` with the error.

    An interrupt (Ctrl-C, SIGTERM) propagates after training saved its checkpoint. At the
    experiment's ``deadline`` (a ``time.time()`` value) the trial saves a checkpoint and
    becomes ``stopped`` (unfinished: the same command continues it); past it, a trial that
    has not started stays ``not started``."""
    from agents.training import resume, train

    out = out or sys.stdout
    start = time.time()
    state, detail = run_state(trial)
    try:
        if state == "finished":
            return _result(trial, "skipped", wall_s=time.time() - start)
        if state == "conflict":
            return _result(trial, "failed", detail, wall_s=time.time() - start)
        if deadline is not None and time.time() >= deadline:
            return _result(trial, "not started", "the experiment's wall-time limit came first; run again")
        if state == "resumable":
            stored_total = _stored_total(trial.run_dir)
            total = trial.cfg.train.total_timesteps
            resume(trial.run_dir, argv, total_timesteps=None if total == stored_total else total, out=out,
                   deadline=deadline, extra_callbacks=extra_callbacks)
            return _result(trial, "resumed", wall_s=time.time() - start)
        if state == "stale":  # started, but died before its first checkpoint: nothing to keep
            shutil.rmtree(trial.run_dir)
        train(trial.cfg, trial.run_dir, argv, out=out, extra_callbacks=extra_callbacks, deadline=deadline)
        return _result(trial, "done", wall_s=time.time() - start)
    except WallTimeReached as exc:
        return _result(trial, "stopped", str(exc), wall_s=time.time() - start)
    except (Interrupted, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - one failed trial must not stop the others
        if os.environ.get("LANEFORGE_TRACEBACK"):
            traceback.print_exc()
        return _result(trial, "failed", _one_line(exc), wall_s=time.time() - start)


def _stored_total(run_dir: Path) -> int | None:
    try:
        return int(yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["total_timesteps"])
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return None


# ------------------------------------------------------------------ backends


def _log_path(trial: Trial) -> Path:
    return trial.run_dir.parent / "logs" / f"{trial.name}.log"


def run_sequential(trials: list[Trial], argv: list[str], console, deadline: float | None = None) -> list[dict]:
    results = []
    for i, trial in enumerate(trials, 1):
        console.rule(f"[{i}/{len(trials)}] {trial.name}")
        results.append(run_trial(trial, argv, deadline=deadline))
    return results


class RunsProgress:
    """The experiment's own progress (runs finished of all) on stderr: a rich bar on a
    terminal, a plain line every ``every_s`` seconds in a log; ``print`` writes one line."""

    def __init__(self, total: int, every_s: float) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        plain = not is_terminal()
        self.bar = Progress(TextColumn("[bold]experiment"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=self.console, disable=plain)
        self.task = self.bar.add_task("runs", total=total)
        self.lines = PlainProgress("experiment", total, every_s, unit="runs") if plain else None
        self.done = 0
        self.running = 0

    def __enter__(self) -> "RunsProgress":
        self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.stop()
        if self.lines is not None:
            self.lines.close(running=self.running)

    def print(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def advance(self) -> None:
        self.done += 1
        self.bar.advance(self.task)
        self.tick()

    def tick(self, running: int | None = None) -> None:
        """Called while waiting: a plain line when one is due."""
        self.running = self.running if running is None else running
        if self.lines is not None:
            self.lines.update(self.done, running=self.running)


def child_command() -> list[str]:
    return [sys.executable, "-m", "agents.experiments"]


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
    """Start ``python -m agents.experiments`` on one trial spec (JSON on stdin); output goes to ``log``."""
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
    return _result(trial, status, f"exit {code}: {_last_line(log)} (log: {log})", wall_s=wall_s)


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

    def on_sigterm(signum, frame):  # noqa: ARG001 - children run in their own sessions: forward it
        raise Interrupted(143)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        while pending or running:
            used = sum(need for *_, need in running.values())
            if deadline is not None and time.time() >= deadline:
                for trial in pending:
                    results[trial.name] = _result(trial, "not started", "the experiment's wall-time limit came first")
                pending = []
            for trial in list(pending):
                need = min(trial.cpus, workers)
                if used + need > workers and running:
                    continue
                pending.remove(trial)
                proc = start_child({**trial.spec(argv), "deadline": deadline}, _log_path(trial))
                running[trial.name] = (trial, proc, time.time(), need)
                used += need
                progress.print(f"started  {trial.name}  (log: {_log_path(trial)})")
            time.sleep(0.2)
            progress.tick(len(running))
            for name, (trial, proc, t0, _) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[name]
                results[name] = child_result(trial, proc, _log_path(trial), time.time() - t0)
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
        signal.signal(signal.SIGTERM, previous)
    return [results[t.name] for t in trials]


def ray_runtime_env(wandb_mode: str, remote: bool) -> dict[str, Any]:
    env_vars = {"WANDB_MODE": wandb_mode, "WANDB_ERROR_REPORTING": "false", "WANDB_SILENT": "true",
                "PYGAME_HIDE_SUPPORT_PROMPT": "1",
                # Ray workers are new processes: the thread policy must be in their environment
                # before they import torch (the user's own value, when set, travels instead).
                **thread_env()}
    runtime: dict[str, Any] = {"env_vars": env_vars}
    if remote:
        # Ship the project's packages to the cluster's workers (they need laneforge's
        # dependencies installed: pip install -e . on every node).
        runtime["py_modules"] = [str(PROJECT_ROOT / "agents"), str(PROJECT_ROOT / "envs")]
    else:
        env_vars["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return runtime


def ray_init(address: str | None, num_cpus: int | None, wandb_mode: str) -> Any:
    """A private local Ray instance (no address) or a connection to an existing cluster."""
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install -e '.[ray]'") from None
    kwargs: dict[str, Any] = {"runtime_env": ray_runtime_env(wandb_mode, remote=address is not None),
                              "log_to_driver": False, "logging_level": "ERROR"}
    if address is None:
        # "local" starts a private instance; a bare ray.init() would attach to a running cluster.
        kwargs.update(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                      object_store_memory=200 * 1024**2)
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        hint = ("; a cluster with token authentication needs RAY_AUTH_MODE=token and RAY_AUTH_TOKEN "
                "(ray get-auth-token on the head)") if address else ""
        raise UserError(f"cannot start or reach Ray at {address or 'a local instance'}: {_one_line(exc)}{hint}") from None
    return ray


def ray_trial(spec: dict) -> dict:
    """One trial inside a Ray worker: register the envs, redirect output to the log, train."""
    import highway_env  # noqa: F401 - workers started by Ray do not have highway-env's ids registered
    import envs  # noqa: F401 - nor the laneforge/ ids
    from agents.cli import quiet_libraries

    quiet_libraries()
    trial = Trial.from_spec(spec)
    log = _log_path(trial)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        try:
            return run_trial(trial, spec["argv"], out=fh, deadline=spec.get("deadline"))
        except (Interrupted, KeyboardInterrupt):
            return _result(trial, "interrupted", "interrupted after a checkpoint; run again to resume")


def run_ray(trials: list[Trial], argv: list[str], address: str | None, workers: int | None,
            gpus_per_trial: float, progress: RunsProgress, deadline: float | None = None) -> list[dict]:
    wandb_mode = trials[0].cfg.logging.wandb
    need = max(t.cpus for t in trials)
    ray = ray_init(address, None if workers is None else max(workers, need), wandb_mode)
    try:
        total = int(ray.cluster_resources().get("CPU", 0))
        if need > total:
            raise UserError(f"a run needs {need} CPUs (env.n_envs) but the Ray cluster has {total}")
        remote = ray.remote(ray_trial)
        refs = {}
        for trial in trials:
            spec = {**trial.spec(argv), "deadline": deadline}
            ref = remote.options(num_cpus=trial.cpus, num_gpus=gpus_per_trial, max_retries=0).remote(spec)
            refs[ref] = trial
        results: dict[str, dict] = {}
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
                progress.tick(len(refs))
                if not done:
                    continue
                trial = refs.pop(done[0])
                try:
                    results[trial.name] = ray.get(done[0])
                except Exception as exc:  # noqa: BLE001 - a crashed worker fails only its trial
                    results[trial.name] = _result(trial, "failed", _one_line(exc).split("\n")[0][:300])
                progress.print(f"{results[trial.name]['status']:<8} {trial.name}")
                progress.advance()
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref)  # a KeyboardInterrupt in the task: it checkpoints and returns
            for ref, trial in refs.items():
                try:
                    results[trial.name] = ray.get(ref, timeout=120)
                except Exception:  # noqa: BLE001
                    pass
            raise Interrupted(130) from None
        return [results[t.name] for t in trials]
    finally:
        ray.shutdown()


# ------------------------------------------------------------------ the experiment


def run_experiment(args: Any, argv: list[str], deadline: float | None = None) -> int:
    """Entry from train.py: plan, validate, run on the chosen backend, summarize. At
    ``deadline`` (``time.time()``; from ``--max-wall-time``) running trials checkpoint and
    stop, the others are not started, and the command exits 75: rerun it to continue."""
    from rich.console import Console

    if args.sweep is not None:
        from agents.tune_hook import run_sweep

        if deadline is not None:
            raise UserError("--max-wall-time is for training runs and grids; a sweep's trials are stopped by "
                            "ASHA and its budget (rerun the sweep command to continue after a time limit)")

        return run_sweep(args, argv)
    if args.config is None:
        raise UserError("--config is required for an experiment (or --sweep FILE)")
    backend = args.backend or ("process" if args.workers else "sequential")
    if backend != "ray" and (args.ray_address or args.gpus_per_trial):
        raise UserError("--ray-address and --gpus-per-trial need --backend ray")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers}: must be at least 1")
    overrides = list(args.overrides)
    for key, value in (("train.device", args.device), ("logging.wandb", args.wandb)):
        if value is not None:
            overrides.append(f"{key}={value}")
    seeds = parse_seeds(args.seeds) if args.seeds is not None else ([args.seed] if args.seed is not None else None)
    root = Path(args.storage or "runs").expanduser().resolve()
    experiment, trials = plan(args.config, overrides, parse_grid(args.grid or []), seeds, args.name, root)
    console = Console(width=None if sys.stdout.isatty() else 160)
    states = {t.name: run_state(t) for t in trials}
    _print_plan(console, experiment, root / experiment, trials, states, backend)
    if args.dry_run:
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
                done = run_processes(todo, argv, args.workers or os.cpu_count() or 1, progress, deadline)
            else:
                done = run_ray(todo, argv, args.ray_address, args.workers, args.gpus_per_trial or 0.0, progress,
                               deadline)
    by_name = {**pre, **{r["name"]: r for r in done}}
    results = [by_name[t.name] for t in trials]
    write_experiment_json(root / experiment, experiment, args, backend, results, time.time() - started)
    print_summary(console, experiment, results)
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


def print_summary(console, experiment: str, results: list[dict]) -> None:
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


def write_experiment_json(folder: Path, experiment: str, args: Any, backend: str, results: list[dict],
                          wall_s: float) -> None:
    info = {"experiment": experiment, "config": str(args.config), "overrides": list(args.overrides),
            "grid": list(args.grid or []), "seeds": args.seeds, "backend": backend,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "wall_s": round(wall_s, 2),
            "runs": results}
    atomic_write_text(folder / "experiment.json", json.dumps(info, indent=2))


# ------------------------------------------------------------------ sweep files


class Dimension(BaseModel):
    """One search dimension: exactly one of choice, uniform, loguniform, randint."""

    model_config = ConfigDict(extra="forbid")
    choice: list[Any] | None = None
    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    randint: tuple[int, int] | None = None  # [low, high] inclusive

    @model_validator(mode="after")
    def _one(self) -> "Dimension":
        given = [k for k in ("choice", "uniform", "loguniform", "randint") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of choice, uniform, loguniform, randint")
        lo_hi = self.uniform or self.loguniform or self.randint
        if lo_hi is not None and not lo_hi[0] < lo_hi[1]:
            raise ValueError(f"{given[0]}: low must be below high (got {list(lo_hi)})")
        if self.loguniform is not None and self.loguniform[0] <= 0:
            raise ValueError("loguniform: both bounds must be positive")
        if self.choice is not None and not self.choice:
            raise ValueError("choice: list at least one value")
        return self

    def probe_values(self) -> list[Any]:
        """Values whose configs are loaded up front to validate the dimension."""
        if self.choice is not None:
            return list(self.choice)
        return list(self.uniform or self.loguniform or self.randint)  # type: ignore[arg-type]


class Asha(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grace_period: int = Field(2000, ge=1)  # [env steps] before a trial may be stopped
    reduction_factor: float = Field(3, gt=1)


class SweepSpec(BaseModel):
    """``configs/sweeps/*.yaml``: a base config, a search space, a budget and the metric."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None  # experiment name; default: the sweep file's name
    config: str  # base experiment YAML, relative to the project root or absolute
    overrides: list[str] = Field(default_factory=list)  # dotted KEY=VALUE applied to the base
    space: dict[str, Dimension]
    seeds: list[int] = Field(default_factory=lambda: [0])  # each trial draws one (a search dimension)
    budget: int = Field(ge=1)  # number of trials
    metric: str = "eval/return"  # a metrics.csv column logged by the periodic evaluation
    mode: Literal["max", "min"] = "max"
    search: Literal["random", "optuna"] = "random"
    asha: Asha | None = Field(default_factory=Asha)  # null: no early stopping
    max_concurrent: int | None = Field(None, ge=1)


def load_sweep(path: Path, overrides: list[str]) -> tuple[SweepSpec, ExperimentConfig, Path]:
    """Read and validate a sweep file: every dimension's values are loaded into the base config."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"sweep file not found: {path} (see configs/sweeps/)")
    try:
        data = yaml.safe_load(path.read_text())
        spec = SweepSpec.model_validate(data)
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        names = list(SweepSpec.model_fields) if len(err["loc"]) == 1 else []
        hint = did_you_mean(err["loc"][-1], names) if err["type"] == "extra_forbidden" else ""
        raise UserError(f"{path}: {where}: {err['msg']}{hint}") from None
    base_path = Path(spec.config)
    if not base_path.is_absolute():
        base_path = (PROJECT_ROOT / base_path) if not base_path.exists() else base_path.resolve()
    for s in spec.seeds:
        if not 0 <= s < MAX_TRAIN_SEED:
            raise UserError(f"{path}: seeds: {s} is outside [0, {MAX_TRAIN_SEED})")
    all_overrides = [*spec.overrides, *overrides]
    base = load_config(base_path, all_overrides)
    for key, dim in spec.space.items():
        if key in RESERVED_KEYS:
            raise UserError(f"{path}: space.{key}: the sweep sets this key itself ({RESERVED_KEYS[key]})")
        for value in dim.probe_values():
            try:
                load_config(base_path, [*all_overrides, f"{key}={json.dumps(value)}"])
            except UserError as exc:
                raise UserError(f"{path}: space.{key}={value}: {_grid_hint(exc)}") from None
    if base.train.eval_freq <= 0 or base.train.eval_freq >= base.train.total_timesteps:
        raise UserError(f"{path}: the sweep's metric comes from the periodic evaluation: set train.eval_freq "
                        f"(now {base.train.eval_freq}) between 1 and train.total_timesteps ({base.train.total_timesteps})")
    if not spec.metric.startswith("eval/"):
        raise UserError(f"{path}: metric {spec.metric!r}: use a periodic evaluation metric such as eval/return")
    check_name(spec.name or path.stem, f"{path}: name")
    return spec, base, base_path


# ------------------------------------------------------------------ child process entry


def child_main() -> int:
    """``python -m agents.experiments``: run the trial spec given as JSON on stdin."""
    from agents.cli import quiet_libraries
    from agents.runtime import prepare_process

    prepare_process()  # inherited from the parent already; also right when started by hand
    quiet_libraries()
    spec = json.loads(sys.stdin.read())
    trial = Trial.from_spec(spec)
    callbacks = None
    fd = os.environ.get("LANEFORGE_REPORT_FD")
    if fd:
        from agents.tune_hook import ReportCallback, fd_reporter

        callbacks = [ReportCallback(fd_reporter(int(fd)))]
    try:
        result = run_trial(trial, spec["argv"], extra_callbacks=callbacks, deadline=spec.get("deadline"))
    except (Interrupted, KeyboardInterrupt) as exc:
        result = _result(trial, "interrupted", "interrupted after a checkpoint; run again to resume")
        code = exc.code if isinstance(exc, Interrupted) else 130
    else:
        codes = {"failed": 1, "stopped": WallTimeReached.code, "not started": WallTimeReached.code}
        code = codes.get(result["status"], 0)
    if result.get("error"):
        print(f"error: {result['error']}", file=sys.stderr)
    atomic_write_text(Path(spec["result"]), json.dumps(result, indent=2))
    return code


if __name__ == "__main__":
    raise SystemExit(child_main())
