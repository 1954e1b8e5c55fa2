"""Does diverse data make a driving agent general? The scaling experiment of the generalist.

PPO (configs/generalist_ppo_<arch>.yaml) is trained under each *condition*, for each seed:

    mlp_fixed        the fixed highway-fast scenario (FastHighway-v0's default, no family)
    mlp_n10          the generalist family (configs/families/generalist.yaml) restricted to
    mlp_n100         N = 10, 100 or 1000 distinct scenarios (a scenario is one parameter draw;
    mlp_n1000        each seed draws its own N; traffic is drawn afresh at every reset)
    mlp_family       the continuous family (a new draw at every reset)
    attention_fixed  ego-attention, fixed scenario
    attention_family ego-attention, continuous family

Checkpoints at ``--points`` (default 1e6, 3e6, 1e7 env steps) give the volume axis. Each point
is judged on FastHighway (fast, and valid by the families issue's parity) against
  * held-out draws of the whole family (its own seed, 1,000,000, which no training seed draws:
    the targets apply here), per hazard too, and
  * the condition's own training scenarios (the fixed road, the run's own N scenarios, or
    training draws of the family): the seen side of the seen-unseen gap.
The final model of each run is then judged on highway-env itself with the generalist suite
(configs/suites/generalist.yaml: scenarios inside and outside the family; ``--hw-episodes``
per scenario) through evaluate.py, whose report lands in the run folder.

One command, rerun until it says it is done: training resumes from checkpoints (train.py's
experiments), every evaluation is written to the results JSON as soon as it finishes and is
skipped when present, and ``--max-wall-time`` stops cleanly (exit 75: run it again).

    python benchmarks/generalization.py                                # the whole grid: days on 2 cores
    python benchmarks/generalization.py --steps 1000000 --points 1000000 --seeds 0 \\
        --conditions mlp_fixed,mlp_n10,mlp_n100,mlp_n1000,mlp_family   # the reduced grid of RESULTS.md
    python benchmarks/generalization.py --markdown                     # tables from the JSON only

Outputs: ``--out`` (JSON), ``--plot`` (PNG: held-out crash rate, work-zone success, progress
and the seen-unseen crash-rate gap against N and against steps, 95% CIs) and, with
``--markdown``, the tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.runtime import prepare_process  # noqa: E402

prepare_process()  # before torch is imported (OMP_WAIT_POLICY)
os.environ.setdefault("WANDB_MODE", "disabled")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from agents.analysis.stats import t_ci  # noqa: E402
from agents.cli import Parser  # noqa: E402
from agents.evaluation.episodes import FINAL_EVAL_SEED_BASE, aggregate, model_policy, run_batch  # noqa: E402
from agents.evaluation.scenario_fit import forced_config  # noqa: E402
from agents.rundir.checkpoints import checkpoint_step, list_checkpoints, nearest_valid  # noqa: E402
from agents.rundir.loading import load_run  # noqa: E402
from envs.factory import make_batched_core  # noqa: E402
from envs.families import FamilySampler, load_family, parse_family  # noqa: E402
from envs.suites import HELD_OUT_SEED, Scenario  # noqa: E402

FAMILY = ROOT / "configs" / "families" / "generalist.yaml"
SUITE = ROOT / "configs" / "suites" / "generalist.yaml"
# condition -> (network, scenarios): None the fixed scenario, 0 the continuous family, N > 0 N draws
CONDITIONS: dict[str, tuple[str, int | None]] = {
    "mlp_fixed": ("mlp", None), "mlp_n10": ("mlp", 10), "mlp_n100": ("mlp", 100), "mlp_n1000": ("mlp", 1000),
    "mlp_family": ("mlp", 0), "attention_fixed": ("attention", None), "attention_family": ("attention", 0),
}
# where each condition sits on the N axis of the plot (the continuous family: "inf", drawn at 1e4)
N_AXIS = {None: 1, 0: 10_000}
METRICS = ("crash_rate", "success_rate", "progress", "return_per_step", "stall_rate")
HW_METRICS = (*METRICS, "return")  # highway-fast-v0's return is a target (the 3-seed mean)
TWIN_SEED = FINAL_EVAL_SEED_BASE  # the batched episodes' simulator seed (evaluation's reserved range)


# ------------------------------------------------------------------ files


def load_results(path: Path) -> dict[str, Any]:
    """The results so far (a new, empty set if ``path`` does not exist); ValueError if it is not one."""
    if not path.exists():
        return {"benchmark": "generalization", "invocations": [], "runs": {}, "twin": {}, "highway_env": {}}
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a results file ({exc}); move it away or give another --out") from None
    if not isinstance(data, dict) or data.get("benchmark") != "generalization":
        raise ValueError(f"{path}: not a generalization results file; give another --out")
    for entry in data.get("highway_env", {}).values():  # the kept report is the truth (HW_METRICS may have grown)
        report = ROOT / entry.get("report", "-")
        if report.is_file():
            entry["scenarios"] = hw_scenarios(json.loads(report.read_text()))
    return data


def save_results(path: Path, data: dict[str, Any]) -> None:
    """Whole or not at all: a temporary file beside ``path``, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def family_file(runs_dir: Path, n: int | None) -> str:
    """The family a condition trains on, as a train.py override value: null (the fixed scenario),
    the generalist family, or a copy restricted to ``n`` scenarios (written once, same content)."""
    if n is None:
        return "null"
    if n == 0:
        return str(FAMILY)
    path = runs_dir / "families" / f"generalist_n{n}.yaml"
    data = dict(yaml.safe_load(FAMILY.read_text()))
    data.update(name=f"generalist_n{n}", scenarios=n)
    text = yaml.safe_dump(data, sort_keys=False)
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(path)


def run_dir(runs_dir: Path, condition: str, seed: int) -> Path:
    folder = runs_dir / condition
    found = sorted(p for p in folder.glob(f"*__s{seed}") if p.is_dir()) if folder.is_dir() else []
    return found[0] if found else folder / f"?__s{seed}"


# ------------------------------------------------------------------ training


def train(args: argparse.Namespace, condition: str, seed: int, deadline: float | None) -> int:
    """train.py's experiment for one (condition, seed): new, resumed or skipped when finished."""
    network, n = CONDITIONS[condition]
    cmd = [sys.executable, str(ROOT / "train.py"), "--config", str(ROOT / f"configs/generalist_ppo_{network}.yaml"),
           "--seeds", str(seed), "--storage", str(args.runs_dir), "--name", condition,
           f"train.total_timesteps={args.steps}", f"env.family={family_file(args.runs_dir, n)}",
           "logging.wandb=disabled", *args.set]
    if deadline is not None:
        left = int(deadline - time.time())
        if left < 120:
            return 75
        cmd += ["--max-wall-time", str(left)]
    print(f"[train] {condition} seed {seed}: {' '.join(cmd[1:])}", flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


def checkpoint_steps(run: Path) -> list[int]:
    return sorted(checkpoint_step(p) for p in list_checkpoints(run / "checkpoints"))


# ------------------------------------------------------------------ judging on FastHighway


def judge_twin(run: Any, scenario: Scenario, episodes: int) -> tuple[dict[str, Any], list[dict]]:
    """``episodes`` episodes of ``scenario`` at once on its batched env (evaluate.py's batched
    path: run_batch with the run's observation and action forced on the scenario). Unlike
    agents.evaluation.tasks.run_task, the family is seeded with ``family_seed`` itself, not
    ``family_seed`` + the first episode's seed: the seen side must rebuild the run's own N
    scenarios from its training seed."""
    config, _ = forced_config(run.config, scenario)
    core = make_batched_core(scenario.env_id, episodes, config)
    if scenario.family is not None:
        core.set_family(FamilySampler(scenario.family, scenario.family_seed, episodes))
    seeds = list(range(TWIN_SEED, TWIN_SEED + episodes))
    results = run_batch(model_policy(run.model), core, TWIN_SEED, seeds, max_episode_steps=run.config.env.max_episode_steps)
    rows = [r.row() for r in results]
    return aggregate(rows), rows


def by_hazard(rows: list[dict]) -> dict[str, dict]:
    """The held-out metrics of the episodes of each hazard (none, work_zone, emergency_braking)."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(str((r.get("scenario") or {}).get("hazard")), []).append(r)
    return {k: {"episodes": len(v), **{m: s for m, s in aggregate(v).items() if m in METRICS}}
            for k, v in sorted(groups.items())}


def twin_point(args: argparse.Namespace, condition: str, seed: int, run_path: Path, point: int) -> dict[str, Any]:
    """Held-out and training-scenario metrics of the run's checkpoint nearest to ``point``."""
    _, n = CONDITIONS[condition]
    run = load_run(run_path, model=f"checkpoint:{point}")
    family = load_family(FAMILY)
    heldout = Scenario(name="family_heldout", split="unseen", env_id=family.env_id, env_config=dict(family.config),
                       family=family, family_seed=HELD_OUT_SEED)
    if n is None:
        seen = Scenario(name="training", split="seen", env_id=run.config.env.id, env_config={})
    else:  # the run's own family (config.yaml keeps it): its N scenarios come back from its seed
        own = parse_family(dict(run.config.env.family), source="config.yaml", default_name="family")
        seen = Scenario(name="training", split="seen", env_id=own.env_id, env_config=dict(own.config),
                        family=own, family_seed=run.config.train.seed)
    started = time.time()
    held_metrics, held_rows = judge_twin(run, heldout, args.twin_episodes)
    seen_metrics, _ = judge_twin(run, seen, args.twin_episodes)
    return {"condition": condition, "seed": seed, "point": point, "checkpoint_steps": int(run.model.num_timesteps),
            "episodes": args.twin_episodes, "heldout": {m: held_metrics[m] for m in METRICS if m in held_metrics},
            "heldout_by_hazard": by_hazard(held_rows),
            "seen": {m: seen_metrics[m] for m in METRICS if m in seen_metrics},
            "seconds": round(time.time() - started, 1),
            "finished_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


# ------------------------------------------------------------------ judging on highway-env


def judge_highway_env(args: argparse.Namespace, run_path: Path) -> dict[str, Any] | None:
    """evaluate.py with the generalist suite on the final model (model.zip of the finished run;
    evaluate.py resumes an interrupted evaluation itself); each scenario's headline, or None if
    it did not finish."""
    name = f"generalist_hw{args.hw_episodes}"
    cmd = [sys.executable, str(ROOT / "evaluate.py"), str(run_path), "--suite", str(args.suite), "--episodes",
           str(args.hw_episodes), "--no-video", "--workers", str(args.workers), "--name", name,
           "--model", "model", "--wandb", "disabled", "--no-progress"]
    print(f"[evaluate] {' '.join(cmd[1:])}", flush=True)
    if subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL).returncode != 0:
        return None
    path = run_path / "eval" / name / "report.json"
    report = json.loads(path.read_text())
    return {"report": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
            "episodes": args.hw_episodes, "checkpoint_steps": report["model"]["timesteps"],
            "scenarios": hw_scenarios(report)}


def hw_scenarios(report: dict[str, Any]) -> dict[str, dict]:
    """An evaluate.py report's finished scenarios: split, simulator and the HW_METRICS."""
    return {s["name"]: {"split": s["split"], "simulator": s.get("simulator", "highway-env"),
                        **{m: s["metrics"][m] for m in HW_METRICS if m in s["metrics"]}}
            for s in report["scenarios"] if s["status"] == "ok"}


# ------------------------------------------------------------------ aggregation


def across_seeds(values: list[float], single: dict | None = None) -> dict[str, Any]:
    """Mean over seeds with a Student-t 95% CI; with one seed, that seed's episode bootstrap CI."""
    ci = t_ci(values)
    if ci is None and single is not None:
        return {"mean": single["mean"], "ci95": single.get("ci95"), "seeds": 1}
    return {"mean": float(np.mean(values)), "ci95": None if ci is None else [float(ci[0]), float(ci[1])],
            "seeds": len(values)}


def curve(data: dict[str, Any], condition: str, point: int) -> dict[str, Any] | None:
    """One condition at one point, across its seeds: held-out crash, work-zone and braking
    success, progress, and the gap in return per step (seen - held-out)."""
    entries = [e for e in data["twin"].values() if e["condition"] == condition and e["point"] == point]
    if not entries:
        return None
    out: dict[str, Any] = {"seeds": sorted(e["seed"] for e in entries), "episodes": entries[0]["episodes"]}
    one = entries[0] if len(entries) == 1 else None
    for key, pick in {
        "crash_rate": lambda e: e["heldout"].get("crash_rate"),
        "progress": lambda e: e["heldout"].get("progress"),
        "work_zone_success": lambda e: e["heldout_by_hazard"].get("work_zone", {}).get("success_rate"),
        "braking_success": lambda e: e["heldout_by_hazard"].get("emergency_braking", {}).get("success_rate"),
        "seen_crash_rate": lambda e: e["seen"].get("crash_rate"),
    }.items():
        stats = [pick(e) for e in entries]
        if all(s is not None for s in stats):
            out[key] = across_seeds([s["mean"] for s in stats], pick(one) if one else None)
    gaps = [e["seen"]["return_per_step"]["mean"] - e["heldout"]["return_per_step"]["mean"] for e in entries]
    out["gap_return_per_step"] = across_seeds(gaps)
    crash_gaps = [e["heldout"]["crash_rate"]["mean"] - e["seen"]["crash_rate"]["mean"] for e in entries]
    out["gap_crash_rate"] = across_seeds(crash_gaps, crash_gap_ci(entries[0]) if one else None)
    return out


def highway_env_across_seeds(data: dict[str, Any], condition: str) -> tuple[list[int], dict[str, dict]]:
    """The seeds judged on highway-env for ``condition``, and per scenario the mean over them of
    each metric (Student-t CI over seeds; one seed keeps its episodes' CI)."""
    runs = {int(k.rsplit("/s", 1)[1]): e for k, e in data["highway_env"].items() if k.rsplit("/s", 1)[0] == condition}
    seeds = sorted(runs)
    table: dict[str, dict] = {}
    for e in runs.values():
        for name, s in e["scenarios"].items():
            table.setdefault(name, {"split": s.get("split", "")})
    for name, row in table.items():
        for m in HW_METRICS:
            stats = [runs[seed]["scenarios"].get(name, {}).get(m) for seed in seeds]
            if stats and all(st is not None and st.get("mean") is not None for st in stats):
                row[m] = across_seeds([st["mean"] for st in stats], stats[0] if len(stats) == 1 else None)
    return seeds, table


def crash_gap_ci(entry: dict[str, Any]) -> dict[str, Any]:
    """One seed's held-out minus seen crash rate with the normal-approximation 95% CI of a
    difference of two independent proportions (written out: two Bernoulli samples of n
    episodes each, no library call needed)."""
    n = entry["episodes"]
    p1, p0 = entry["heldout"]["crash_rate"]["mean"], entry["seen"]["crash_rate"]["mean"]
    half = 1.96 * math.sqrt(p1 * (1 - p1) / n + p0 * (1 - p0) / n)
    return {"mean": p1 - p0, "ci95": [p1 - p0 - half, p1 - p0 + half]}


def steps_text(steps: int) -> str:
    """1000000 -> 1M, 3000 -> 3k, 256 -> 256."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if steps >= size:
            return f"{steps / size:g}{unit}"
    return str(steps)


def fmt(stat: dict | None, digits: int = 3) -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    ci = stat.get("ci95")
    return f"{stat['mean']:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def markdown(data: dict[str, Any]) -> str:
    points = sorted({e["point"] for e in data["twin"].values()})
    conditions = [c for c in CONDITIONS if any(e["condition"] == c for e in data["twin"].values())]
    lines = ["| condition | steps | seeds | held-out crash rate | work-zone success | braking success | progress "
             "| seen crash rate | gap: crash rate held-out - seen | gap: return/step seen - held-out |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for c in conditions:
        for p in points:
            row = curve(data, c, p)
            if row:
                lines.append(f"| {c} | {steps_text(p)} | {len(row['seeds'])} | {fmt(row.get('crash_rate'))} | "
                             f"{fmt(row.get('work_zone_success'))} | {fmt(row.get('braking_success'))} | "
                             f"{fmt(row.get('progress'))} | {fmt(row.get('seen_crash_rate'))} | "
                             f"{fmt(row.get('gap_crash_rate'))} | {fmt(row.get('gap_return_per_step'))} |")
    if data["highway_env"]:
        names = []
        for e in data["highway_env"].values():
            names += [n for n in e["scenarios"] if n not in names]
        runs = sorted(data["highway_env"])
        lines += ["", "| scenario | split | " + " | ".join(f"{r}: crash / success / progress" for r in runs) + " |",
                  "|---|---|" + "---|" * len(runs)]
        for n in names:
            cells = []
            split = ""
            for r in runs:
                s = data["highway_env"][r]["scenarios"].get(n)
                split = split or (s or {}).get("split", "")
                cells.append("-" if s is None else " / ".join(fmt(s.get(m), 2) for m in
                                                              ("crash_rate", "success_rate", "progress")))
            lines.append(f"| {n} | {'inside' if split == 'seen' else 'outside'} | " + " | ".join(cells) + " |")
        for c in conditions_judged(data):
            seeds, table = highway_env_across_seeds(data, c)
            if len(seeds) < 2:
                continue
            lines += ["", f"{c} on highway-env, mean over seeds {', '.join(map(str, seeds))} (95% t CI over seeds):", "",
                      "| scenario | split | crash rate | success | progress | return |", "|---|---|---|---|---|---|"]
            for n, row in table.items():
                lines.append(f"| {n} | {'inside' if row['split'] == 'seen' else 'outside'} | "
                             + " | ".join(fmt(row.get(m), 2 if m != "return" else 1)
                                          for m in ("crash_rate", "success_rate", "progress", "return")) + " |")
    return "\n".join(lines)


def conditions_judged(data: dict[str, Any]) -> list[str]:
    """The conditions with highway-env judging, in CONDITIONS' order."""
    judged = {k.rsplit("/s", 1)[0] for k in data["highway_env"]}
    return [c for c in CONDITIONS if c in judged]


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("crash_rate", "held-out crash rate"), ("work_zone_success", "held-out work-zone success"),
              ("progress", "held-out progress"), ("gap_crash_rate", "gap: crash rate held-out - seen")]
    points = sorted({e["point"] for e in data["twin"].values()})
    # the N axis compares the conditions at one budget: the largest point all of them reached
    have = {(e["condition"], e["point"]) for e in data["twin"].values()}
    common = [p for p in points if all((c, p) in have for c, _ in have)]
    at = common[-1] if common else None
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 7), squeeze=False)
    for j, (key, title) in enumerate(panels):
        ax = axes[0][j]  # against N, at the common point (else the largest point each condition reached)
        for network, marker in (("mlp", "o"), ("attention", "s")):
            xs, ys, lo, hi = [], [], [], []
            for c, (net, n) in CONDITIONS.items():
                rows = [(p, curve(data, c, p)) for p in (points if at is None else [at])]
                rows = [(p, r) for p, r in rows if r and r.get(key)]
                if net != network or not rows:
                    continue
                stat = rows[-1][1][key]
                xs.append(N_AXIS.get(n, n))
                ys.append(stat["mean"])
                ci = stat.get("ci95") or [stat["mean"], stat["mean"]]
                lo.append(stat["mean"] - ci[0])
                hi.append(ci[1] - stat["mean"])
            if xs:
                ax.errorbar(xs, ys, yerr=[lo, hi], marker=marker, capsize=3, label=network)
        ax.set_xscale("log")
        ax.set_xticks([1, 10, 100, 1000, 10_000], ["fixed", "10", "100", "1000", "family"])
        ax.set_title(f"{title} at {steps_text(at)} steps" if at else f"{title} (largest point of each)", fontsize=9)
        ax.set_xlabel("training scenarios N")
        ax.legend(fontsize=7)
        ax = axes[1][j]  # against steps
        for c in CONDITIONS:
            rows = [(p, curve(data, c, p)) for p in points]
            rows = [(p, r[key]) for p, r in rows if r and r.get(key)]
            if rows:
                ps = [p for p, _ in rows]
                ms = [s["mean"] for _, s in rows]
                ax.plot(ps, ms, marker="o", label=c)
                cis = [s.get("ci95") for _, s in rows]
                if all(cis):
                    ax.fill_between(ps, [c_[0] for c_ in cis], [c_[1] for c_ in cis], alpha=0.15)
        ax.set_xscale("log")
        ax.set_xlabel("env steps")
        ax.legend(fontsize=6)
    fig.suptitle("Generalist scaling (FastHighway held-out draws of configs/families/generalist.yaml; 95% CIs)",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ command


def parse_steps(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of env steps, like 1000000 or 1e6") from None
    if not value >= 1 or value != math.floor(value):
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of env steps >= 1")
    return int(value)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = Parser(description=__doc__.splitlines()[0])  # bad input: one line, exit 2
    p.add_argument("--conditions", default=",".join(CONDITIONS),
                   help=f"comma-separated, from {', '.join(CONDITIONS)} (default all)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    p.add_argument("--steps", type=parse_steps, default=10_000_000, help="env steps per run (default 1e7)")
    p.add_argument("--points", default="1e6,3e6,1e7",
                   help="checkpoints judged on FastHighway (env steps; those above --steps are dropped)")
    p.add_argument("--twin-episodes", type=int, default=1000, help="FastHighway episodes per point and side")
    p.add_argument("--hw-episodes", type=int, default=50, help="highway-env episodes per suite scenario (0: skip)")
    p.add_argument("--suite", type=Path, default=SUITE, help="the highway-env suite of the final models")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a train.py override for every run (repeatable), e.g. train.device=cuda")
    p.add_argument("--workers", type=int, default=2, help="evaluate.py's worker processes for highway-env")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "generalization")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "generalization.json")
    p.add_argument("--plot", type=Path, default=ROOT / "benchmarks" / "results" / "generalization.png")
    p.add_argument("--max-wall-time", type=float, default=None, metavar="SECONDS",
                   help="stop cleanly before this many seconds (exit 75: run the same command again)")
    p.add_argument("--judge-only", action="store_true",
                   help="train nothing: judge the checkpoints the runs have so far on FastHighway (safe while "
                        "those runs train in another process)")
    p.add_argument("--markdown", action="store_true", help="print the tables of --out and write --plot; run nothing")
    args = p.parse_args(argv)
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown or not conditions:
        p.error(f"--conditions: unknown {unknown[0] if unknown else '(none given)'}; choose from {', '.join(CONDITIONS)}")
    args.conditions = conditions
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
        args.points = sorted({parse_steps(s) for s in args.points.split(",")})
    except (ValueError, argparse.ArgumentTypeError) as exc:
        p.error(f"--seeds/--points: {exc}")
    args.points = [x for x in args.points if x <= args.steps] or [args.steps]
    if args.twin_episodes < 1 or args.hw_episodes < 0:
        p.error("--twin-episodes must be >= 1 and --hw-episodes >= 0")
    try:  # before anything runs: a file that is not a results file is bad input, left as it is
        args.data = load_results(args.out)
    except ValueError as exc:
        p.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    data = args.data
    if args.markdown:
        print(markdown(data))
        if data["twin"]:
            plot(data, args.plot)
        return 0
    deadline = None if args.max_wall_time is None else time.time() + args.max_wall_time
    data["invocations"].append({"argv": sys.argv[1:] if argv is None else argv, "cpu_count": os.cpu_count(),
                                "load_average_at_start": list(os.getloadavg()),
                                "started_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    save_results(args.out, data)
    failed = []
    for seed in args.seeds:  # every condition of seed 0 first: a partial run still compares them
        for condition in args.conditions:
            code = None if args.judge_only else train(args, condition, seed, deadline)
            run_path = run_dir(args.runs_dir, condition, seed)
            steps = checkpoint_steps(run_path)
            for point in args.points:
                key = f"{condition}/s{seed}/{point}"
                done = data["twin"].get(key)
                if ((done and done["episodes"] == args.twin_episodes) or not steps or steps[-1] < point
                        or nearest_valid(run_path / "checkpoints", point) is None):
                    continue  # judged already, or not trained that far (or that checkpoint was not kept)
                print(f"[twin] {key}", flush=True)
                data["twin"][key] = twin_point(args, condition, seed, run_path, point)
                save_results(args.out, data)
            if code == 75:
                print("time limit: run the same command again to continue", flush=True)
                return 75
            if code is None:  # --judge-only: the checkpoints so far; highway-env judges finished runs only
                continue
            if code != 0:
                print(f"[train] {condition} seed {seed} failed (exit {code}); the others go on", flush=True)
                failed.append(f"{condition} seed {seed}")
                continue
            key = f"{condition}/s{seed}"
            done = data["highway_env"].get(key)
            if args.hw_episodes and not (done and done["episodes"] == args.hw_episodes):
                if deadline is not None and deadline - time.time() < 600:
                    print("time limit: run the same command again to continue", flush=True)
                    return 75
                result = judge_highway_env(args, run_path)
                if result is not None:
                    data["highway_env"][key] = result
                    save_results(args.out, data)
    print(markdown(data))
    plot(data, args.plot)
    print(f"results: {args.out}\nplot:    {args.plot}")
    if failed:
        print(f"failed: {', '.join(failed)} (their logs are above; fix the cause and run the same command)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
