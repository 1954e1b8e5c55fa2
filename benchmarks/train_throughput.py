"""Training throughput: laneforge's DQN and PPO configs against plain SB3 with highway-env's
own script settings, in the same run, interleaved (A B A B ...) so machine load hits both.

    python benchmarks/train_throughput.py --steps 1500 --repeats 2

Writes benchmarks/results/train_throughput.json and prints a markdown table. The suite's
overhead is laneforge (periodic evaluation off: it is extra work, reported separately)
divided by plain SB3 at the same torch thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from agents.runtime import prepare_process  # noqa: E402

prepare_process()  # before torch is imported (OMP_WAIT_POLICY)
os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
os.environ.setdefault("WANDB_SILENT", "true")


def plain_sb3(algo: str, steps: int, threads: int | None) -> float:
    """highway-env's scripts/sb3_highway_{dqn,ppo}.py settings, nothing else."""
    import gymnasium as gym
    import highway_env  # noqa: F401
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    if threads:
        torch.set_num_threads(threads)
    if algo == "dqn":
        env = gym.make("highway-fast-v0")
        model = DQN("MlpPolicy", env, policy_kwargs=dict(net_arch=[256, 256]), learning_rate=5e-4,
                    buffer_size=15000, learning_starts=200, batch_size=32, gamma=0.8, train_freq=1,
                    gradient_steps=1, target_update_interval=50, verbose=0, seed=0)
    else:
        # "highway_env:" makes forkserver workers import highway-env (its ids are not
        # registered there otherwise: the script's plain id fails with SB3 2.9, NOTES.md).
        env = make_vec_env("highway_env:highway-fast-v0", n_envs=2, vec_env_cls=SubprocVecEnv, seed=0,
                           vec_env_kwargs={"start_method": "forkserver"})
        model = PPO("MlpPolicy", env, policy_kwargs=dict(net_arch=dict(pi=[256, 256], vf=[256, 256])),
                    n_steps=384, batch_size=64, n_epochs=10, learning_rate=5e-4, gamma=0.8, verbose=0, seed=0)
    t0 = time.perf_counter()
    model.learn(steps)
    elapsed = time.perf_counter() - t0
    env.close()
    return model.num_timesteps / elapsed


def laneforge(algo: str, steps: int, eval_on: bool, wandb: str) -> float:
    from agents.config import load_config
    from agents.training.loop import train

    overrides = [f"train.total_timesteps={steps}", f"logging.wandb={wandb}", "train.checkpoint_freq=0",
                 f"train.eval_freq={max(steps // 3, 1) if eval_on else 0}"]
    cfg = load_config(ROOT / "configs" / f"highway_{algo}.yaml", overrides)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.devnull, "w") as devnull:
            run_dir = train(cfg, Path(tmp) / "run", ["benchmark"], out=devnull)
        summary = json.loads((run_dir / "train_summary.json").read_text())
    return summary["num_timesteps"] / summary["wall_s"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--algos", default="dqn,ppo")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/train_throughput.json")
    args = p.parse_args()
    variants = {
        "plain SB3, 1 torch thread": lambda a: plain_sb3(a, args.steps, 1),
        "plain SB3, torch default threads": lambda a: plain_sb3(a, args.steps, None),
        "laneforge (W&B offline, TB, CSV, progress bar; eval off)": lambda a: laneforge(a, args.steps, False, "offline"),
        "laneforge, with periodic eval (3 x 5 episodes)": lambda a: laneforge(a, args.steps, True, "offline"),
    }
    results: dict[str, dict[str, list[float]]] = {}
    for algo in args.algos.split(","):
        results[algo] = {name: [] for name in variants}
        for r in range(args.repeats):
            for name, fn in variants.items():
                import torch

                torch.set_num_threads(os.cpu_count() or 1)  # each variant sets its own
                sps = fn(algo)
                results[algo][name].append(sps)
                print(f"{algo} repeat {r}: {name}: {sps:.1f} env-steps/s", flush=True)
    table = ["| algo | variant | env-steps/s (mean of repeats) | ratio to plain SB3, 1 thread |", "|---|---|---|---|"]
    for algo, res in results.items():
        ref = sum(res["plain SB3, 1 torch thread"]) / len(res["plain SB3, 1 torch thread"])
        for name, vals in res.items():
            mean = sum(vals) / len(vals)
            table.append(f"| {algo} | {name} | {mean:.1f} ({', '.join(f'{v:.1f}' for v in vals)}) | {mean / ref:.3f} |")
    out = {
        "command": " ".join([sys.executable, *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cores",
        "steps": args.steps, "repeats": args.repeats, "results": results, "table": table,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print("\n".join(table))


if __name__ == "__main__":
    main()
