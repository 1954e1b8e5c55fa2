"""Do the evaluation metrics mean the same on the batched twin as on highway-env?

For one trained run and every scenario of a suite that names a batched twin, the run is
evaluated on highway-env (``--episodes``, default 100) and on the twin (``--twin-episodes``,
default 1000), through evaluate.py's own code. Then, per scenario and metric, both means
with their 95% CIs and whether the CIs overlap (statistical parity of the metrics
themselves). Also the wall time of each evaluation, as the ratio twin : highway-env measured in
the same run.

Resumable: each evaluation is a normal report folder (``eval/<name>``) that evaluate.py resumes
and reuses when complete, so a rerun after an interruption only does what is missing.

    python benchmarks/metric_parity.py pretrained/fast_highway_ppo_mlp \\
        --out benchmarks/results/metric_parity.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from agents.runtime import prepare_process  # noqa: E402

prepare_process()  # before torch is imported (OMP_WAIT_POLICY)

from agents.evaluation.episodes import read_report  # noqa: E402
from agents.evaluation.report import format_stat  # noqa: E402
from agents.evaluation.suite_run import evaluate_run  # noqa: E402
from envs.suites import load_suite  # noqa: E402

METRICS = ("crash_rate", "progress", "stall_rate", "mean_speed", "return", "min_ttc", "mean_ttc",
           "headway_under_1s", "hard_braking_per_km", "above_speed_limit", "lane_changes_per_km")


def overlap(a: list[float] | None, b: list[float] | None) -> bool | None:
    if not a or not b or a[0] is None or b[0] is None:
        return None
    return bool(a[0] <= b[1] and b[0] <= a[1])


def evaluate(run_dir: Path, suite, name: str, episodes: int, simulator: str, workers: int) -> tuple[dict, float]:
    twins = [sc for sc in suite.scenarios if sc.twin is not None]
    start = time.perf_counter()
    path = evaluate_run(run_dir, name, twins, episodes, seed=0, video_episodes=0, workers=workers,
                        simulator=simulator, progress=False)
    return read_report(path), time.perf_counter() - start


def compare(hw: dict, twin: dict) -> list[dict]:
    rows = []
    for a, b in zip(hw["scenarios"], twin["scenarios"]):
        for metric in METRICS:
            sa, sb = a["metrics"].get(metric), b["metrics"].get(metric)
            if not sa or not sb:
                continue
            rows.append({"scenario": a["name"], "metric": metric,
                         "highway_env": {"mean": sa["mean"], "ci95": sa["ci95"], "n": sa["n"]},
                         "twin": {"mean": sb["mean"], "ci95": sb["ci95"], "n": sb["n"]},
                         "overlap": overlap(sa["ci95"], sb["ci95"])})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| scenario | metric | highway-env | FastHighway twin | CIs overlap |", "|---|---|---|---|---|"]
    lines += [f"| {r['scenario']} | {r['metric']} | {format_stat(r['highway_env'])} | {format_stat(r['twin'])} | "
              f"{'yes' if r['overlap'] else 'NO' if r['overlap'] is False else '-'} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--suite", type=Path, default=ROOT / "configs/suites/highway_generalization.yaml")
    p.add_argument("--episodes", type=int, default=100, help="highway-env episodes per scenario")
    p.add_argument("--twin-episodes", type=int, default=1000, help="twin episodes per scenario")
    p.add_argument("--workers", type=int, default=1, help="highway-env worker processes")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/metric_parity.json")
    args = p.parse_args()
    suite = load_suite(args.suite)
    hw, hw_s = evaluate(args.run_dir, suite, f"parity-{suite.name}-hw{args.episodes}", args.episodes,
                        "highway-env", args.workers)
    tw, tw_s = evaluate(args.run_dir, suite, f"parity-{suite.name}-twin{args.twin_episodes}", args.twin_episodes,
                        "twin", 1)
    rows = compare(hw, tw)
    result = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg_1m": os.getloadavg()[0]},
        "command": " ".join(sys.argv), "run_dir": str(args.run_dir), "suite": str(args.suite),
        "wall_s": {"highway_env": hw_s, "twin": tw_s,
                   "note": "a report already complete is reused: its time is the time to read it"},
        "episodes_per_s": {"highway_env": len(hw["scenarios"]) * args.episodes / hw_s,
                           "twin": len(tw["scenarios"]) * args.twin_episodes / tw_s},
        "rows": rows,
        "overlapping": sum(bool(r["overlap"]) for r in rows),
        "compared": sum(r["overlap"] is not None for r in rows),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(table(rows))
    print(f"{result['overlapping']}/{result['compared']} metric CIs overlap; wall time highway-env {hw_s:.0f} s, "
          f"twin {tw_s:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
