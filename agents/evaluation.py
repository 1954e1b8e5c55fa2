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

from agents.config import MAX_TRAIN_SEED
from agents.fileio import atomic_write_text
from agents.stats import summarize

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

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        d["return"] = d.pop("return_")
        d["return_per_step"] = self.return_ / max(self.length, 1)
        km = self.distance / 1000 if np.isfinite(self.distance) else float("nan")
        d["lane_changes_per_km"] = self.lane_changes / km if km and km > 0 else float("nan")
        d["crashed"] = float(self.crashed)
        return d


Policy = Callable[[Any], Any]


def model_policy(model: Any, deterministic: bool = True) -> Policy:
    def act(obs: Any) -> Any:
        action, _ = model.predict(obs, deterministic=deterministic)
        return action

    return act


def _ego(env: gym.Env):
    return getattr(env.unwrapped, "vehicle", None)


def run_episode(policy: Policy, env: gym.Env, seed: int) -> EpisodeResult:
    """One episode from ``env.reset(seed=seed)``; metrics read from ``info`` and the ego vehicle."""
    obs, info = env.reset(seed=seed)
    result = EpisodeResult(seed=seed)
    ego = _ego(env)
    speeds: list[float] = []
    distance = 0.0
    last_pos = np.array(ego.position, dtype=float) if ego is not None else None
    last_lane = ego.lane_index[2] if ego is not None and ego.lane_index else None
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
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
    if speeds:
        result.mean_speed = float(np.mean(speeds))
        result.distance = distance
    return result


def aggregate(rows: list[dict[str, Any]]) -> dict[str, dict]:
    """Each metric -> ``{"mean", "std", "ci95", "n"}`` (95% bootstrap CI of the mean)."""
    out = {}
    for key, name in METRICS.items():
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            out[name] = summarize([float(v) for v in values])
    return out


def record_videos(env: gym.Env, folder: Path, prefix: str, n_videos: int) -> gym.Env:
    """Wrap ``env`` to record the first ``n_videos`` episodes, all simulation frames included."""
    video_env = gym.wrappers.RecordVideo(
        env, str(folder), episode_trigger=lambda i: i < n_videos, name_prefix=prefix,
        disable_logger=True,
    )
    if hasattr(env.unwrapped, "set_record_video_wrapper"):
        env.unwrapped.set_record_video_wrapper(video_env)  # capture intermediate frames
    return video_env


def evaluate_scenario(
    policy: Policy,
    make: Callable[[str | None], gym.Env],
    episodes: int,
    seed_base: int,
    video_dir: Path | None = None,
    video_episodes: int = 0,
    video_prefix: str = "episode",
    on_episode: Callable[[EpisodeResult], None] | None = None,
) -> tuple[list[dict[str, Any]], list[Path]]:
    """Run ``episodes`` deterministic episodes with seeds ``seed_base + i``; return rows and videos."""
    want_video = video_dir is not None and video_episodes > 0
    n_video = min(video_episodes, episodes) if want_video else 0
    rows = []

    def run(env: gym.Env, seeds: range) -> None:
        try:
            for seed in seeds:
                result = run_episode(policy, env, seed)
                rows.append(result.row())
                if on_episode:
                    on_episode(result)
        finally:
            env.close()  # also writes the last video

    if n_video:
        # Recorded episodes on a rendering env; the rest on a plain one (no rendering cost,
        # and highway-env would keep pushing frames into a finished recorder).
        run(record_videos(make("rgb_array"), video_dir, video_prefix, n_video), range(seed_base, seed_base + n_video))
    if episodes > n_video:
        run(make(None), range(seed_base + n_video, seed_base + episodes))
    videos = sorted(video_dir.glob(f"{video_prefix}-episode-*.mp4")) if want_video else []
    return rows, videos


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


def summary(scenarios: list[dict]) -> dict[str, Any]:
    """Seen vs unseen means (over scenarios) of the comparable metrics, and the gap."""
    comparable = ("return_per_step", "crash_rate", "success_rate", "mean_speed")
    out: dict[str, Any] = {"seen": {}, "unseen": {}, "gap": {}}
    for split in ("seen", "unseen"):
        for metric in comparable:
            vals = [s["metrics"][metric]["mean"] for s in scenarios
                    if s["split"] == split and s["status"] == "ok" and metric in s["metrics"]]
            if vals:
                out[split][metric] = summarize(vals)
    for metric in comparable:
        if metric in out["seen"] and metric in out["unseen"]:
            out["gap"][metric] = {"mean": out["seen"][metric]["mean"] - out["unseen"][metric]["mean"]}
    return out


def write_report(out_dir: Path, run_dir: Path, suite: str, model_info: dict, scenarios: list[dict]) -> Path:
    report = {
        "run_dir": str(run_dir),
        "suite": suite,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": model_info,
        "scenarios": scenarios,
        "summary": summary(scenarios),
    }
    path = out_dir / "report.json"
    atomic_write_text(path, json.dumps(_finite(report), indent=2))
    return path
