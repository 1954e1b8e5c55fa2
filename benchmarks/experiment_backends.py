"""Wall time of one small experiment (2 networks x 2 seeds = 4 tiny PPO runs) through each
experiment backend: sequential, process (--workers 2) and Ray's private local instance.

    python benchmarks/experiment_backends.py [--steps 256] [--backends sequential process ray]

Each backend runs the same command in a fresh temporary storage folder (W&B disabled, one
in-process env per run, so a run reserves one CPU). The total is what a user waits for,
start-up included (Python and torch imports per process, Ray's instance start). Results go to
benchmarks/results/experiment_backends.json. A few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "experiment_backends.json"
TINY = ["env.config.vehicles_count=5", "env.config.duration=8", "env.n_envs=1", "algo.n_steps=32",
        "algo.batch_size=32", "algo.n_epochs=1", "train.eval_episodes=2", "network.net_arch=[32,32]"]


def run(backend: str, steps: int, storage: Path) -> dict:
    flags = {"sequential": ["--backend", "sequential"], "process": ["--workers", "2"],
             "ray": ["--backend", "ray", "--workers", "2"]}[backend]
    cmd = [sys.executable, "train.py", "--config", "configs/highway_ppo.yaml", "--seeds", "0-1",
           "--grid", "network.type=mlp,attention", "--name", "bench", "--storage", str(storage),
           "--wandb", "disabled", *flags, *TINY, f"train.total_timesteps={steps}",
           f"train.eval_freq={steps // 2}", f"train.checkpoint_freq={steps // 2}"]
    env = {**os.environ, "WANDB_ERROR_REPORTING": "false", "PYTHONPATH": str(ROOT)}
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    info = json.loads((storage / "bench" / "experiment.json").read_text()) if proc.returncode == 0 else {}
    train_s = [r["train_wall_s"] for r in info.get("runs", []) if r.get("train_wall_s") is not None]
    return {"backend": backend, "exit": proc.returncode, "wall_s": round(wall, 1), "load_1min_before": round(load, 2),
            "runs": len(train_s), "sum_train_s": round(sum(train_s), 1),
            "command": " ".join(cmd[1:]).replace(str(storage), "TMP"),
            "error": None if proc.returncode == 0 else proc.stderr.strip().splitlines()[-1:]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=256, help="env steps per run (default 256)")
    p.add_argument("--backends", nargs="+", default=["sequential", "process", "ray"])
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    results = []
    for backend in args.backends:
        if backend == "ray" and importlib.util.find_spec("ray") is None:
            print("ray: skipped (pip install -e '.[ray]')")
            continue
        with tempfile.TemporaryDirectory(prefix=f"lf-bench-{backend}-") as tmp:
            r = run(backend, args.steps, Path(tmp))
        results.append(r)
        print(f"{backend:<10} {r['wall_s']:>6.1f} s wall, {r['runs']} runs, sum of in-run training time "
              f"{r['sum_train_s']} s, exit {r['exit']}", flush=True)
    out = {"benchmark": "experiment_backends", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
           "experiment": "highway_ppo.yaml, network.type=mlp,attention x seeds 0-1, "
                         f"{args.steps} env steps per run, env.n_envs=1, W&B disabled",
           "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
