"""Fidelity of FastHighway to highway-env one scenario factor at a time (resumable).

Each factor of :data:`FACTORS` is a config override of one highway-env env id, given alike to
highway-env (``gym.make(env_id, config=override)``) and to FastHighway (its configuration for
that env id, see ``parity.FAST_BASE_CONFIGS``, updated with the override). Per factor:

- step parity (benchmarks/parity.py's ``step_parity``): ``--scenes`` highway-env scenes
  (``reset(seed)``) imported into FastHighway, both driven by the same seeded random ego actions
  for the whole episode (or the factor's horizon): the share of scenes whose largest position
  error is <= 0.05 m and speed error <= 0.05 m/s (target >= 95%), error quantiles, observation
  and reward errors, whether both episodes ended alike, and what the scenes exercised;
- statistical parity (parity.py's ``statistical_parity``), per policy (random, IDLE):
  ``--hw-episodes`` highway-env episodes against ``--fh-episodes`` FastHighway episodes, each
  metric with its 95% CI and whether the CIs overlap.

A unit is one (factor, part, policy). The results file is rewritten atomically after each unit;
a rerun skips the finished units (their settings must match: else exit 2, nothing written) and
ends with a markdown summary of all of them. Step parity of every factor runs first.

    python benchmarks/factor_parity.py --out benchmarks/results/factor_parity.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity import (  # noqa: E402  (parity.py puts the repository root on sys.path and prepares the process)
    ROOT, fast_config, format_ci, statistical_parity, statistical_parity_line, step_parity, step_parity_line,
)
from time_to_quality import positive_int  # noqa: E402

from agents.errors import Interrupted  # noqa: E402
from agents.runtime import install_interrupt_handlers  # noqa: E402
from envs.fast_highway import FastHighwayEnv  # noqa: E402


@dataclass(frozen=True)
class Factor:
    """One scenario factor: a config override of a highway-env env id (FastHighway gets the same)."""

    env_id: str
    override: dict = field(default_factory=dict)
    horizon: int | None = None  # policy steps per step-parity scene; None: the whole episode
    max_scenes: int | None = None  # at most this many step-parity scenes (highway-env is slow there)
    statistical: bool = True  # whether the statistical part runs


# Append new factors here (driver profiles, laneforge's scenarios, ...): name -> Factor.
FACTORS: dict[str, Factor] = {
    "lanes_2": Factor("highway-fast-v0", {"lanes_count": 2}),
    "lanes_4": Factor("highway-fast-v0", {"lanes_count": 4}),
    "lanes_5": Factor("highway-fast-v0", {"lanes_count": 5}),
    "density_0.5": Factor("highway-fast-v0", {"vehicles_density": 0.5}),
    "density_2.5": Factor("highway-fast-v0", {"vehicles_density": 2.5}),
    # highway-v0 steps at ~3/s on highway-env: few scenes, 10 policy steps, no statistics
    "v0_lanes_2": Factor("highway-v0", {"lanes_count": 2}, horizon=10, max_scenes=20, statistical=False),
    "v0_lanes_4": Factor("highway-v0", {"lanes_count": 4}, horizon=10, max_scenes=20, statistical=False),
    "v0_lanes_5": Factor("highway-v0", {"lanes_count": 5}, horizon=10, max_scenes=20, statistical=False),
    # driver profiles: all the traffic as one of laneforge's driver classes (highway-env's pattern)
    "drivers_aggressive": Factor("highway-fast-v0", {"other_vehicles_type": "envs.drivers.AggressiveDriver"}),
    "drivers_defensive": Factor("highway-fast-v0", {"other_vehicles_type": "envs.drivers.DefensiveDriver"}),
    # laneforge's envs: the two hazards, and RandomizedHighway's scenes (imported: step parity only)
    "work_zone": Factor("laneforge/WorkZone-v1"),
    "emergency_braking": Factor("laneforge/EmergencyBraking-v0"),
    "randomized_highway": Factor("laneforge/RandomizedHighway-v0", statistical=False),
}
STATISTICAL_POLICIES = ("random", "idle")
STEP_SEED0, EPISODE_SEED0 = 1000, 5000  # parity.py's seeds
TARGET_SHARE = 0.95  # of step-parity scenes within 0.05 m and 0.05 m/s


def plan(names: list[str], args: argparse.Namespace) -> list[tuple[str, dict]]:
    """(key, settings) of every unit of factors ``names``: all step parity first, then statistics."""
    units = []
    for name in names:
        f = FACTORS[name]
        scenes = min(args.scenes, f.max_scenes or args.scenes)
        units.append((f"{name}/step", {"part": "step", "env_id": f.env_id, "override": f.override,
                                       "scenes": scenes, "horizon": f.horizon, "seed0": STEP_SEED0}))
    for name in names:
        f = FACTORS[name]
        units += [(f"{name}/statistical/{policy}",
                   {"part": "statistical", "env_id": f.env_id, "override": f.override, "policy": policy,
                    "hw_episodes": args.hw_episodes, "fh_episodes": args.fh_episodes, "seed0": EPISODE_SEED0})
                  for policy in STATISTICAL_POLICIES if f.statistical]
    return [(key, json.loads(json.dumps(settings))) for key, settings in units]  # as the file holds them


def _run_step(s: dict) -> dict:
    report = step_parity(s["env_id"], s["scenes"], s["horizon"], s["seed0"], s["override"])
    return {**report, "meets_target": report["share_within_0.05"] >= TARGET_SHARE}


def _run_statistical(s: dict) -> dict:
    return statistical_parity(s["policy"], s["hw_episodes"], s["fh_episodes"], s["seed0"], s["env_id"],
                              s["override"])


PARTS: dict[str, tuple[Callable[[dict], dict], Callable[[dict], str]]] = {
    "step": (_run_step, lambda r: step_parity_line(r) + ("" if r["meets_target"] else " BELOW TARGET")),
    "statistical": (_run_statistical, statistical_parity_line),
}


def git_state() -> dict:
    """The commit and the uncommitted changes the code ran with (the simulator may be mid-edit)."""
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    diff = git("diff", "HEAD")
    return {"commit": git("rev-parse", "HEAD").strip() or None,
            "modified": git("status", "--porcelain", "--untracked-files=no").split("\n")[:-1],
            "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None}


def load(path: Path) -> dict:
    if not path.exists():
        return {"invocations": [], "units": {}}
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a results file ({exc}); move it away or give another --out") from None
    if not isinstance(result, dict) or not {"invocations", "units"} <= set(result):
        raise ValueError(f"{path}: not a factor_parity results file; give another --out")
    return result


def save(result: dict, path: Path) -> None:
    """Write ``result`` whole or not at all: a temporary file beside ``path``, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(result, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def check_finished(result: dict, units: list[tuple[str, dict]], path: Path) -> None:
    for key, settings in units:
        done = result["units"].get(key)
        if done is not None and done["settings"] != settings:
            raise ValueError(f"{path}: unit {key} was run with {done['settings']}, now asked for {settings}; "
                                   "rerun with the same settings to resume, or give another --out")


def run_unit(settings: dict, invocation: int) -> dict:
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    load_average = list(os.getloadavg())
    start = time.perf_counter()
    result = PARTS[settings["part"]][0](settings)
    return {"settings": settings, "invocation": invocation, "started_utc": started,
            "load_average_at_start": load_average, "seconds": time.perf_counter() - start, "result": result}


def markdown(result: dict) -> str:
    """The finished units as two markdown tables (step parity; statistical parity)."""
    lines = ["| factor | env | scenes | horizon | pos err median / 95% / max [m] | speed err max [m/s] "
             "| obs / reward err max | within 0.05 | ends differ | ego crashes | traffic crashes | lane changes |",
             "|" + "---|" * 12]
    for key, unit in result["units"].items():
        r = unit["result"]
        if unit["settings"]["part"] != "step":
            continue
        q, c = r["position_error_m_quantiles"], r["coverage"]
        lines.append(
            f"| {key.split('/')[0]} | {r['env_id']} | {r['scenes']} | {r['horizon_policy_steps'] or 'episode'} "
            f"| {q['0.5']:.1e} / {q['0.95']:.1e} / {q['1.0']:.1e} | {r['speed_error_mps_quantiles']['1.0']:.1e} "
            f"| {r['observation_error_max']:.1e} / {r['reward_error_max']:.1e} | {r['share_within_0.05']:.1%} "
            f"| {r.get('scenes_whose_episode_end_differs', '-')} | {c['scenes_with_ego_crash']} "
            f"| {c['traffic_vehicles_crashed']} | {c['traffic_lane_changes']} |")
    lines += ["", "| factor | policy | metric | highway-env | FastHighway | CIs overlap |", "|" + "---|" * 6]
    for key, unit in result["units"].items():
        if unit["settings"]["part"] != "statistical":
            continue
        r = unit["result"]
        for metric, agree in r["cis_overlap"].items():
            lines.append(f"| {key.split('/')[0]} | {unit['settings']['policy']} | {metric} "
                         f"| {format_ci(r['highway_env'][metric])} | {format_ci(r['fast_highway'][metric])} "
                         f"| {'yes' if agree else '**no**'} |")
    return "\n".join(lines)


def prepare(args: argparse.Namespace) -> tuple[dict, list[tuple[str, dict]]]:
    """The results so far and the units asked for; ValueError (exit 2) before anything runs if a
    factor's configuration cannot be simulated or a finished unit was run with other settings."""
    for name in args.factors:
        FastHighwayEnv.check_config(fast_config(FACTORS[name].env_id, FACTORS[name].override))
    result = load(args.out)
    units = plan(args.factors, args)
    check_finished(result, units, args.out)
    return result, units


def run(args: argparse.Namespace, result: dict, units: list[tuple[str, dict]]) -> None:
    result["invocations"].append({
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(), "git": git_state()})
    invocation = len(result["invocations"]) - 1
    for n, (key, settings) in enumerate(units, 1):
        if key in result["units"]:
            print(f"[{n}/{len(units)}] {key}: done before, skipped", flush=True)
            continue
        unit = run_unit(settings, invocation)
        result["units"][key] = unit
        save(result, args.out)
        print(f"[{n}/{len(units)}] {key}: {PARTS[settings['part']][1](unit['result'])} "
              f"({unit['seconds']:.0f} s, load {unit['load_average_at_start'][0]:.2f})", flush=True)
    save(result, args.out)
    print(markdown(result))
    print(f"wrote {args.out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--factors", nargs="+", default=list(FACTORS), choices=list(FACTORS), metavar="FACTOR",
                        help=f"factors to run (default all): {', '.join(FACTORS)}")
    parser.add_argument("--scenes", type=positive_int, default=200, help="step-parity scenes per factor")
    parser.add_argument("--hw-episodes", type=positive_int, default=500, help="highway-env episodes per policy")
    parser.add_argument("--fh-episodes", type=positive_int, default=5000, help="FastHighway episodes per policy")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/factor_parity.json")
    args = parser.parse_args(argv)
    try:
        result, units = prepare(args)
    except ValueError as exc:
        print(f"factor_parity: {exc}", file=sys.stderr)
        return 2
    restore_signals = install_interrupt_handlers()
    try:
        run(args, result, units)
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"interrupted; the finished units are in {args.out}", file=sys.stderr)
        return getattr(exc, "code", 130)
    finally:
        restore_signals()
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
