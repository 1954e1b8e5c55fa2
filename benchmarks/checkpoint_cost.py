"""Cost of checkpointing and of resuming, for the DQN and PPO highway configs.

    python benchmarks/checkpoint_cost.py --repeats 5

DQN is measured with a full replay buffer (15000 transitions, as after training), the worst
case. Resume cost = verifying the manifest checksums + loading parameters, optimizer and
replay buffer into a freshly built model (env/model construction is reported apart).
Writes benchmarks/results/checkpoint_cost.json and prints a markdown table.
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from agents.runtime import prepare_process  # noqa: E402

prepare_process()  # before torch is imported (OMP_WAIT_POLICY)


def measure(config: str, repeats: int) -> dict:
    from agents.rundir import checkpoints as ckpts
    from agents.config import load_config
    from agents.training.loop import _restore, build

    cfg = load_config(ROOT / "configs" / config, ["logging.wandb=disabled"])
    t0 = time.perf_counter()
    built = build(cfg)
    build_s = time.perf_counter() - t0
    model = built.model
    buf = getattr(model, "replay_buffer", None)
    if buf is not None:  # worst case: a full buffer
        rng = np.random.default_rng(0)
        for name in ("observations", "next_observations", "rewards"):
            arr = getattr(buf, name)
            setattr(buf, name, rng.standard_normal(arr.shape).astype(arr.dtype))
        buf.full, buf.pos = True, 0
    save_s, sizes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "checkpoints"
        for i in range(repeats):
            t = time.perf_counter()
            path = ckpts.write_checkpoint(root, 1000 * (i + 1), model, {"num_timesteps": 1000 * (i + 1)},
                                          with_replay=buf is not None)
            save_s.append(time.perf_counter() - t)
            sizes.append(sum(p.stat().st_size for p in path.iterdir()))
        resume_s = []
        for _ in range(repeats):
            fresh = build(cfg)
            t = time.perf_counter()
            ckpt, _ = ckpts.latest_valid(root)
            _restore(fresh.model, ckpt, {"num_timesteps": 1000})
            resume_s.append(time.perf_counter() - t)
            fresh.close()
    built.close()
    return {"config": config, "checkpoint_MB": float(np.mean(sizes)) / 2**20, "save_s": save_s,
            "resume_load_s": resume_s, "build_env_and_model_s": build_s}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/checkpoint_cost.json")
    args = p.parse_args()
    results = [measure(c, args.repeats) for c in ("highway_dqn.yaml", "highway_ppo.yaml")]
    table = ["| config | checkpoint size [MB] | save [s] (median of repeats) | resume load [s] (median) | build env + model [s] |",
             "|---|---|---|---|---|"]
    for r in results:
        table.append(f"| {r['config']} | {r['checkpoint_MB']:.1f} | {np.median(r['save_s']):.3f} | "
                     f"{np.median(r['resume_load_s']):.3f} | {r['build_env_and_model_s']:.2f} |")
    out = {"command": " ".join([sys.executable, *sys.argv]),
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores", "results": results,
           "table": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print("\n".join(table))


if __name__ == "__main__":
    main()
