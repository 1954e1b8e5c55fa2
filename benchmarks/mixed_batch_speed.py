"""What per-env scenarios cost: a FastHighway batch whose envs differ (vehicles_density,
ego_spacing, initial_lane_id, duration) against the same batch on one config, and against
highway-env stepping the same drawn scenarios one after another through
``reset(options={"config": draw})``; all measured in the same run, paired, ``--repeats`` times.

    python benchmarks/mixed_batch_speed.py --out benchmarks/results/mixed_batch_speed.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from agents.runtime import prepare_process  # noqa: E402

prepare_process()

import gymnasium as gym  # noqa: E402
import highway_env  # noqa: E402,F401

import envs  # noqa: E402,F401
from envs.fast_highway import FastHighwayVectorEnv  # noqa: E402


def draw(rng: np.random.Generator) -> dict:
    """One scenario: the per-env keys drawn as a family would draw them."""
    return {"vehicles_density": float(rng.uniform(0.5, 2.5)), "ego_spacing": float(rng.uniform(1.0, 2.0)),
            "initial_lane_id": [None, 0, 1, 2][int(rng.integers(4))], "duration": int(rng.choice([20, 30, 40]))}


def time_batch(num_envs: int, per_env: list[dict] | None, seconds: float) -> float:
    venv = FastHighwayVectorEnv(num_envs, {})
    venv.reset(seed=0, options={"config": per_env} if per_env else None)
    rng = np.random.default_rng(1)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        venv.step(rng.integers(0, 5, size=num_envs))
        steps += num_envs
    return steps / (time.perf_counter() - start)


def time_highway_env(scenarios: list[dict], seconds: float) -> float:
    env = gym.make("highway-fast-v0")
    rng = np.random.default_rng(1)
    steps, i, start = 0, 0, time.perf_counter()
    env.reset(seed=0, options={"config": scenarios[0]})
    while time.perf_counter() - start < seconds:
        _, _, term, trunc, _ = env.step(int(rng.integers(5)))
        steps += 1
        if term or trunc:
            i += 1
            env.reset(options={"config": scenarios[i % len(scenarios)]})
    return steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num-envs", type=int, default=1024)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/mixed_batch_speed.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    scenarios = [draw(rng) for _ in range(args.num_envs)]
    runs = []
    for r in range(args.repeats):
        uniform = time_batch(args.num_envs, None, args.seconds)
        mixed = time_batch(args.num_envs, scenarios, args.seconds)
        reference = time_highway_env(scenarios, args.seconds)
        runs.append({"uniform": uniform, "mixed": mixed, "highway_env": reference,
                     "mixed_vs_uniform": mixed / uniform, "mixed_vs_highway_env": mixed / reference})
        print(f"repeat {r}: uniform {uniform:,.0f}, mixed {mixed:,.0f}, highway-env {reference:,.1f} env-steps/s; "
              f"mixed/uniform {mixed / uniform:.3f}, mixed/highway-env {mixed / reference:,.0f}x", flush=True)
    result = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv), "num_envs": args.num_envs, "seconds": args.seconds,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg_1m": os.getloadavg()[0]},
        "runs": runs,
        "median": {k: statistics.median(run[k] for run in runs) for k in runs[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["median"], indent=2))


if __name__ == "__main__":
    main()
