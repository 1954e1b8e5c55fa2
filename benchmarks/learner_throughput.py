"""Learner throughput of the PPO configs: env steps per second of whole training runs (rollouts
on FastHighway plus PPO updates), the generalist configs beside today's single-scenario
configs, in the same run, interleaved (A B C D A B C D ...) so machine load hits all alike.

    python benchmarks/learner_throughput.py --steps 81920 --repeats 2

Each run is ``train.py`` with periodic evaluation and intermediate checkpoints off and W&B
disabled; its rate is ``train_summary.json``'s steps over its training wall time. Minutes per
1e7 steps extrapolate that rate (the goal of the generalist issue: <= 30 min for the MLP,
<= 60 min for attention, on 2 idle cores). Writes --out (JSON) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("fast_highway_ppo_mlp", "generalist_ppo_mlp", "fast_highway_ppo_attention", "generalist_ppo_attention")


def one_run(config: str, steps: int, folder: Path, extra: list[str]) -> dict:
    out = folder / config
    cmd = [sys.executable, str(ROOT / "train.py"), "--config", str(ROOT / "configs" / f"{config}.yaml"),
           "--run-dir", str(out), f"train.total_timesteps={steps}", "train.eval_freq=0", "train.checkpoint_freq=0",
           "logging.wandb=disabled", "train.progress_bar=false", *extra]
    load = os.getloadavg()[0]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{config}: train.py failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    summary = json.loads((out / "train_summary.json").read_text())
    return {"config": config, "steps": summary["num_timesteps"], "wall_s": summary["wall_s"],
            "steps_per_s": summary["num_timesteps"] / summary["wall_s"], "load_before": round(load, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=81_920)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated config names under configs/")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a train.py override for every run")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "learner_throughput.json")
    args = p.parse_args(argv)
    configs = [c for c in args.configs.split(",") if c]
    missing = [c for c in configs if not (ROOT / "configs" / f"{c}.yaml").is_file()]
    if missing or args.steps < 1 or args.repeats < 1:
        p.error(f"--configs: no configs/{missing[0]}.yaml" if missing else "--steps and --repeats must be >= 1")
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for config in configs:
                run = one_run(config, args.steps, Path(tmp) / f"r{r}", args.set)
                print(f"{config}: {run['steps_per_s']:,.0f} env-steps/s (load {run['load_before']})", flush=True)
                runs.append(run)
    rows = {}
    for config in configs:
        rates = [r["steps_per_s"] for r in runs if r["config"] == config]
        rows[config] = {"steps_per_s": statistics.median(rates), "all": rates,
                        "minutes_per_1e7": 1e7 / statistics.median(rates) / 60}
    result = {"command": " ".join(["python benchmarks/learner_throughput.py", *(argv if argv is not None else sys.argv[1:])]),
              "started_utc": started, "cpu_count": os.cpu_count(), "runs": runs, "summary": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| config | env-steps/s (median) | runs | minutes per 1e7 steps |\n|---|---|---|---|")
    for config, row in rows.items():
        print(f"| {config} | {row['steps_per_s']:,.0f} | {', '.join(f'{x:,.0f}' for x in row['all'])} | "
              f"{row['minutes_per_1e7']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
