"""What a family of scenarios costs: a FastHighway batch whose envs draw their scenarios from a
family file (default configs/families/highway_mix.yaml: lanes 2-5, density, driver profiles,
work zones 1 in 5) against the same batch on one config, against the one-config batch of the
code before per-env scenarios existed (``--baseline``, a git revision, run from a temporary
worktree), and against highway-env stepping the same drawn scenarios one after another through
``reset(options={"config": draw})`` (highway-fast-v0, or laneforge/WorkZone-v1 for a work zone;
envs.fast_highway.hazards.highway_env_scenario); all measured in the same run, paired,
``--repeats`` times, one process at a time.

    python benchmarks/mixed_batch_speed.py --out benchmarks/results/mixed_batch_speed.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if "--root" in sys.argv:  # time another checkout's code (the baseline worktree)
    sys.path.insert(0, sys.argv[sys.argv.index("--root") + 1])
else:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from agents.runtime import prepare_process  # noqa: E402

prepare_process()

import gymnasium as gym  # noqa: E402
import highway_env  # noqa: E402,F401

import envs  # noqa: E402,F401
from envs.fast_highway import FastHighwayVectorEnv  # noqa: E402

BASELINE = "ed089f9~1"  # the commit before the first per-env scenario change (issue 16)


def time_batch(num_envs: int, seconds: float, config: dict | None = None, sampler=None) -> float:
    """env-steps/s of a vector env stepping random actions (``sampler``: a family's draws)."""
    venv = FastHighwayVectorEnv(num_envs, config or {})
    if sampler is not None:
        venv.core.set_family(sampler)
    venv.reset(seed=0)
    rng = np.random.default_rng(1)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        venv.step(rng.integers(0, 5, size=num_envs))
        steps += num_envs
    return steps / (time.perf_counter() - start)


def time_highway_env(scenarios: list[tuple[str, dict]], seconds: float) -> float:
    """highway-env stepping ``scenarios`` (env id, config update) one after another."""
    from envs.factory import to_highway_config

    made = {env_id: gym.make(env_id) for env_id in {env_id for env_id, _ in scenarios}}
    rng = np.random.default_rng(1)
    steps, i, start = 0, 0, time.perf_counter()
    env_id, update = scenarios[0]
    env = made[env_id]
    env.reset(seed=0, options={"config": to_highway_config(update)})
    while time.perf_counter() - start < seconds:
        _, _, term, trunc, _ = env.step(int(rng.integers(5)))
        steps += 1
        if term or trunc:
            i += 1
            env_id, update = scenarios[i % len(scenarios)]
            env = made[env_id]
            env.reset(options={"config": to_highway_config(update)})
    return steps / (time.perf_counter() - start)


def time_baseline(worktree: Path, num_envs: int, seconds: float) -> float:
    """The one-config batch timed on the baseline's code, in a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--root", str(worktree), "--uniform-only",
                          "--num-envs", str(num_envs), "--seconds", str(seconds)],
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", type=Path, default=ROOT / "configs/families/highway_mix.yaml")
    p.add_argument("--num-envs", type=int, default=1024)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--baseline", default=BASELINE,
                   help="git revision whose one-config batch is the reference, run from a temporary worktree, or a "
                        "directory that already holds its code (e.g. unpacked by git archive); '' skips it")
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.add_argument("--uniform-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/mixed_batch_speed.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    if args.uniform_only:
        print(time_batch(args.num_envs, args.seconds))
        return
    from envs.families import FamilySampler, load_family
    from envs.fast_highway.hazards import highway_env_scenario

    family = load_family(args.family)
    drawn = FamilySampler(family, 0, args.num_envs).draw(range(args.num_envs))
    scenarios = [highway_env_scenario({**family.config, **d}) for d in drawn]
    worktree, made = None, False
    if args.baseline and Path(args.baseline).is_dir():
        worktree = Path(args.baseline)
    elif args.baseline:
        worktree, made = Path(tempfile.mkdtemp()) / "baseline", True
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.baseline],
                       check=True, capture_output=True)
    runs = []
    try:
        for r in range(args.repeats):
            run = {"uniform": time_batch(args.num_envs, args.seconds)}
            if worktree is not None:
                run["uniform_baseline"] = time_baseline(worktree, args.num_envs, args.seconds)
            run["family"] = time_batch(args.num_envs, args.seconds, family.config, FamilySampler(family, 0, args.num_envs))
            run["highway_env"] = time_highway_env(scenarios, args.seconds)
            run["family_vs_uniform"] = run["family"] / run["uniform"]
            run["family_vs_highway_env"] = run["family"] / run["highway_env"]
            if worktree is not None:
                run["uniform_vs_baseline"] = run["uniform"] / run["uniform_baseline"]
            runs.append(run)
            print(f"repeat {r}: " + ", ".join(f"{k} {v:,.3f}" if "_vs_" in k else f"{k} {v:,.1f}"
                                              for k, v in run.items()), flush=True)
    finally:
        if made:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)
    kinds = {}
    for env_id, _ in scenarios:
        kinds[env_id] = kinds.get(env_id, 0) + 1
    result = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv), "num_envs": args.num_envs, "seconds": args.seconds,
        "family": str(args.family.relative_to(ROOT) if args.family.is_relative_to(ROOT) else args.family),
        "baseline": args.baseline, "highway_env_scenarios": kinds,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg_1m": os.getloadavg()[0]},
        "runs": runs,
        "median": {k: statistics.median(run[k] for run in runs) for k in runs[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["median"], indent=2))


if __name__ == "__main__":
    main()
