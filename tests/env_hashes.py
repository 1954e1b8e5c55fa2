"""Fingerprints of laneforge's highway-env based envs: scenes, observations, rewards, infos.

For each env id and seed: reset, record the scene (every vehicle's class, position, heading,
speed, lane and driver parameters, every road object, the lanes, the env's own scene
attributes), then step a fixed list of actions and record observations, rewards,
terminated/truncated and infos. Each part is hashed (sha256 of canonical JSON; observations
by their bytes), so a refactor that must not change behaviour can be checked seed by seed::

    python tests/env_hashes.py --seeds 100 --out /tmp/after.json
    python tests/env_hashes.py --compare tests/data/env_hashes.json --seeds 100

``tests/test_env_hashes.py`` checks a few seeds against the committed file on every run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import envs  # registers the laneforge/ ids

ENV_IDS = ("laneforge/WorkZone-v0", "laneforge/RandomizedHighway-v0", "laneforge/EmergencyBraking-v0")
# Each env's defaults (named by its id), and variants reaching the branches defaults do not.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    **{env_id: (env_id, {}) for env_id in ENV_IDS},
    "WorkZone 4 lanes, 2 closed, ego lane set": (
        "laneforge/WorkZone-v0", {"lanes_count": 4, "closed_lanes": [1, 2], "ego_lane": 1, "vehicles_count": 25}),
    "WorkZone aggressive drivers": (
        "laneforge/WorkZone-v0", {"other_vehicles_type": "envs.drivers.AggressiveDriver", "vehicles_density": 2.0}),
    "RandomizedHighway wide ranges": (
        "laneforge/RandomizedHighway-v0", {"lanes_count_range": [1, 5], "driver_shares": {"aggressive": [0.3, 0.6]},
                                           "ego_speed_range": [20.0, 30.0], "ego_spacing": 1.0}),
    "EmergencyBraking one lane": ("laneforge/EmergencyBraking-v0", {"lanes_count": 1}),
    "EmergencyBraking dense, lane set": (
        "laneforge/EmergencyBraking-v0", {"initial_lane_id": 2, "vehicles_count": 30, "vehicles_density": 2.0}),
}
ACTIONS = (1, 3, 0, 1, 2, 4, 1, 3, 0, 2)  # DiscreteMetaAction: LEFT 0, IDLE 1, RIGHT 2, FASTER 3, SLOWER 4
EXPECTED = Path(__file__).resolve().parent / "data" / "env_hashes.json"
# Per-vehicle attributes recorded when present (instance values shadow the class's).
VEHICLE_ATTRIBUTES = (
    "position", "heading", "speed", "lane_index", "target_lane_index", "target_speed",
    "check_collisions", "collidable", "solid", "crashed", "LENGTH", "WIDTH", "enable_lane_change",
    "TIME_WANTED", "DISTANCE_WANTED", "POLITENESS", "COMFORT_ACC_MAX", "COMFORT_ACC_MIN",
    "ACC_MAX", "DELTA", "LANE_CHANGE_MIN_ACC_GAIN", "LANE_CHANGE_MAX_BRAKING_IMPOSED",
    "brake_time", "brake_decel",
)
# The envs' own scene attributes (absent ones are skipped).
ENV_ATTRIBUTES = ("zone_begin", "zone_end", "scenario")


def _plain(value: Any) -> Any:
    """JSON-ready value that keeps the difference between ints and floats."""
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def digest(value: Any) -> str:
    text = json.dumps(_plain(value), sort_keys=True, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _vehicle(v: Any) -> dict[str, Any]:
    cls = type(v)
    record = {"class": f"{cls.__module__}.{cls.__qualname__}"}
    record.update({name: getattr(v, name) for name in VEHICLE_ATTRIBUTES if hasattr(v, name)})
    return record


def scene(env: Any) -> dict[str, Any]:
    """The scene right after ``reset``: vehicles, objects, lanes and the env's own attributes."""
    road = env.road
    lanes = road.network.lanes_list()
    return {
        "vehicles": [_vehicle(v) for v in road.vehicles],
        "objects": [_vehicle(o) for o in road.objects],
        "ego": road.vehicles.index(env.vehicle),
        "lanes": [(lane.start.tolist(), lane.end.tolist(), float(lane.speed_limit)) for lane in lanes],
        "env": {name: getattr(env, name) for name in ENV_ATTRIBUTES if hasattr(env, name)},
    }


def _step_record(obs: np.ndarray, reward: Any, terminated: Any, truncated: Any, info: dict) -> list:
    obs_hash = hashlib.sha256(np.ascontiguousarray(obs).tobytes()).hexdigest()[:16]
    return [obs_hash, str(obs.dtype), list(obs.shape), reward, type(reward).__name__,
            terminated, truncated, info]


def _make(case: str) -> Any:
    env_id, config = CASES[case]
    return gym.make(env_id, config=config).unwrapped


def fingerprint(case: str, seed: int) -> dict[str, str]:
    """Hashes of one case's episode start for ``seed``: scene, reset output, steps."""
    env = _make(case)
    obs, info = env.reset(seed=seed)
    info.pop("action")  # highway-env samples it unseeded from the action space
    parts = {"scene": digest(scene(env)), "reset": digest(_step_record(obs, 0.0, False, False, info))}
    steps = []
    for action in ACTIONS:
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append(_step_record(obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    parts["steps"] = digest(steps)
    env.close()
    return parts


def config_hashes(case: str) -> dict[str, str]:
    """The env class's ``default_config()`` and the config the case's env runs with."""
    env = _make(case)
    return {"default_config": digest(env.default_config()), "config": digest(env.config)}


def collect(seeds: range, cases: Iterable[str] = CASES) -> dict[str, Any]:
    return {case: {**config_hashes(case), "seeds": {str(s): fingerprint(case, s) for s in seeds}}
            for case in cases}


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Lines naming every case, seed and part whose hash differs (empty when all agree)."""
    diffs = []
    for case, got in actual.items():
        want = expected[case]
        diffs += [f"{case}: {key} differs" for key in ("default_config", "config") if got[key] != want[key]]
        for seed, parts in got["seeds"].items():
            diffs += [f"{case} seed {seed}: {part} differs"
                      for part, h in parts.items() if want["seeds"][seed][part] != h]
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100, help="seeds 0..N-1 (default 100)")
    parser.add_argument("--out", type=Path, help="write the hashes to this JSON file")
    parser.add_argument("--compare", type=Path, help="compare with this JSON file; exit 1 on a difference")
    args = parser.parse_args(argv)
    print(f"envs from {Path(envs.__file__).parent}", file=sys.stderr)
    actual = collect(range(args.seeds))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    if args.compare:
        diffs = compare(json.loads(args.compare.read_text()), actual)
        print("\n".join(diffs) or f"identical: {len(actual)} cases x {args.seeds} seeds")
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
