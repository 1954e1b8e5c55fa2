"""Env-steps/s of FastHighway against highway-env, measured in the same run.

For each traffic size (20 vehicles: highway-fast-v0's config; 50 vehicles: highway-v0's),
backend and batch size B, the script times highway-env with random actions and right after it
FastHighway's vector env (observation, reward and autoreset included) with random actions,
``--repeats`` times, and writes env-steps/s and the median of the paired ratios into a JSON
file. Every measurement runs for about ``--seconds`` of wall time (at least ``--min-steps``
policy steps). Pairing matters on a shared machine: absolute rates move with other jobs'
load, a ratio of two measurements taken seconds apart much less.

    python benchmarks/sim_throughput.py --out benchmarks/results/fast_highway_throughput.json
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

prepare_process()  # before torch is imported (OMP_WAIT_POLICY)

SCENARIOS = {
    20: ("highway-fast-v0", {}),
    50: ("highway-v0", None),  # FastHighway config: highway_v0_config()
}


def time_highway_env(env_id: str, seconds: float, min_steps: int) -> dict:
    import gymnasium as gym
    import highway_env  # noqa: F401

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make(env_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, start = 0, time.perf_counter()
    while steps < min_steps or time.perf_counter() - start < seconds:
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        steps += 1
        if term or trunc:
            env.reset()
    elapsed = time.perf_counter() - start
    return {"env_id": env_id, "steps": steps, "seconds": elapsed, "steps_per_s": steps / elapsed}


def time_fast_highway(num_envs: int, config: dict, seconds: float, min_steps: int) -> dict:
    from envs.fast_highway import FastHighwayVectorEnv

    venv = FastHighwayVectorEnv(num_envs, config)
    venv.reset(seed=0)
    venv.action_space.seed(0)
    venv.step(venv.action_space.sample())  # warm-up
    steps, start = 0, time.perf_counter()
    while steps < min_steps or time.perf_counter() - start < seconds:
        venv.step(venv.action_space.sample())
        steps += 1
    elapsed = time.perf_counter() - start
    return {"num_envs": num_envs, "policy_steps": steps, "seconds": elapsed,
            "env_steps_per_s": steps * num_envs / elapsed}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_trace(num_envs: int, env_steps: int) -> dict:
    """Resident memory while FastHighway runs ``env_steps`` env-steps (autoresets included)."""
    from envs.fast_highway import FastHighwayVectorEnv

    venv = FastHighwayVectorEnv(num_envs, {})
    venv.reset(seed=0)
    venv.action_space.seed(0)
    steps = -(-env_steps // num_envs)
    samples = []
    start = time.perf_counter()
    for t in range(steps):
        venv.step(venv.action_space.sample())
        if t % max(steps // 10, 1) == 0 or t == steps - 1:
            samples.append({"env_steps": (t + 1) * num_envs, "rss_mb": round(_rss_mb(), 1)})
    return {"num_envs": num_envs, "env_steps": steps * num_envs, "seconds": time.perf_counter() - start,
            "rss_samples": samples, "rss_growth_after_first_sample_mb": samples[-1]["rss_mb"] - samples[0]["rss_mb"]}


def machine() -> dict:
    import torch

    return {
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "load_avg_at_start": os.getloadavg(), "python": platform.python_version(),
        "numpy": np.__version__, "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)  # as in training on these machines (NOTES.md); numpy is single-threaded too
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 1024, 4096])
    parser.add_argument("--vehicles", type=int, nargs="+", default=[20, 50], choices=sorted(SCENARIOS))
    parser.add_argument("--seconds", type=float, default=4.0, help="wall time per measurement [s]")
    parser.add_argument("--min-steps", type=int, default=3, help="policy steps per measurement, at least")
    parser.add_argument("--repeats", type=int, default=3, help="paired measurements per cell (median ratio reported)")
    parser.add_argument("--backends", nargs="+", default=["numpy"], choices=["numpy", "torch"])
    parser.add_argument("--torch-device", default="cpu", help="device for the torch backend (cpu, cuda)")
    parser.add_argument("--memory-env-steps", type=int, default=0,
                        help="also trace resident memory over this many env-steps at B=4096 (0: skip)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/fast_highway_throughput.json")
    args = parser.parse_args(argv)

    from envs.fast_highway import highway_v0_config

    result = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": machine(), "runs": []}
    for vehicles in args.vehicles:
        env_id, config = SCENARIOS[vehicles]
        config = highway_v0_config() if config is None else config
        for backend in args.backends:
            device = args.torch_device if backend == "torch" else "cpu"
            for num_envs in args.batch_sizes:
                # Paired: highway-env is timed right before each FastHighway measurement, so a
                # shared machine's changing load hits both sides of every ratio alike.
                pairs = []
                for _ in range(args.repeats):
                    ref = time_highway_env(env_id, args.seconds, args.min_steps)
                    run = time_fast_highway(num_envs, dict(config, backend=backend, device=device), args.seconds,
                                            args.min_steps)
                    pairs.append({"reference": ref, "fast_highway": run,
                                  "speedup": run["env_steps_per_s"] / ref["steps_per_s"]})
                ratios = sorted(p["speedup"] for p in pairs)
                median = statistics.median(ratios)
                row = {"vehicles": vehicles, "reference": env_id, "backend": backend, "device": device,
                       "num_envs": num_envs, "pairs": pairs, "speedup": median,
                       "env_steps_per_s": float(np.median([p["fast_highway"]["env_steps_per_s"] for p in pairs])),
                       "reference_steps_per_s": float(np.median([p["reference"]["steps_per_s"] for p in pairs]))}
                result["runs"].append(row)
                print(f"{env_id} ({vehicles} vehicles) FastHighway {backend}/{device} B={num_envs:5d}: "
                      f"{row['env_steps_per_s']:9.0f} env-steps/s, highway-env {row['reference_steps_per_s']:6.2f} "
                      f"steps/s: {median:6.0f}x (pairs: {', '.join(f'{r:.0f}x' for r in ratios)})", flush=True)
    if args.memory_env_steps:
        result["memory"] = memory_trace(4096, args.memory_env_steps)
        print(f"memory: {result['memory']['rss_samples']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
