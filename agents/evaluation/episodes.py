"""Deterministic rollouts, episode metrics, videos and the evaluation report.

The same :func:`run_episode` serves the periodic evaluation during training and
``evaluate.py``. Evaluation seeds come from ranges reserved for it (training seeds are
below ``MAX_TRAIN_SEED``), so no evaluation episode repeats a training scenario.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from agents.analysis.stats import N_RESAMPLES, difference_ci, estimate, finite, strata_mean, stratified_ci, summarize
from agents.config import MAX_TRAIN_SEED
from agents.fileio import atomic_write_text

# Seeds reserved for evaluation: during training, and for evaluate.py.
TRAIN_EVAL_SEED_BASE = MAX_TRAIN_SEED
FINAL_EVAL_SEED_BASE = 2 * MAX_TRAIN_SEED

# Per-episode row key -> aggregate metric name.
METRICS = {
    "return": "return",
    "return_per_step": "return_per_step",  # normalized return: comparable across scenarios
    "length": "length",  # [policy steps]
    "crashed": "crash_rate",
    "success": "success_rate",
    "mean_speed": "mean_speed",  # [m/s]
    "distance": "distance",  # [m]
    "lane_changes_per_km": "lane_changes_per_km",
}


@dataclass
class EpisodeResult:
    seed: int
    return_: float = 0.0
    length: int = 0
    crashed: bool = False
    success: float | None = None  # None where the env does not define success
    mean_speed: float = float("nan")  # [m/s]
    distance: float = float("nan")  # [m]
    lane_changes: int = 0
    reward_terms: dict[str, float] = field(default_factory=dict)  # summed over the episode
    trajectory: dict[str, list] | None = None  # per-step data when recorded (--save-rollouts)

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("trajectory")
        d["return"] = d.pop("return_")
        d["return_per_step"] = self.return_ / max(self.length, 1)
        km = self.distance / 1000 if np.isfinite(self.distance) else float("nan")
        d["lane_changes_per_km"] = self.lane_changes / km if km and km > 0 else float("nan")
        d["crashed"] = float(self.crashed)
        return d


Policy = Callable[[Any], Any]


def model_policy(model: Any) -> Policy:
    """Deterministic actions; observations with another row count than in training (an
    attention network seeing more vehicles) go through the tensors path, which SB3's
    ``predict`` refuses."""
    from agents.models.inference import predict_any_rows

    shape = model.observation_space.shape

    def act(obs: Any) -> Any:
        if np.shape(obs) == shape:
            return model.predict(obs, deterministic=True)[0]
        return predict_any_rows(model, obs, deterministic=True)

    return act


def _ego(env: gym.Env):
    return getattr(env.unwrapped, "vehicle", None)


def run_episode(policy: Policy, env: gym.Env, seed: int, record: bool = False) -> EpisodeResult:
    """One episode from ``env.reset(seed=seed)``; metrics read from ``info`` and the ego vehicle.
    With ``record`` the per-step observations, actions, rewards and ego state are kept."""
    obs, info = env.reset(seed=seed)
    result = EpisodeResult(seed=seed)
    traj: dict[str, list] | None = (
        {"observations": [], "actions": [], "rewards": [], "ego_x": [], "ego_y": [], "ego_speed": []}
        if record else None)
    ego = _ego(env)
    speeds: list[float] = []
    distance = 0.0
    last_pos = np.array(ego.position, dtype=float) if ego is not None else None
    last_lane = ego.lane_index[2] if ego is not None and ego.lane_index else None
    done = False
    while not done:
        action = policy(obs)
        if traj is not None:
            traj["observations"].append(np.asarray(obs, dtype=np.float32))
            traj["actions"].append(np.asarray(action))
        obs, reward, terminated, truncated, info = env.step(action)
        done = bool(terminated or truncated)
        result.return_ += float(reward)
        result.length += 1
        result.crashed = result.crashed or bool(info.get("crashed", False))
        if "success" in info:
            result.success = float(bool(info["success"]))
        for name, value in (info.get("rewards") or {}).items():
            result.reward_terms[name] = result.reward_terms.get(name, 0.0) + float(value)
        ego = _ego(env)
        if ego is not None:
            speeds.append(float(info.get("speed", ego.speed)))
            pos = np.array(ego.position, dtype=float)
            distance += float(np.linalg.norm(pos - last_pos))
            last_pos = pos
            lane = ego.lane_index[2] if ego.lane_index else None
            if last_lane is not None and lane is not None and lane != last_lane:
                result.lane_changes += 1
            last_lane = lane
        if traj is not None:
            traj["rewards"].append(float(reward))
            traj["ego_x"].append(float(ego.position[0]) if ego is not None else np.nan)
            traj["ego_y"].append(float(ego.position[1]) if ego is not None else np.nan)
            traj["ego_speed"].append(float(ego.speed) if ego is not None else np.nan)
    result.trajectory = traj
    if speeds:
        result.mean_speed = float(np.mean(speeds))
        result.distance = distance
    return result


def aggregate(rows: list[dict[str, Any]]) -> dict[str, dict]:
    """Each metric -> ``{"mean", "std", "ci95", "n"}`` (95% percentile-bootstrap CI of the mean,
    ``None`` with fewer than two episodes)."""
    out = {}
    for key, name in METRICS.items():
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            out[name] = summarize([float(v) for v in values])
    return out


def video_fps(env: gym.Env, speed: float = 1.0) -> float:
    """Frames per second that play ``env``'s recorded frames at ``speed`` x real time.

    highway-env captures every simulation frame (:func:`record_videos`), so real time is its
    ``simulation_frequency``; its own convention (``video_real_time_ratio``) is 2x. Other envs
    render once a step at their ``render_fps``.
    """
    config = getattr(env.unwrapped, "config", None) or {}
    if hasattr(env.unwrapped, "set_record_video_wrapper") and "simulation_frequency" in config:
        return float(config["simulation_frequency"]) * speed
    return float(env.metadata.get("render_fps") or 30) * speed


def record_videos(env: gym.Env, folder: Path, prefix: str, n_videos: int, first: int = 0,
                  speed: float = 1.0) -> gym.Env:
    """Wrap ``env`` to record its next ``n_videos`` episodes as ``<prefix>-episode-<i>.mp4``,
    ``i`` counting from ``first``, with all simulation frames, at ``speed`` x real time."""
    video_env = gym.wrappers.RecordVideo(
        env, str(folder), episode_trigger=lambda i: first <= i < first + n_videos, name_prefix=prefix,
        disable_logger=True,
    )
    video_env.episode_id = first - 1  # the wrapper counts episodes from -1 and names videos by the count
    if hasattr(env.unwrapped, "set_record_video_wrapper"):
        env.unwrapped.set_record_video_wrapper(video_env)  # capture intermediate frames (sets its own fps)
    video_env.frames_per_sec = video_fps(env, speed)
    return video_env


def _finite(x: Any) -> Any:
    """JSON has no NaN: write None instead."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def scenario_entry(name: str, split: str, env_id: str, env_config: dict, rows: list[dict],
                   videos: list[str], status: str = "ok", reason: str | None = None,
                   forced: dict | None = None) -> dict[str, Any]:
    entry = {
        "name": name,
        "split": split,
        "env_id": env_id,
        "env_config": env_config,
        "status": status,
        "episodes": len(rows),
        "metrics": aggregate(rows) if rows else {},
        "videos": videos,
        "per_episode": rows,
    }
    if reason:
        entry["reason"] = reason
    if forced:
        entry["forced"] = forced
    return entry


# Metrics comparable across scenarios (returns are not: lengths and reward scales differ).
COMPARABLE = {"return_per_step": "return_per_step", "crash_rate": "crashed", "success_rate": "success",
              "mean_speed": "mean_speed"}


def _split_values(scenarios: list[dict], split: str, key: str) -> list[np.ndarray]:
    """Each evaluated scenario's finite per-episode values of ``key`` in ``split``."""
    groups = [finite([r.get(key) for r in s["per_episode"]]) for s in scenarios
              if s["split"] == split and s["status"] == "ok"]
    return [g for g in groups if g.size]


def summary(scenarios: list[dict], n_resamples: int = N_RESAMPLES) -> dict[str, Any]:
    """Seen vs unseen: each split's mean over its scenarios of each scenario's mean of the
    comparable metrics, and the gap (seen - unseen), all with 95% percentile-bootstrap CIs
    (episodes resampled within scenarios; seen with seed 0, unseen with seed 1, the gap from
    the same draws). ``ci95`` is ``None`` where no scenario has two episodes."""
    out: dict[str, Any] = {"seen": {}, "unseen": {}, "gap": {}}
    for metric, key in COMPARABLE.items():
        strata = {split: _split_values(scenarios, split, key) for split in ("seen", "unseen")}
        for seed, (split, groups) in enumerate(strata.items()):
            if groups:
                out[split][metric] = {"mean": estimate(groups, strata_mean),
                                      "ci95": stratified_ci(groups, strata_mean, n_resamples=n_resamples, seed=seed),
                                      "scenarios": len(groups)}
        if strata["seen"] and strata["unseen"]:
            out["gap"][metric] = {"mean": out["seen"][metric]["mean"] - out["unseen"][metric]["mean"],
                                  "ci95": difference_ci(strata["seen"], strata["unseen"], strata_mean,
                                                        n_resamples=n_resamples)}
    return out


def write_report(out_dir: Path, run_dir: Path, suite: str, model_info: dict, scenarios: list[dict],
                 settings: dict | None = None) -> Path:
    """``out_dir/report.json``; ``settings`` (what was evaluated, see agents.evaluation.resume_state)
    lets a rerun tell whether the report is for the same evaluation."""
    report = {
        "run_dir": str(run_dir),
        "suite": suite,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": model_info,
        "scenarios": scenarios,
        "summary": summary(scenarios),
    }
    if settings is not None:
        report["settings"] = settings
    path = out_dir / "report.json"
    atomic_write_text(path, json.dumps(_finite(report), indent=2))
    return path


def read_report(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
