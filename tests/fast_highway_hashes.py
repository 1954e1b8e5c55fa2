"""Fingerprints of FastHighway's behaviour: a seeded vector-env rollout (observations, rewards,
terminated/truncated, infos, autoresets included) hashed per case, so that a change which must
not alter FastHighway-v0's default (or another frozen case) is checked bit for bit::

    python tests/fast_highway_hashes.py --out /tmp/after.json
    python tests/fast_highway_hashes.py --compare tests/data/fast_highway_hashes.json

``tests/test_env_hashes.py`` checks the committed file on every run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from envs.fast_highway import FastHighwayVectorEnv, highway_v0_config  # noqa: E402

EXPECTED = Path(__file__).resolve().parent / "data" / "fast_highway_hashes.json"
# name -> (num_envs, config, per-env configs for reset options or None, steps)
CASES: dict[str, tuple[int, dict[str, Any], list | None, int]] = {
    "FastHighway-v0 default": (64, {}, None, 40),
    "highway-v0 configuration": (8, {**highway_v0_config(), "vehicles_count": 30}, None, 12),
    "per-env density, spacing, lane, duration": (
        8, {"vehicles_count": 12},
        [{"vehicles_density": 0.5 + 0.25 * b, "ego_spacing": 1 + b % 2, "initial_lane_id": b % 3 or None,
          "duration": 10 + 5 * b} for b in range(8)], 40),
    "per-env lanes, vehicles and drivers": (
        8, {"vehicles_count": 12, "traffic_collisions": True},
        [{"lanes_count": 2 + b % 5, "vehicles_count": 4 + 3 * b,
          "driver_mix": {"normal": 1, "aggressive": b % 3, "defensive": b % 2}} for b in range(8)], 40),
    "per-env hazards: work zones and braking leaders": (
        6, {"vehicles_count": 15},
        [{}, {"hazard": "work_zone"}, {"hazard": "emergency_braking"},
         {"hazard": "work_zone", "lanes_count": 4, "closed_lanes": [1, 2], "ego_lane": 0},
         {"hazard": "emergency_braking", "lanes_count": 2, "vehicles_density": 1.5}, {"lanes_count": 2}], 40),
    "per-env driver ranges": (
        4, {"vehicles_count": 15},
        [{"driver_ranges": {"politeness": [0.0, 0.5], "time_headway": [0.8, 2.0], "desired_speed": [22, 34],
                            "comfort_acc_max": [2.0, 7.0], "delta": [2.0, 6.0]}},
         {}, {"driver_ranges": {"lane_change_min_acc_gain": [0.0, 0.5]}, "other_vehicles_type": "idm_aggressive"},
         {"hazard": "work_zone", "driver_ranges": {"comfort_decel": [3.0, 8.0]}}], 40),
}


def _update(h: Any, value: Any) -> None:
    if isinstance(value, dict):
        for key in sorted(value):
            h.update(key.encode())
            _update(h, value[key])
    else:
        array = np.ascontiguousarray(np.asarray(value))
        h.update(str(array.dtype).encode() + str(array.shape).encode())
        h.update(array.tobytes() if array.dtype != object else repr(array.tolist()).encode())


def fingerprint(num_envs: int, config: dict, per_env: list | None, steps: int, seed: int = 0) -> str:
    venv = FastHighwayVectorEnv(num_envs, config)
    h = hashlib.sha256()
    obs, info = venv.reset(seed=seed, options=None if per_env is None else {"config": per_env})
    _update(h, {"obs": obs, "info": info})
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        obs, rew, term, trunc, info = venv.step(rng.integers(0, 5, num_envs))
        _update(h, {"obs": obs, "rew": rew, "term": term, "trunc": trunc, "info": info})
    return h.hexdigest()


def fingerprints() -> dict[str, str]:
    return {name: fingerprint(*case) for name, case in CASES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args(argv)
    found = fingerprints()
    if args.out:
        args.out.write_text(json.dumps(found, indent=2) + "\n")
    if args.compare:
        expected = json.loads(args.compare.read_text())
        differ = [name for name in expected if found.get(name) != expected[name]]
        print("\n".join(f"DIFFERS: {name}" for name in differ) or "all cases unchanged")
        return 1 if differ else 0
    print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
