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


def make_highway(env_id: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make(env_id).unwrapped


def step_parity(env_id: str, scenes: int, horizon: int, seed0: int) -> dict:
    config = {} if env_id == "highway-fast-v0" else highway_v0_config()
    hw = make_highway(env_id)
    pos_err, speed_err, obs_err, rew_err = [], [], [], []
    ego_crashes = traffic_crashes = lane_changes = 0
    start = time.perf_counter()
    for scene in range(scenes):
        seed = seed0 + scene
        hw.reset(seed=seed)
        core = FastHighwayCore(1, config)
        core.set_state(state_from_highway(hw))
        rng = np.random.default_rng(seed)
        p = s = o = r = 0.0
        lanes = core.state.lane[0, 1:].copy()
        for _ in range(horizon):
            action = int(rng.integers(5))
            hw_obs, hw_rew, *_ = hw.step(action)
            rew, *_ = core.step(np.array([action]))
            st = core.state
            pos = np.array([v.position for v in hw.road.vehicles])
            p = max(p, float(np.abs(pos - np.stack([st.x[0], st.y[0]], -1)).max()))
            s = max(s, float(np.abs(np.array([v.speed for v in hw.road.vehicles]) - st.speed[0]).max()))
            o = max(o, float(np.abs(hw_obs - core.observe()[0]).max()))
            r = max(r, abs(float(hw_rew) - float(rew[0])))
            lane_changes += int((st.lane[0, 1:] != lanes).sum())
            lanes = st.lane[0, 1:].copy()
        ego_crashes += int(core.state.crashed[0, 0])
        traffic_crashes += int(core.state.crashed[0, 1:].sum())
        pos_err.append(p), speed_err.append(s), obs_err.append(o), rew_err.append(r)
    pos_err, speed_err = np.array(pos_err), np.array(speed_err)
    quantiles = [0.5, 0.95, 0.99, 1.0]
    return {
        "env_id": env_id, "scenes": scenes, "horizon_policy_steps": horizon,
        "simulated_seconds_per_scene": horizon / hw.config["policy_frequency"],
        "seconds": time.perf_counter() - start,
        "position_error_m_quantiles": dict(zip(map(str, quantiles), np.quantile(pos_err, quantiles).tolist())),
        "speed_error_mps_quantiles": dict(zip(map(str, quantiles), np.quantile(speed_err, quantiles).tolist())),
        "observation_error_max": float(max(obs_err)), "reward_error_max": float(max(rew_err)),
        "share_within_0.05": float(np.mean((pos_err <= 0.05) & (speed_err <= 0.05))),
        "coverage": {"scenes_with_ego_crash": ego_crashes, "traffic_vehicles_crashed": traffic_crashes,
                     "traffic_lane_changes": lane_changes},
        "per_scene_position_error_m": pos_err.tolist(),
    }


def _mean_ci(values) -> dict:
    """Mean and half-width of the 95% Student-t CI (``None`` for fewer than two values)."""
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "ci95": t_half_width(values), "n": int(len(values))}


def _overlap(a: dict, b: dict) -> bool:
    """Whether the two means lie within their CI half-widths summed (False without a CI)."""
    return a["ci95"] is not None and b["ci95"] is not None and abs(a["mean"] - b["mean"]) <= a["ci95"] + b["ci95"]


def _pm(m: dict) -> str:
    return f"{m['mean']:.3f}±{m['ci95']:.3f}" if m["ci95"] is not None else f"{m['mean']:.3f} n=1"


def highway_episodes(policy: str, episodes: int, seed0: int) -> dict:
    hw = make_highway("highway-fast-v0")
    rng = np.random.default_rng(seed0)
    crashes, speeds, returns, change_rates = [], [], [], []
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
        speeds.append(np.mean(ep_speeds))
        returns.append(ep_return)
        change_rates.append(changes / (len(lanes) * steps / hw.config["policy_frequency"]))
    return {"crash_rate": _mean_ci(crashes), "mean_speed": _mean_ci(speeds), "return": _mean_ci(returns),
            "traffic_lane_change_rate": _mean_ci(change_rates)}


def fast_episodes(policy: str, episodes: int, seed0: int) -> dict:
    core = FastHighwayCore(episodes, {})
    core.seed(seed0)
    core.reset_envs()
    rng = np.random.default_rng(seed0)
    running = np.ones(episodes, bool)
    ep_return, speed_sum, steps = np.zeros(episodes), np.zeros(episodes), np.zeros(episodes)
    changes, crashed = np.zeros(episodes), np.zeros(episodes)
    lanes = core.state.lane[:, 1:].copy()
    while running.any():
        rew, term, trunc, info = core.step(POLICIES[policy](rng, episodes))
        new = core.state.lane[:, 1:]
        changes += np.where(running, (new != lanes).sum(1), 0)
        lanes = new.copy()
        ep_return += np.where(running, rew, 0)
        speed_sum += np.where(running, info["speed"], 0)
        steps += running
        done = running & (term | trunc)
        crashed[done] = info["crashed"][done]
        running &= ~done
    n_traffic = core.params.vehicles - 1
    return {"crash_rate": _mean_ci(crashed), "mean_speed": _mean_ci(speed_sum / steps),
            "return": _mean_ci(ep_return),
            "traffic_lane_change_rate": _mean_ci(changes / (n_traffic * steps / core.params.policy_frequency))}


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
            print(f"step parity {env_id}: {scenes} scenes, within 0.05: {report['share_within_0.05']:.3f}, "
                  f"max pos err {report['position_error_m_quantiles']['1.0']:.2e} m", flush=True)
    for policy in args.policies:
        if not args.hw_episodes:
            break
        hw = highway_episodes(policy, args.hw_episodes, seed0=5000)
        fh = fast_episodes(policy, args.fh_episodes, seed0=5000)
        agree = {k: _overlap(hw[k], fh[k]) for k in hw}
        result["statistical_parity"][policy] = {"highway_env": hw, "fast_highway": fh, "cis_overlap": agree}
        print(f"statistical parity {policy}: " + ", ".join(
            f"{k} {_pm(hw[k])} vs {_pm(fh[k])}"
            for k in hw), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
