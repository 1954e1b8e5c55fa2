"""Time to quality: PPO trained on FastHighway, judged on highway-env's highway-fast-v0.

Trains the config (default ``configs/fast_highway_ppo.yaml``, built by the same code as
train.py) and snapshots the policy every ``--every`` env steps, recording the training
wall-clock at each snapshot (snapshot copies are excluded from it). Where the time goes is
measured on the way: the simulator (the VecEnv's step), the rest of rollout collection
(policy forward passes, buffer, callbacks) and PPO's gradient updates. After training, every
snapshot is evaluated deterministically on FastHighway (``--fh-episodes``, cheap) and then on
highway-env's highway-fast-v0 itself (``--episodes`` each, the slow part, not timed) from the
first snapshot whose FastHighway return is within ``--margin`` of the target. Time to quality
is the training wall-clock of the first snapshot whose highway-fast-v0 mean return reaches
``--target`` (21.8: SB3's reference DQN after 2e4 steps on highway-env, measured here).

    python benchmarks/time_to_quality.py --out benchmarks/results/fast_highway_time_to_quality.json
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from agents.runtime import prepare_process  # noqa: E402

prepare_process()  # before torch is imported (OMP_WAIT_POLICY)
from agents.analysis.stats import t_half_width  # noqa: E402
os.environ.setdefault("WANDB_MODE", "disabled")


def mean_ci(values) -> dict:
    """Mean and half-width of the 95% Student-t CI (``None`` for fewer than two values)."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "ci95_half": t_half_width(v), "n": len(v)}


def _pm(m: dict) -> str:
    return f"{m['mean']:.2f} +- {m['ci95_half']:.2f}" if m["ci95_half"] is not None else f"{m['mean']:.2f} n=1"


def train_with_snapshots(config: str, overrides: list[str], every: int) -> tuple[dict, list[dict], Any, Any]:
    """Train the config; returns (training info, snapshots, model, config)."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import VecEnvWrapper

    from agents.config import load_config
    from agents.training.loop import build

    cfg = load_config(config, overrides)
    built = build(cfg)
    model, venv = built.model, built.model.get_env()
    clock = {"sim": 0.0, "collect": 0.0, "update": 0.0, "snapshot": 0.0}
    inner = venv
    while isinstance(inner, VecEnvWrapper):  # VecMonitor & co. call inner.step_wait()
        inner = inner.venv
    step_wait = inner.step_wait

    def timed_step_wait():  # the simulator's share of rollout collection
        t = time.perf_counter()
        out = step_wait()
        clock["sim"] += time.perf_counter() - t
        return out

    inner.step_wait = timed_step_wait
    snapshots: list[dict] = []

    class Snapshots(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next = every
            self.mark = None

        def _on_training_start(self) -> None:
            self.start = time.perf_counter()

        def _on_rollout_start(self) -> None:
            now = time.perf_counter()
            if self.mark is not None:
                clock["update"] += now - self.mark
            self.mark = now

        def _on_rollout_end(self) -> None:
            clock["collect"] += time.perf_counter() - self.mark
            if self.num_timesteps >= self.next:
                self.next += every
                t = time.perf_counter()
                state = copy.deepcopy(self.model.policy.state_dict())
                clock["snapshot"] += time.perf_counter() - t
                wall = time.perf_counter() - self.start - clock["snapshot"]
                snapshots.append({"timesteps": int(self.num_timesteps), "train_wall_s": wall, "state": state})
                print(f"snapshot at {self.num_timesteps} steps, {wall:.1f} s", flush=True)
            self.mark = time.perf_counter()  # PPO's update starts now (after the snapshot copy)

        def _on_step(self) -> bool:
            return True

    cb = Snapshots()
    start = time.perf_counter()
    model.learn(cfg.train.total_timesteps, callback=cb)
    total = time.perf_counter() - start - clock["snapshot"]
    # the last update ran after the last rollout_end
    clock["update"] += time.perf_counter() - cb.mark
    info = {"config": config, "overrides": overrides, "total_timesteps": cfg.train.total_timesteps,
            "n_envs": cfg.env.n_envs, "torch_threads": cfg.train.torch_threads,
            "train_wall_s": total,
            "time_split_s": {"simulator": clock["sim"], "collection_other": clock["collect"] - clock["sim"],
                             "ppo_updates": clock["update"]}}
    return info, snapshots, model, cfg


def eval_fast_highway(model, cfg, episodes: int, seed: int) -> dict:
    from envs.fast_highway import FastHighwayCore

    core = FastHighwayCore(episodes, cfg.env.config)  # the training env's config, one episode per env
    core.seed(seed)
    core.reset_envs()
    running, ret, crashed = np.ones(episodes, bool), np.zeros(episodes), np.zeros(episodes)
    while running.any():
        rew, term, trunc, info = core.step(model.predict(core.observe(), deterministic=True)[0])
        ret += np.where(running, rew, 0)
        done = running & (term | trunc)
        crashed[done] = info["crashed"][done]
        running &= ~done
    return {"return": mean_ci(ret), "crash_rate": mean_ci(crashed)}


def eval_highway_env(model, cfg, episodes: int, first_seed: int) -> dict:
    """highway-env's own highway-fast-v0 with the run's observation/action forced on it, as
    evaluate.py does; evaluation seeds first_seed, first_seed + 1, ..."""
    from agents.evaluation.scenario_fit import scenario_env
    from agents.evaluation.episodes import model_policy, run_episode
    from envs.suites import Scenario

    env = scenario_env(cfg, Scenario(name="highway_fast", split="seen", env_id="highway-fast-v0"))
    policy = model_policy(model)
    try:
        rows = [run_episode(policy, env, first_seed + ep) for ep in range(episodes)]
    finally:
        env.close()
    return {"return": mean_ci([r.return_ for r in rows]), "crash_rate": mean_ci([float(r.crashed) for r in rows])}


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="configs/fast_highway_ppo.yaml")
    p.add_argument("--every", type=positive_int, default=100_000, help="snapshot interval [env steps]")
    p.add_argument("--episodes", type=positive_int, default=100, help="highway-fast-v0 episodes per snapshot")
    p.add_argument("--fh-episodes", type=positive_int, default=1000, help="FastHighway episodes per snapshot")
    p.add_argument("--target", type=float, default=21.8)
    p.add_argument("--margin", type=float, default=1.0,
                   help="evaluate on highway-env from the first snapshot within this of the target on FastHighway")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/fast_highway_time_to_quality.json")
    p.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides, as train.py")
    args = p.parse_args(argv)

    from agents.errors import UserError

    started = dt.datetime.now(dt.timezone.utc)
    try:
        info, snapshots, model, cfg = train_with_snapshots(args.config, args.overrides, args.every)
    except UserError as exc:
        p.exit(2, f"time_to_quality.py: {exc}\n")
    rows, judging, reached = [], False, None
    for snap in snapshots:
        model.policy.load_state_dict(snap["state"])
        row = {"timesteps": snap["timesteps"], "train_wall_s": snap["train_wall_s"],
               "fast_highway": eval_fast_highway(model, cfg, args.fh_episodes, seed=123)}
        judging = judging or row["fast_highway"]["return"]["mean"] >= args.target - args.margin
        if judging:
            row["highway_fast_v0"] = eval_highway_env(model, cfg, args.episodes, first_seed=20_000)
            if reached is None and row["highway_fast_v0"]["return"]["mean"] >= args.target:
                reached = row
        hw = row.get("highway_fast_v0")
        print(f"{row['timesteps']:>8} steps {row['train_wall_s']:6.1f} s  FastHighway "
              f"{row['fast_highway']['return']['mean']:.2f}"
              + (f"  highway-fast-v0 {_pm(hw['return'])}, "
                 f"crashes {hw['crash_rate']['mean']:.0%}" if hw else ""), flush=True)
        rows.append(row)
    result = {
        "benchmark": "fast_highway_time_to_quality", "command": "python " + " ".join([sys.argv[0], *sys.argv[1:]]),
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_at_end": os.getloadavg()},
        "target": args.target, "training": info, "snapshots": rows,
        "time_to_quality_s": reached["train_wall_s"] if reached else None,
        "timesteps_to_quality": reached["timesteps"] if reached else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    split = info["time_split_s"]
    print(f"trained {info['total_timesteps']} steps in {info['train_wall_s']:.0f} s: simulator "
          f"{split['simulator']:.0f} s, other collection {split['collection_other']:.0f} s, "
          f"PPO updates {split['ppo_updates']:.0f} s")
    print("time to quality:", f"{reached['train_wall_s']:.0f} s ({reached['timesteps']} steps)" if reached
          else f"not reached ({args.target})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
