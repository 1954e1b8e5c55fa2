"""Training: build env(s) and model from a validated config, train with callbacks, and
leave a complete run folder. Everything that can fail on user input is built before the
run folder is created, so bad input leaves nothing behind."""

from __future__ import annotations

import csv
import json
import random
import signal
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

from agents.config import MAX_TRAIN_SEED, ExperimentConfig, budget_text, dump_config, family_of, round_budget
from agents.errors import Interrupted, TrainingStopped, UserError, WallTimeReached
from agents.fileio import atomic_write, atomic_write_text
from agents.models.algorithms import ALGORITHMS, build_model, parameter_counts, resolve_device
from agents.rundir import checkpoints as ckpts
from agents.rundir.layout import new_run_dir
from agents.rundir.loading import read_run_config
from agents.rundir.provenance import provenance, write_provenance
from agents.rundir.tracking import finish_wandb, init_wandb, make_logger
from agents.runtime import auto_torch_threads, install_interrupt_handlers
from agents.training.callbacks import (
    EpisodeCounter,
    NonFiniteCallback,
    NonFiniteError,
    PeriodicCheckpointCallback,
    PeriodicEvalCallback,
    RewardTermsCallback,
    TrainProgressCallback,
    WallClockCallback,
)
from agents.training.rng import get_rng_state, set_rng_state
from agents.training.success_ends import SuccessContinues
from envs.factory import EnvConfigError, is_batched, make_batched_vec_env, make_env, newer_version
from envs.families import FamilySampler


@dataclass
class Built:
    cfg: ExperimentConfig
    env: Any
    eval_env: Any
    model: Any
    device: str
    family: FamilySampler | None = None  # draws each env's scenario (env.family)

    def close(self) -> None:
        for env in (self.env, self.eval_env):
            try:
                env.close()
            except Exception:  # noqa: BLE001 - workers may already be gone after Ctrl-C
                pass


def family_sampler(cfg: ExperimentConfig, seed: int) -> FamilySampler | None:
    """The run's family sampler (each env's scenario drawn at its resets), seeded with the env seed."""
    family = family_of(cfg.env)
    return None if family is None else FamilySampler(family, seed, cfg.env.n_envs)


def make_train_env(cfg: ExperimentConfig, env_seed: int | None = None, family: FamilySampler | None = None) -> Any:
    seed = cfg.train.seed if env_seed is None else env_seed
    batched = make_batched_vec_env(cfg.env.id, cfg.env.n_envs, cfg.env.config, seed, cfg.env.max_episode_steps,
                                   family=family)
    if batched is not None:  # all envs in one array simulator, no subprocesses
        env = VecMonitor(batched)
    else:
        env_fn = partial(make_env, cfg.env.id, cfg.env.config, max_episode_steps=cfg.env.max_episode_steps)
        use_subproc = cfg.env.n_envs > 1 and cfg.env.vec_env == "subproc"
        env = make_vec_env(
            env_fn, n_envs=cfg.env.n_envs, seed=seed,
            vec_env_cls=SubprocVecEnv if use_subproc else DummyVecEnv,
            vec_env_kwargs={"start_method": cfg.env.start_method} if use_subproc else None,
        )
    return SuccessContinues(env) if cfg.train.success_continues else env


def seed_everything(seed: int) -> None:
    set_random_seed(seed)  # python, numpy, torch
    random.seed(seed)


def resolve_threads(cfg: ExperimentConfig) -> None:
    """``train.torch_threads: auto`` -> a number for this machine (written to config.yaml)."""
    if cfg.train.torch_threads == "auto":
        in_process = is_batched(cfg.env.id) or cfg.env.n_envs == 1 or cfg.env.vec_env == "dummy"
        subproc = 0 if in_process else cfg.env.n_envs
        cfg.train.torch_threads = auto_torch_threads(ALGORITHMS.get(cfg.algo.name).off_policy, subproc)


def build(cfg: ExperimentConfig, env_seed: int | None = None) -> Built:
    """Build the env(s), the eval env and the model; raises UserError on bad input."""
    resolve_threads(cfg)
    torch.set_num_threads(cfg.train.torch_threads)
    device = str(resolve_device(cfg.train.device))
    seed_everything(cfg.train.seed)
    try:
        eval_env = make_env(cfg.env.id, cfg.env.config, max_episode_steps=cfg.env.max_episode_steps)
    except EnvConfigError as exc:
        raise UserError(str(exc)) from exc
    family = family_sampler(cfg, cfg.train.seed if env_seed is None else env_seed)
    try:
        env = make_train_env(cfg, env_seed, family)
    except EnvConfigError as exc:
        eval_env.close()
        raise UserError(str(exc)) from exc
    except Exception:
        eval_env.close()
        raise
    try:
        model = build_model(cfg, env, device=device)
    except Exception:
        env.close()
        eval_env.close()
        raise
    return Built(cfg=cfg, env=env, eval_env=eval_env, model=model, device=device, family=family)


def _vec_kind(built: Built) -> str:
    if is_batched(built.cfg.env.id):
        return "one batched simulator"
    return built.cfg.env.vec_env if built.cfg.env.n_envs > 1 else "in-process"


def summary_text(built: Built, requested_timesteps: int | None = None) -> str:
    cfg, model = built.cfg, built.model
    lines = [
        f"env          {cfg.env.id}  x{cfg.env.n_envs} ({_vec_kind(built)})",
        f"observation  {built.env.observation_space}",
        f"action       {built.env.action_space}",
        f"algorithm    {cfg.algo.name}  network {cfg.network.type}  net_arch {cfg.network.net_arch}  "
        f"activation {cfg.network.activation}",
        f"device       {built.device}  torch threads {torch.get_num_threads()}",
        "parameters   " + ", ".join(f"{k} {v:,}" for k, v in parameter_counts(model).items()),
        f"budget       {budget_text(cfg, requested_timesteps)}, seed {cfg.train.seed}",
    ]
    if built.family is not None:
        lines.append(built.family.family.summary().replace("family ", "family       ", 1))
    if cfg.train.init_from is not None:
        lines.append(f"init from    {cfg.train.init_from} (its weights and optimizer state)")
    if cfg.train.success_continues:
        lines.append("successes    learned as time-limit ends (train.success_continues: the road goes on)")
    newer = newer_version(cfg.env.id)
    if newer:
        lines.append(f"note         {cfg.env.id} is not the newest version of this env ({newer} exists)")
    return "\n".join(lines)


def _save_model(model: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: model.save(tmp))


def train(cfg: ExperimentConfig, run_dir: Path | None, argv: list[str], dry_run: bool = False,
          out=sys.stdout, extra_callbacks: list | None = None, deadline: float | None = None) -> Path | None:
    """Train as configured; returns the run folder (None for a dry run).

    ``deadline`` (a ``time.time()`` value; default now + ``train.max_wall_time``): save a
    checkpoint and raise :class:`WallTimeReached` before it."""
    deadline = _deadline(cfg, deadline)
    requested = round_budget(cfg)
    built = build(cfg)
    if cfg.train.init_from is not None:
        try:
            ckpts.load_parameters(built.model, init_path(cfg.train.init_from))
        except BaseException:
            built.close()
            raise
    print(summary_text(built, requested), file=out)
    if dry_run:
        built.close()
        print("dry run: config, env and model are valid; nothing was trained or written", file=out)
        return None
    run_dir = Path(run_dir) if run_dir is not None else new_run_dir(cfg)
    if run_dir.exists() and any(run_dir.iterdir()):
        built.close()
        raise UserError(f"--run-dir {run_dir} exists and is not empty; choose a new folder (or --resume it)")
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _train_in(built, run_dir, argv, out, extra_callbacks=extra_callbacks, deadline=deadline)
    finally:
        built.close()


def init_path(text: str) -> Path:
    """``train.init_from``: a run folder (its model.zip) or a model.zip."""
    path = Path(text).expanduser()
    if path.is_dir():
        path = path / "model.zip"
    if not path.is_file():
        raise UserError(f"train.init_from: {path} not found; give a run folder with a model.zip, or a model.zip")
    return path


def _deadline(cfg: ExperimentConfig, deadline: float | None) -> float | None:
    if cfg.train.max_wall_time is None:
        return deadline
    own = time.time() + cfg.train.max_wall_time
    return own if deadline is None else min(own, deadline)


def _counters(model: Any, counter: EpisodeCounter) -> dict[str, int]:
    steps, episodes = counter.resume_point()
    return {"num_timesteps": int(steps), "episodes": int(episodes), "episode_num": int(model._episode_num),
            "n_updates": int(model._n_updates), "n_calls": int(getattr(model, "_n_calls", 0))}


def _restore(model: Any, ckpt: Path, state: dict) -> None:
    """Parameters and optimizer state from the checkpoint's model.zip, counters, RNGs, buffer."""
    ckpts.load_parameters(model, ckpt / "model.zip")
    model.num_timesteps = state["num_timesteps"]
    model._episode_num = state.get("episode_num", 0)
    model._n_updates = state.get("n_updates", 0)
    if hasattr(model, "_n_calls"):
        model._n_calls = state.get("n_calls", 0)
    if (ckpt / "replay_buffer.npz").exists() and getattr(model, "replay_buffer", None) is not None:
        ckpts.load_replay_buffer(model.replay_buffer, ckpt / "replay_buffer.npz")
    if "rng" in state:
        set_rng_state(state["rng"])


def _train_in(built: Built, run_dir: Path, argv: list[str], out, resume: tuple[Path, dict] | None = None,
              extra_callbacks: list | None = None, deadline: float | None = None) -> Path:
    cfg, model = built.cfg, built.model
    spec = ALGORITHMS.get(cfg.algo.name)
    name = run_dir.name
    state: dict[str, Any] = {"best_return": -np.inf, "wall_s": 0.0}
    wandb_id = None
    if resume is None:
        atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
    else:
        ckpt, saved = resume
        _restore(model, ckpt, saved)
        if built.family is not None and "family" in saved:  # its streams and statistics go on
            built.family.set_state(saved["family"])
        state["best_return"] = saved.get("best_return", -np.inf)
        state["wall_s"] = float(saved.get("wall_s", 0.0))
        wandb_id = saved.get("wandb_id")
        name = saved.get("run_name", name)
        truncate_metrics(run_dir / "metrics.csv", model.num_timesteps)
    tags = [cfg.algo.name, cfg.network.type, cfg.env.id, f"seed{cfg.train.seed}", *cfg.logging.tags]
    wandb_run = init_wandb(cfg.logging.wandb, run_dir, name, cfg.logging.project,
                           cfg.logging.experiment or "default", tags, cfg.model_dump(mode="json"), run_id=wandb_id)
    counts = parameter_counts(model)
    if wandb_run is not None:
        try:
            wandb_run.summary.update({f"params/{k}": v for k, v in counts.items()})
        except Exception:  # noqa: BLE001
            pass
    info = {"run_name": name, "wandb_id": getattr(wandb_run, "id", None), "parameters": counts}
    if resume is None:
        write_provenance(run_dir, provenance(argv, built.device, info))
    else:
        _append_resume_provenance(run_dir, provenance(argv, built.device, {**info, "resumed_from": str(resume[0])}))
    logger = make_logger(run_dir, cfg.logging.tensorboard, wandb_run, state["wall_s"])
    if not spec.off_policy:  # time/iterations continues after a resume
        logger.iteration_offset = model.num_timesteps // (model.n_steps * model.n_envs)
    model.set_logger(logger)
    start = time.time()

    def save_best(mean_return: float) -> None:
        state["best_return"] = mean_return
        _save_model(model, run_dir / "best_model.zip")

    def save_checkpoint(step: int) -> Path:
        path = ckpts.write_checkpoint(
            run_dir / "checkpoints", step, model,
            {**_counters(model, counter), "best_return": state["best_return"], "wall_s": state["wall_s"] + time.time() - start,
             "wandb_id": getattr(wandb_run, "id", None), "run_name": name, "rng": get_rng_state(),
             **({"family": built.family.get_state()} if built.family is not None else {})},
            with_replay=spec.off_policy)
        ckpts.prune(run_dir / "checkpoints", cfg.train.keep_checkpoints)
        return path

    episodes = int(resume[1].get("episodes", resume[1].get("episode_num", 0))) if resume else 0
    counter = EpisodeCounter(episodes,
                             on_policy=not spec.off_policy)
    clock = WallClockCallback(lambda: save_checkpoint(counter.resume_point()[0]), deadline, cfg.train.checkpoint_every_s)
    callbacks = [counter, RewardTermsCallback(), NonFiniteCallback(), clock]
    if cfg.train.progress_bar:
        callbacks.append(TrainProgressCallback(cfg.train.total_timesteps, counter, cfg.train.log_every_s))
    if cfg.train.eval_freq > 0:
        callbacks.append(PeriodicEvalCallback(built.eval_env, cfg.train.eval_freq, cfg.train.eval_episodes, save_best,
                                              best_return=state["best_return"]))
    if cfg.train.checkpoint_freq > 0:
        callbacks.append(PeriodicCheckpointCallback(cfg.train.checkpoint_freq, lambda step: clock.timed_save()))
    callbacks.extend(extra_callbacks or [])  # e.g. agents.experiments.trial_report.ReportCallback

    restore_signals = install_interrupt_handlers()
    try:
        remaining = cfg.train.total_timesteps - model.num_timesteps
        no_time = remaining > 0 and clock.out_of_time()  # the limit came before training could start
        if remaining > 0 and not no_time:
            model.learn(remaining, callback=callbacks,
                        log_interval=cfg.train.log_interval or spec.log_interval,
                        reset_num_timesteps=False)
        if clock.stopped or no_time:
            path = save_checkpoint(counter.resume_point()[0])
            finish_wandb(wandb_run)
            raise WallTimeReached(f"stopped at the wall-time limit at step {counter.resume_point()[0]:,} of "
                                  f"{cfg.train.total_timesteps:,}: checkpoint saved in {path}; continue with: "
                                  f"python train.py --resume {run_dir}")
        _save_model(model, run_dir / "model.zip")
        save_checkpoint(model.num_timesteps)
    except (KeyboardInterrupt, Interrupted) as exc:
        code = exc.code if isinstance(exc, Interrupted) else 130
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the save short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        step = counter.resume_point()[0]
        path = _save_or_explain(save_checkpoint, step)
        finish_wandb(wandb_run)
        print(f"\ninterrupted at step {step}: checkpoint saved in {path}\n"
              f"resume with: python train.py --resume {run_dir}", file=sys.stderr)
        raise Interrupted(code) from None
    except NonFiniteError as exc:
        finish_wandb(wandb_run)
        newest, _ = ckpts.latest_valid(run_dir / "checkpoints")
        raise TrainingStopped(f"{exc}; training stopped, the last good checkpoint is "
                              f"{newest if newest else '(none yet)'}") from None
    except OSError as exc:
        finish_wandb(wandb_run)
        newest, _ = ckpts.latest_valid(run_dir / "checkpoints")
        raise TrainingStopped(f"could not write to {run_dir} ({exc.strerror or exc}); earlier checkpoints are "
                              f"intact (newest: {newest if newest else 'none'}); free space and resume with "
                              f"python train.py --resume {run_dir}") from None
    finally:
        restore_signals()
    if not (run_dir / "best_model.zip").exists():
        _save_model(model, run_dir / "best_model.zip")
    finish_wandb(wandb_run)
    wall = state["wall_s"] + time.time() - start
    summary = {"num_timesteps": model.num_timesteps, "wall_s": round(wall, 2),
               "best_eval_return": None if not np.isfinite(state["best_return"]) else state["best_return"]}
    if built.family is not None:  # what the envs were trained on (every draw of the run, resumes included)
        summary["family"] = {"name": built.family.family.name, **built.family.statistics()}
    atomic_write_text(run_dir / "train_summary.json", json.dumps(summary, indent=2))
    print(f"trained {model.num_timesteps} steps in {wall:.0f} s", file=out)
    print(f"run folder: {run_dir}", file=out)
    print(f"next:       python evaluate.py {run_dir}   (videos, metrics with 95% CIs, a report page)", file=out)
    return run_dir


def _save_or_explain(save: Any, step: int) -> Path | str:
    try:
        return save(step)
    except OSError as exc:
        return f"(none: saving failed: {exc.strerror or exc}; the previous checkpoint is intact)"


def _append_resume_provenance(run_dir: Path, info: dict) -> None:
    path = run_dir / "provenance.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data.setdefault("resumes", []).append(info)
    atomic_write_text(path, json.dumps(data, indent=2))


def truncate_metrics(path: Path, step: int) -> None:
    """Drop rows logged after ``step`` (the interrupted tail), so resumed rows follow on."""
    if not path.exists():
        return
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        columns, rows = list(reader.fieldnames or []), list(reader)
    kept = [r for r in rows if r.get("timesteps") and int(float(r["timesteps"])) <= step]
    if len(kept) == len(rows):
        return

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(kept)

    atomic_write(path, write)


def resume(run_dir: Path, argv: list[str], total_timesteps: int | None = None, out=sys.stdout,
           deadline: float | None = None, extra_callbacks: list | None = None) -> Path:
    """Continue a run from its newest valid checkpoint to the configured total steps
    (or to ``total_timesteps``, which extends a finished run). ``deadline`` (a ``time.time()``
    value) and the run's ``train.max_wall_time`` stop it early with a checkpoint, as in :func:`train`."""
    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    if total_timesteps is not None:
        cfg.train.total_timesteps = total_timesteps
    requested = round_budget(cfg)
    deadline = _deadline(cfg, deadline)
    ckpt, skipped = ckpts.latest_valid(run_dir / "checkpoints")
    for bad, problem in skipped:
        print(f"skipping checkpoint {bad.name}: {problem}", file=sys.stderr)
    if ckpt is None:
        raise UserError(f"{run_dir / 'checkpoints'}: no valid checkpoint to resume from"
                        + (f" ({len(skipped)} damaged)" if skipped else "") + "; start a new run instead")
    try:
        saved = json.loads((ckpt / "state.json").read_text())
        int(saved["num_timesteps"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{ckpt / 'state.json'}: unreadable checkpoint state ({exc})") from exc
    ckpts.check_model_zip(ckpt / "model.zip")
    step = int(saved["num_timesteps"])
    print(f"resuming {run_dir} from checkpoint {ckpt.name} (step {step} of {cfg.train.total_timesteps})", file=out)
    if ALGORITHMS.get(cfg.algo.name).off_policy and not (ckpt / "replay_buffer.npz").exists():
        print(f"note: {ckpt.name} holds no replay buffer (only the newest checkpoint keeps one); "
              "training continues with an empty replay buffer", file=sys.stderr)
    if total_timesteps is not None:
        atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
    # New episodes after a resume: seed the envs apart from the first start's episodes.
    built = build(cfg, env_seed=(cfg.train.seed + step) % MAX_TRAIN_SEED)
    print(summary_text(built, requested), file=out)
    try:
        return _train_in(built, run_dir, argv, out, resume=(ckpt, saved), extra_callbacks=extra_callbacks,
                         deadline=deadline)
    finally:
        built.close()
