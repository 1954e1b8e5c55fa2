"""The Ray backend: one Ray task per trial reserving ``env.n_envs`` CPUs, on a private local
instance or an existing cluster. Ray is imported only inside these functions."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from agents.cli import quiet_libraries
from agents.errors import Interrupted, UserError
from agents.experiments.plan import Trial
from agents.experiments.progress import RunsProgress
from agents.experiments.runner import log_path, one_line, run_trial, trial_result
from agents.rundir.layout import PROJECT_ROOT
from agents.runtime import thread_env


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
        raise UserError(f"cannot start or reach Ray at {address or 'a local instance'}: {one_line(exc)}{hint}") from None
    return ray


def ray_trial(spec: dict) -> dict:
    """One trial inside a Ray worker: register the envs, redirect output to the log, train."""
    import highway_env  # noqa: F401 - workers started by Ray do not have highway-env's ids registered
    import envs  # noqa: F401 - nor the laneforge/ ids
    quiet_libraries()
    trial = Trial.from_spec(spec)
    log = log_path(trial)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        try:
            return run_trial(trial, spec["argv"], out=fh, deadline=spec.get("deadline"))
        except (Interrupted, KeyboardInterrupt):
            return trial_result(trial, "interrupted", "interrupted after a checkpoint; run again to resume")


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
                    results[trial.name] = trial_result(trial, "failed", one_line(exc).split("\n")[0][:300])
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
