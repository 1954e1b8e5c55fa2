"""Threads on a busy machine: the quick start, old code vs new, idle and beside busy loops.

Runs ``train.py --config configs/fast_highway_ppo.yaml`` (the README's quick start, with its
budget optionally cut by ``--timesteps``) from two source trees: ``--old`` (a checkout of the
code before the change, e.g. ``git worktree add /tmp/lf-old <commit>``) and this tree. Each
condition (``idle``; ``busy``: beside ``--busy-loops`` processes running
``python -c 'while True: pass'``) runs ``--pairs`` interleaved old/new pairs (the order
alternates between pairs). Wall time and the child's user+sys CPU (``os.wait4``) are recorded
per run, with the 1-minute load average before each. Results are written to ``--out`` after
every run; a rerun skips the runs already there (resumable).

Neither tree sees ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` from this script: the old one runs
with libgomp's default, the new one with what train.py sets itself.

    git worktree add /tmp/lf-old e5f143c
    python benchmarks/threads.py --old /tmp/lf-old --timesteps 40960 \\
        --out benchmarks/results/threads_busy_machine.json
"""

from __future__ import annotations

import argparse
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
CONFIG = "configs/fast_highway_ppo.yaml"


def train_once(tree: Path, timesteps: int | None) -> dict:
    """One quick-start training from ``tree``; wall seconds and the child's CPU seconds."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "PYTHONPATH")}
    env.update(WANDB_MODE="disabled", WANDB_ERROR_REPORTING="false", PYTHONPATH=str(tree))
    with tempfile.TemporaryDirectory(prefix="lf-threads-") as tmp:
        cmd = [sys.executable, "train.py", "--config", CONFIG, "--run-dir", str(Path(tmp) / "run"),
               "--wandb", "disabled", "train.progress_bar=false"]
        if timesteps:
            cmd.append(f"train.total_timesteps={timesteps}")
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = proc.stdout.read().decode(errors="replace")  # type: ignore[union-attr]
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{tree}: train.py exited {code}: {out[-2000:]}")
    threads = next((line.split("torch threads")[1].strip() for line in out.splitlines() if "torch threads" in line), None)
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "user_s": round(usage.ru_utime, 2), "sys_s": round(usage.ru_stime, 2), "load1_before": round(load, 2),
            "torch_threads": threads}


def start_busy(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait()


def summarize(runs: list[dict]) -> dict:
    out: dict = {}
    for cond in sorted({r["condition"] for r in runs}):
        row: dict = {}
        for code in ("old", "new"):
            sel = [r for r in runs if r["condition"] == cond and r["code"] == code]
            if sel:
                row[code] = {k: round(sum(r[k] for r in sel) / len(sel), 2) for k in ("wall_s", "cpu_s")}
                row[code]["n"] = len(sel)
        pairs = [(o, n) for o in runs for n in runs if o["condition"] == n["condition"] == cond
                 and o["pair"] == n["pair"] and o["code"] == "old" and n["code"] == "new"]
        if pairs:
            ratios = sorted(o["wall_s"] / n["wall_s"] for o, n in pairs)
            row["old_over_new_wall"] = {"per_pair": [round(r, 2) for r in ratios],
                                        "mean": round(sum(ratios) / len(ratios), 2)}
        out[cond] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", type=Path, required=True, help="source tree of the code before the change")
    ap.add_argument("--timesteps", type=int, default=None, help="train.total_timesteps (default: the quick start's)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--busy-loops", type=int, default=2)
    ap.add_argument("--conditions", default="idle,busy")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "threads_busy_machine.json")
    args = ap.parse_args()
    data = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    data.update({"command": " ".join([Path(sys.executable).name, *sys.argv]), "config": CONFIG,
                 "timesteps": args.timesteps, "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                                          "processor": platform.processor()}})
    trees = {"old": args.old.resolve(), "new": ROOT}
    for cond in args.conditions.split(","):
        for pair in range(args.pairs):
            order = ("old", "new") if pair % 2 == 0 else ("new", "old")
            for code in order:
                if any(r["condition"] == cond and r["pair"] == pair and r["code"] == code for r in data["runs"]):
                    continue  # done in an earlier invocation
                busy = start_busy(args.busy_loops) if cond == "busy" else []
                try:
                    time.sleep(1.0 if busy else 0.0)
                    result = train_once(trees[code], args.timesteps)
                finally:
                    stop(busy)
                data["runs"].append({"condition": cond, "pair": pair, "code": code, **result,
                                     "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
                data["summary"] = summarize(data["runs"])
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(data, indent=2))
                print(f"{cond:5} pair {pair} {code}: {result}", flush=True)
    print(json.dumps(data["summary"], indent=2))


if __name__ == "__main__":
    main()
