"""Architecture matters: DQN on intersection-v0 with the mlp, cnn and attention networks.

Each (network, seed) trains for the same budget from configs/intersection_dqn_<network>.yaml,
then is evaluated deterministically over the same evaluation episodes (seeds from the range
reserved for evaluation). Reported per network: success rate (arrived, not crashed) and
return, mean over seeds with a 95% Student-t CI across seeds; a ranking is printed only for
pairs whose CIs do not overlap.

    python benchmarks/architectures.py --budget 40000 --seeds 0 1 2 --episodes 100 --jobs 2
    python benchmarks/architectures.py --summary              # table of what is in the JSON
    python benchmarks/architectures.py --smoke                # 300 steps, 1 seed, 5 episodes

--task highway_ppo runs the same protocol for PPO with mlp and attention, trained on
laneforge/FastHighway-v0 (configs/fast_highway_ppo_<network>.yaml, same 15 x 7 observation)
and evaluated on highway-env's highway-fast-v0 (success = not crashed); default budget 1e6:

    python benchmarks/architectures.py --task highway_ppo --seeds 0 1 2 --episodes 100

Resumable and incremental: every finished run is written at once to the results JSON (default
benchmarks/results/architectures.json, keyed by network/budget/seed) and skipped when run
again; more seeds extend it; a larger --episodes evaluates the saved model (--models-dir)
on the missing episodes only. The full budget takes hours on 2 cores (intersection-v0 trains at
about 8-15 env-steps/s): run it where the CPUs are free.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from agents.runtime import prepare_process  # noqa: E402

prepare_process()  # before torch is imported (OMP_WAIT_POLICY)
from agents.analysis.stats import t_ci  # noqa: E402
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_ERROR_REPORTING", "false")

NETWORKS = ("mlp", "cnn", "attention")
DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "architectures.json"
DEFAULT_MODELS = ROOT / "runs" / "benchmarks" / "architectures"  # runs/ is git-ignored
# What is compared. intersection: DQN on intersection-v0, evaluated there (issue 3's main
# benchmark). highway_ppo: PPO trained on laneforge/FastHighway-v0, evaluated on highway-env's
# highway-fast-v0 with the run's observation forced on it; success = not crashed.
TASKS: dict[str, dict[str, Any]] = {
    "intersection": {"config": "intersection_dqn_{network}.yaml", "networks": NETWORKS, "eval_env": None,
                     "success": "arrived", "results": DEFAULT_RESULTS, "models": DEFAULT_MODELS},
    "highway_ppo": {"config": "fast_highway_ppo_{network}.yaml", "networks": ("mlp", "attention"),
                    "eval_env": "highway-fast-v0", "success": "survived",
                    "results": DEFAULT_RESULTS.with_name("architectures_highway_ppo.json"),
                    "models": DEFAULT_MODELS.with_name("architectures_highway_ppo")},
}


def mean_ci(values: list[float]) -> dict[str, Any]:
    """Mean and 95% Student-t CI across seeds (``ci95`` None with fewer than two seeds)."""
    ci = t_ci(values)
    return {"mean": sum(values) / len(values) if values else None,
            "ci95": None if ci is None else [float(ci[0]), float(ci[1])], "n": len(values)}


def run_key(network: str, budget: int, seed: int) -> str:
    return f"{network}/budget{budget}/seed{seed}"


# ------------------------------------------------------------------ one run (in a worker)


def episode_success(row: dict[str, Any], rule: str = "arrived") -> float:
    """arrived: intersection-v0 has no 'success' in info, so reached the exit without crashing;
    survived: not crashed before the time limit (highway)."""
    if rule == "survived":
        return float(not row["crashed"])
    arrived = (row.get("reward_terms") or {}).get("arrived_reward", 0.0) > 0
    return float(arrived and not row["crashed"])


def evaluate(model: Any, cfg: Any, seeds: range, task: str = "intersection") -> list[dict[str, Any]]:
    from agents.evaluation.scenario_fit import scenario_env
    from agents.evaluation.episodes import model_policy, run_episode
    from envs.factory import make_env
    from envs.suites import Scenario

    spec = TASKS[task]
    if spec["eval_env"] is None:
        env = make_env(cfg.env.id, cfg.env.config, max_episode_steps=cfg.env.max_episode_steps)
    else:  # another simulator, with the run's observation/action forced on it as evaluate.py does
        env = scenario_env(cfg, Scenario(name=spec["eval_env"], split="seen", env_id=spec["eval_env"]))
    policy = model_policy(model)
    rows = []
    try:
        for seed in seeds:
            row = run_episode(policy, env, seed).row()
            rows.append({"seed": seed, "return": row["return"], "length": row["length"],
                         "crashed": bool(row["crashed"]), "success": episode_success(row, spec["success"])})
    finally:
        env.close()
    return rows


def one_run(network: str, seed: int, budget: int, episodes: int, config_dir: str, models_dir: str | None,
            previous: dict[str, Any] | None, task: str = "intersection") -> dict[str, Any]:
    """Train (or reload) one (network, seed) and evaluate the missing episodes."""
    import torch

    from agents.models.algorithms import parameter_counts
    from agents.config import load_config
    from agents.evaluation.episodes import FINAL_EVAL_SEED_BASE
    from agents.training.loop import build

    config = TASKS[task]["config"].format(network=network)
    cfg = load_config(Path(config_dir) / config,
                      [f"train.total_timesteps={budget}", f"train.seed={seed}", "train.progress_bar=false",
                       "logging.wandb=disabled"])
    model_path = Path(models_dir) / f"{network}_budget{budget}_seed{seed}.zip" if models_dir else None
    built = build(cfg)
    try:
        model = built.model
        record = dict(previous) if previous else {}
        sidecar = model_path.with_suffix(".json") if model_path is not None else None
        if not previous and sidecar is not None and sidecar.exists() and model_path.exists():
            record = json.loads(sidecar.read_text())  # trained earlier, its evaluation never finished
        if record and model_path is not None and model_path.exists():
            model.set_parameters(str(model_path))
        else:
            t0 = time.perf_counter()
            model.learn(budget)
            record = {"network": network, "seed": seed, "budget": budget, "episodes_trained": model._episode_num,
                      "train_wall_s": round(time.perf_counter() - t0, 1),
                      "env_steps_per_s": round(model.num_timesteps / (time.perf_counter() - t0), 2),
                      "parameters": parameter_counts(model), "torch_threads": torch.get_num_threads(),
                      "config": f"configs/{config}", "per_episode": []}
            if model_path is not None:
                model_path.parent.mkdir(parents=True, exist_ok=True)
                model.save(model_path)
                sidecar.write_text(json.dumps(record))
        done = len(record["per_episode"])
        t0 = time.perf_counter()
        record["per_episode"] += evaluate(model, cfg, range(FINAL_EVAL_SEED_BASE + done, FINAL_EVAL_SEED_BASE + episodes),
                                         task)
        record["eval_wall_s"] = round(record.get("eval_wall_s", 0.0) + time.perf_counter() - t0, 1)
    finally:
        built.close()
    rows = record["per_episode"]
    record["episodes"] = len(rows)
    record["success_rate"] = sum(r["success"] for r in rows) / len(rows)
    record["crash_rate"] = sum(r["crashed"] for r in rows) / len(rows)
    record["return"] = sum(r["return"] for r in rows) / len(rows)
    record["finished_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


# ------------------------------------------------------------------ results file and summary


def load_results(path: Path) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text())
    return {"benchmark": "architectures", "runs": {}}


def save_results(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)


def summarize(results: dict[str, Any], budget: int | None = None) -> dict[str, Any]:
    """Per network and budget: success rate and return across seeds, with 95% CIs."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for run in results["runs"].values():
        if budget is None or run["budget"] == budget:
            groups.setdefault((run["network"], run["budget"]), []).append(run)
    out = {}
    for (network, b), runs in sorted(groups.items()):
        out[f"{network}/budget{b}"] = {
            "network": network, "budget": b, "seeds": sorted(r["seed"] for r in runs),
            "episodes_per_seed": min(r["episodes"] for r in runs),
            "success_rate": mean_ci([r["success_rate"] for r in runs]),
            "return": mean_ci([r["return"] for r in runs]),
            "crash_rate": mean_ci([r["crash_rate"] for r in runs]),
            "train_wall_s": mean_ci([r["train_wall_s"] for r in runs]),
        }
    return out


def separated(a: dict, b: dict) -> bool:
    """Whether the two CIs do not overlap (never with one seed: no CI)."""
    if a["ci95"] is None or b["ci95"] is None:
        return False
    (lo_a, hi_a), (lo_b, hi_b) = a["ci95"], b["ci95"]
    return lo_a > hi_b or lo_b > hi_a


def _fmt(m: dict, digits: int = 2) -> str:
    if m["mean"] is None:
        return "-"
    ci = f" [{m['ci95'][0]:.{digits}f}, {m['ci95'][1]:.{digits}f}]" if m["ci95"] else " (n=1, no CI)"
    return f"{m['mean']:.{digits}f}{ci}"


def markdown(summary: dict[str, Any]) -> str:
    lines = ["| network | budget [steps] | seeds | episodes/seed | success rate [95% CI] | return [95% CI] "
             "| crash rate | train time/run [s] |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summary.values():
        lines.append(f"| {s['network']} | {s['budget']} | {len(s['seeds'])} | {s['episodes_per_seed']} "
                     f"| {_fmt(s['success_rate'])} | {_fmt(s['return'])} | {_fmt(s['crash_rate'])} "
                     f"| {_fmt(s['train_wall_s'], 0)} |")
    claims = []
    items = list(summary.values())
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            if a["budget"] != b["budget"]:
                continue
            for metric in ("success_rate", "return"):
                if separated(a[metric], b[metric]):
                    hi, lo = (a, b) if a[metric]["mean"] > b[metric]["mean"] else (b, a)
                    claims.append(f"- {metric}: {hi['network']} > {lo['network']} at {a['budget']} steps (CIs separate)")
    lines.append("")
    lines += claims or ["- no pair's 95% CIs separate: no ranking is claimed"]
    return "\n".join(lines)


# ------------------------------------------------------------------ CLI


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="intersection", choices=sorted(TASKS),
                   help="intersection: DQN on intersection-v0; highway_ppo: PPO on FastHighway judged on "
                        "highway-fast-v0 (mlp and attention)")
    p.add_argument("--networks", nargs="+", choices=NETWORKS, help="default: the task's networks")
    p.add_argument("--seeds", nargs="+", type=int, help="training seeds (default 0 1 2)")
    p.add_argument("--budget", type=int, help="env steps per run (default 40000: the paper's ~4000 episodes)")
    p.add_argument("--episodes", type=int, help="deterministic evaluation episodes per run (default 100)")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (each in its own process)")
    p.add_argument("--results", type=Path, help="default: benchmarks/results/architectures[_TASK].json")
    p.add_argument("--models-dir", type=Path,
                   help="where trained models are kept, so more evaluation episodes need no retraining")
    p.add_argument("--config-dir", type=Path, default=ROOT / "configs")
    p.add_argument("--summary", action="store_true", help="print the table of the results file and exit")
    p.add_argument("--smoke", action="store_true",
                   help="default to 300 steps, seed 0, 5 episodes, into architectures_smoke.json: proves the script runs")
    args = p.parse_args(argv)
    task = TASKS[args.task]
    args.networks = args.networks or list(task["networks"])
    unknown = [n for n in args.networks if n not in task["networks"]]
    if unknown:
        p.error(f"--networks: task {args.task} has no config for {', '.join(unknown)}; "
                f"valid: {', '.join(task['networks'])}")
    args.results = args.results or task["results"]
    args.models_dir = args.models_dir or task["models"]
    default_budget = 40_000 if args.task == "intersection" else 1_000_000
    defaults = (300, [0], 5) if args.smoke else (default_budget, [0, 1, 2], 100)
    for name, value in zip(("budget", "seeds", "episodes"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.smoke:
        if args.results == task["results"]:
            args.results = task["results"].with_name(task["results"].stem + "_smoke.json")
        if args.models_dir == task["models"]:
            args.models_dir = task["models"].with_name(task["models"].name + "_smoke")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    results = load_results(args.results)
    failed = 0
    if not args.summary:
        results.setdefault("machine", {}).update({
            "platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()})
        if args.smoke:
            results["label"] = "SMOKE RUN: proves the script works; tiny budget, not a result"
        todo = []
        # Seed-major order: a session that stops part-way leaves every network with the
        # same number of seeds, so the partial table still compares like with like.
        for seed in args.seeds:
            for network in args.networks:
                prev = results["runs"].get(run_key(network, args.budget, seed))
                if prev is None or prev["episodes"] < args.episodes:
                    todo.append((network, seed, prev))
        print(f"{len(todo)} runs to do ({args.budget} steps, {args.episodes} episodes each); results: {args.results}")
        ctx = get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=ctx) as pool:
            futures = {pool.submit(one_run, n, s, args.budget, args.episodes, str(args.config_dir),
                                   str(args.models_dir) if args.models_dir else None, prev, args.task): (n, s)
                       for n, s, prev in todo}
            for fut in as_completed(futures):
                network, seed = futures[fut]
                try:
                    record = fut.result()
                except Exception:  # report it now; the other runs go on and are saved
                    failed += 1
                    print(f"FAILED {network} seed {seed}:\n{traceback.format_exc()}", flush=True)
                    continue
                results["runs"][run_key(network, args.budget, seed)] = record
                results["summary"] = summarize(results)
                results["updated_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                save_results(args.results, results)
                print(f"done {network} seed {seed}: success {record['success_rate']:.2f}, return "
                      f"{record['return']:.2f}, train {record['train_wall_s']:.0f} s", flush=True)
    print(markdown(summarize(results, None)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
