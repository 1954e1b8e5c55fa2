"""Fidelity of FastHighway to highway-env: step parity and statistical parity.

Step parity: for each of ``--scenes`` random highway-env scenes, FastHighway imports the scene
(``state_from_highway``), both simulators apply the same random ego actions for
``--horizon`` policy steps (1 s each), and every vehicle's position and speed are compared
after each step. Reported: the distribution of the per-scene maximum errors and the share of
scenes within 0.05 m and 0.05 m/s.

Statistical parity (highway-fast-v0 configuration): ``--hw-episodes`` episodes on highway-env
and ``--fh-episodes`` on FastHighway per policy (IDLE, random, always FASTER): crash rate,
mean ego speed, return, and traffic lane-change rate (lane changes per traffic vehicle per
simulated second), each with a 95% confidence interval.

Transfer (a policy trained on FastHighway, judged on highway-env) is measured by
benchmarks/time_to_quality.py, which trains from the config itself.

    python benchmarks/parity.py --out benchmarks/results/fast_highway_parity.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from agents.runtime import prepare_process  # noqa: E402

prepare_process()  # before torch is imported (OMP_WAIT_POLICY)

import gymnasium as gym  # noqa: E402
import highway_env  # noqa: E402,F401

from agents.analysis.stats import t_half_width  # noqa: E402
from envs.fast_highway import FastHighwayCore, highway_v0_config, state_from_highway  # noqa: E402

POLICIES = {"idle": lambda rng, n: np.full(n, 1), "random": lambda rng, n: rng.integers(0, 5, n),
            "faster": lambda rng, n: np.full(n, 3), "slower": lambda rng, n: np.full(n, 4)}


# FastHighway's configuration for each highway-env env id, before a factor's override
FAST_BASE_CONFIGS = {
    "highway-fast-v0": {}, "highway-v0": highway_v0_config(),
    # laneforge's hazard envs: FastHighway with the hazard and the env's own defaults
    "laneforge/WorkZone-v1": {"hazard": "work_zone", "vehicles_count": 15, "vehicles_density": 1.0},
    "laneforge/EmergencyBraking-v0": {"hazard": "emergency_braking", "vehicles_count": 15, "vehicles_density": 0.8},
    # scenes imported only (step parity): FastHighway does not draw RandomizedHighway's scenarios
    "laneforge/RandomizedHighway-v0": {},
}


def fast_config(env_id: str, override: dict | None = None) -> dict:
    """FastHighway's configuration simulating ``env_id`` with the config ``override``."""
    if env_id not in FAST_BASE_CONFIGS:
        raise ValueError(f"no FastHighway configuration for {env_id!r}; known: {', '.join(FAST_BASE_CONFIGS)} "
                         "(add one to parity.FAST_BASE_CONFIGS)")
    return {**FAST_BASE_CONFIGS[env_id], **(override or {})}


def make_highway(env_id: str, override: dict | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make(env_id, config=dict(override or {})).unwrapped


def _run_scene(hw, core: FastHighwayCore, rng: np.random.Generator, horizon: int | None) -> dict:
    """Both simulators take the same random ego actions for ``horizon`` policy steps (None: until
    highway-env's episode ends); the largest errors and what the scene exercised."""
    err = dict.fromkeys(("position", "speed", "observation", "reward"), 0.0)
    lanes, lane_changes, steps, end_differs = core.state.lane[0, 1:].copy(), 0, 0, False
    while horizon is None or steps < horizon:
        action = int(rng.integers(5))
        hw_obs, hw_rew, hw_term, hw_trunc, _ = hw.step(action)
        rew, term, trunc, _ = core.step(np.array([action]))
        st = core.state
        n = len(hw.road.vehicles)  # (the slots after them are road.objects: cones, which never move)
        pos = np.array([v.position for v in hw.road.vehicles])
        speed = np.array([v.speed for v in hw.road.vehicles])
        err["position"] = max(err["position"], float(np.abs(pos - np.stack([st.x[0, :n], st.y[0, :n]], -1)).max()))
        err["speed"] = max(err["speed"], float(np.abs(speed - st.speed[0, :n]).max()))
        err["observation"] = max(err["observation"], float(np.abs(hw_obs - core.observe()[0]).max()))
        err["reward"] = max(err["reward"], abs(float(hw_rew) - float(rew[0])))
        lane_changes += int((st.lane[0, 1:] != lanes).sum())
        lanes = st.lane[0, 1:].copy()
        end_differs |= (bool(hw_term), bool(hw_trunc)) != (bool(term[0]), bool(trunc[0]))
        steps += 1
        if horizon is None and (hw_term or hw_trunc):
            break
    return {**err, "lane_changes": lane_changes, "steps": steps, "end_differs": end_differs,
            "ego_crashed": int(core.state.crashed[0, 0]),
            "traffic_crashed": int(core.state.crashed[0, 1:len(hw.road.vehicles)].sum())}  # (not the cones)


def step_parity(env_id: str, scenes: int, horizon: int | None, seed0: int, override: dict | None = None) -> dict:
    """Step parity on ``scenes`` highway-env scenes (``reset(seed0 + i)``) imported into FastHighway,
    for ``horizon`` policy steps each or, with ``horizon=None``, each whole episode."""
    hw = make_highway(env_id, override)
    config = fast_config(env_id, override)
    runs = []
    start = time.perf_counter()
    for scene in range(scenes):
        seed = seed0 + scene
        hw.reset(seed=seed)
        core = FastHighwayCore(1, config)
        core.set_state(state_from_highway(hw))
        runs.append(_run_scene(hw, core, np.random.default_rng(seed), horizon))
    per_scene = {k: np.array([r[k] for r in runs]) for k in runs[0]}
    pos_err, speed_err = per_scene["position"], per_scene["speed"]
    quantiles = [0.5, 0.95, 0.99, 1.0]
    steps = horizon if horizon is not None else float(per_scene["steps"].mean())
    report = {
        "env_id": env_id, "scenes": scenes, "horizon_policy_steps": horizon,
        "simulated_seconds_per_scene": steps / hw.config["policy_frequency"],
        "seconds": time.perf_counter() - start,
        "position_error_m_quantiles": dict(zip(map(str, quantiles), np.quantile(pos_err, quantiles).tolist())),
        "speed_error_mps_quantiles": dict(zip(map(str, quantiles), np.quantile(speed_err, quantiles).tolist())),
        "observation_error_max": float(per_scene["observation"].max()),
        "reward_error_max": float(per_scene["reward"].max()),
        "share_within_0.05": float(np.mean((pos_err <= 0.05) & (speed_err <= 0.05))),
        "coverage": {"scenes_with_ego_crash": int(per_scene["ego_crashed"].sum()),
                     "traffic_vehicles_crashed": int(per_scene["traffic_crashed"].sum()),
                     "traffic_lane_changes": int(per_scene["lane_changes"].sum())},
        "per_scene_position_error_m": pos_err.tolist(),
    }
    if horizon is None:  # whole episodes: how long they lasted and whether both ended alike
        report |= {"policy_steps_per_scene_mean": steps,
                   "scenes_whose_episode_end_differs": int(per_scene["end_differs"].sum()),
                   "per_scene_speed_error_mps": speed_err.tolist()}
    return report


def step_parity_line(report: dict) -> str:
    return (f"{report['scenes']} scenes, within 0.05: {report['share_within_0.05']:.3f}, "
            f"max pos err {report['position_error_m_quantiles']['1.0']:.2e} m")


def mean_ci(values) -> dict:
    """Mean and half-width of the 95% Student-t CI (``None`` for fewer than two values)."""
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "ci95": t_half_width(values), "n": int(len(values))}


def cis_overlap(a: dict, b: dict) -> bool:
    """Whether the two means lie within their CI half-widths summed (False without a CI)."""
    return a["ci95"] is not None and b["ci95"] is not None and abs(a["mean"] - b["mean"]) <= a["ci95"] + b["ci95"]


def format_ci(m: dict) -> str:
    return f"{m['mean']:.3f}±{m['ci95']:.3f}" if m["ci95"] is not None else f"{m['mean']:.3f} n=1"


def highway_episodes(policy: str, episodes: int, seed0: int, env_id: str = "highway-fast-v0",
                     override: dict | None = None) -> dict:
    hw = make_highway(env_id, override)
    rng = np.random.default_rng(seed0)
    crashes, speeds, returns, change_rates, successes = [], [], [], [], []
    for ep in range(episodes):
        hw.reset(seed=seed0 + ep)
        lanes = np.array([v.lane_index[2] for v in hw.road.vehicles[1:]])
        ep_return, ep_speeds, changes, steps = 0.0, [], 0, 0
        while True:
            _, rew, term, trunc, info = hw.step(int(POLICIES[policy](rng, 1)[0]))
            new = np.array([v.lane_index[2] for v in hw.road.vehicles[1:]])
            changes += int((new != lanes).sum())
            lanes = new
            ep_return += rew
            ep_speeds.append(info["speed"])
            steps += 1
            if term or trunc:
                break
        crashes.append(float(info["crashed"]))
        if "success" in info:
            successes.append(float(info["success"]))
        speeds.append(np.mean(ep_speeds))
        returns.append(ep_return)
        change_rates.append(changes / (len(lanes) * steps / hw.config["policy_frequency"]))
    out = {"crash_rate": mean_ci(crashes), "mean_speed": mean_ci(speeds), "return": mean_ci(returns),
           "traffic_lane_change_rate": mean_ci(change_rates)}
    if successes:
        out["success_rate"] = mean_ci(successes)
    return out


def fast_episodes(policy: str, episodes: int, seed0: int, env_id: str = "highway-fast-v0",
                  override: dict | None = None) -> dict:
    core = FastHighwayCore(episodes, fast_config(env_id, override))
    core.seed(seed0)
    core.reset_envs()
    rng = np.random.default_rng(seed0)
    running = np.ones(episodes, bool)
    ep_return, speed_sum, steps = np.zeros(episodes), np.zeros(episodes), np.zeros(episodes)
    changes, crashed, success = np.zeros(episodes), np.zeros(episodes), np.zeros(episodes)
    vehicles = core.state.present & ~core.state.static  # (fixed for the episode: no env resets here)
    lanes = core.state.lane[:, 1:].copy()
    while running.any():
        rew, term, trunc, info = core.step(POLICIES[policy](rng, episodes))
        new = core.state.lane[:, 1:]
        changes += np.where(running, ((new != lanes) & vehicles[:, 1:]).sum(1), 0)
        lanes = new.copy()
        ep_return += np.where(running, rew, 0)
        speed_sum += np.where(running, info["speed"], 0)
        steps += running
        done = running & (term | trunc)
        crashed[done] = info["crashed"][done]
        if "success" in info:
            success[done] = info["success"][done]
        running &= ~done
    n_traffic = vehicles.sum(axis=1) - 1
    out = {"crash_rate": mean_ci(crashed), "mean_speed": mean_ci(speed_sum / steps),
           "return": mean_ci(ep_return),
           "traffic_lane_change_rate": mean_ci(changes / (n_traffic * steps / core.params.policy_frequency))}
    if "success" in info:
        out["success_rate"] = mean_ci(success)
    return out


def statistical_parity(policy: str, hw_episodes: int, fh_episodes: int, seed0: int,
                       env_id: str = "highway-fast-v0", override: dict | None = None) -> dict:
    """Episode metrics of ``policy`` on highway-env and on FastHighway, and whether their CIs overlap."""
    hw = highway_episodes(policy, hw_episodes, seed0, env_id, override)
    fh = fast_episodes(policy, fh_episodes, seed0, env_id, override)
    return {"highway_env": hw, "fast_highway": fh, "cis_overlap": {k: cis_overlap(hw[k], fh[k]) for k in hw}}


def statistical_parity_line(unit: dict) -> str:
    hw, fh = unit["highway_env"], unit["fast_highway"]
    return ", ".join(f"{k} {format_ci(hw[k])} vs {format_ci(fh[k])}" for k in hw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=200, help="highway-fast-v0 step-parity scenes")
    parser.add_argument("--scenes-v0", type=int, default=20, help="highway-v0 step-parity scenes")
    parser.add_argument("--horizon", type=int, default=10, help="policy steps (1 s each) per scene")
    parser.add_argument("--hw-episodes", type=int, default=100, help="highway-env episodes per policy")
    parser.add_argument("--fh-episodes", type=int, default=2000, help="FastHighway episodes per policy")
    parser.add_argument("--policies", nargs="+", default=["idle", "random", "faster"], choices=sorted(POLICIES))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/fast_highway_parity.json")
    args = parser.parse_args(argv)
    result = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
              "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "cpu_count": os.cpu_count(), "step_parity": [], "statistical_parity": {}}
    for env_id, scenes in (("highway-fast-v0", args.scenes), ("highway-v0", args.scenes_v0)):
        if scenes:
            report = step_parity(env_id, scenes, args.horizon, seed0=1000)
            result["step_parity"].append(report)
            print(f"step parity {env_id}: {step_parity_line(report)}", flush=True)
    for policy in args.policies:
        if not args.hw_episodes:
            break
        unit = statistical_parity(policy, args.hw_episodes, args.fh_episodes, seed0=5000)
        result["statistical_parity"][policy] = unit
        print(f"statistical parity {policy}: {statistical_parity_line(unit)}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
