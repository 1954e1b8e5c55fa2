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

from agents.analysis.stats import (
    N_RESAMPLES,
    difference_ci,
    estimate,
    finite,
    strata_mean,
    stratified_ci,
    summarize,
    summarize_ratio,
)
from agents.config import MAX_TRAIN_SEED
from agents.evaluation.driving import drive_metrics, stalled
from agents.fileio import atomic_write_text
from envs import drive_probe
from envs.drive_probe import Goal, batch_row

# Seeds reserved for evaluation: during training, and for evaluate.py.
TRAIN_EVAL_SEED_BASE = MAX_TRAIN_SEED
FINAL_EVAL_SEED_BASE = 2 * MAX_TRAIN_SEED

# Per-episode row key -> aggregate metric name (the mean over episodes).
METRICS = {
    "return": "return",
    "return_per_step": "return_per_step",  # return / length (not comparable across scenarios: HighwayEnv#418)
    "length": "length",  # [policy steps]
    "crashed": "crash_rate",
    "success": "success_rate",
    "progress": "progress",  # [0, 1] (agents.evaluation.driving)
    "stalled": "stall_rate",
    "mean_speed": "mean_speed",  # [m/s]
    "distance": "distance",  # [m]
    "lane_changes_per_km": "lane_changes_per_km",
    "min_ttc": "min_ttc",  # [s]
    "mean_ttc": "mean_ttc",  # [s]
    "headway_under_1s": "headway_under_1s",  # share of steps
    "above_speed_limit": "above_speed_limit",  # share of steps
}
# Rates over all of a scenario's episodes: aggregate name -> (numerator, denominator) row keys.
RATES = {"hard_braking_per_km": ("hard_brakes", "km")}
# The seen/unseen headline: comparable across scenarios (returns are not).
HEADLINE = {"crash_rate": "crashed", "success_rate": "success", "progress": "progress", "stall_rate": "stalled"}


@dataclass
class EpisodeResult:
    seed: int
    return_: float = 0.0
    length: int = 0
    crashed: bool = False
    success: float | None = None  # None where the env has no goal
    mean_speed: float = float("nan")  # [m/s]
    distance: float = float("nan")  # [m]
    lane_changes: int = 0
    progress: float = float("nan")  # [0, 1] (agents.evaluation.driving)
    stalled: bool = False
    min_ttc: float = float("nan")  # [s]
    mean_ttc: float = float("nan")  # [s]
    headway_under_1s: float = float("nan")  # share of steps
    hard_brakes: int = 0
    above_speed_limit: float = float("nan")  # share of steps
    reward_terms: dict[str, float] = field(default_factory=dict)  # summed over the episode
    scenario: dict[str, Any] | None = None  # a family scenario's draw for this episode (the keys drawn)
    trajectory: dict[str, list] | None = None  # per-step data when recorded (--save-rollouts)

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("trajectory")
        d["return"] = d.pop("return_")
        d["return_per_step"] = self.return_ / max(self.length, 1)
        km = self.distance / 1000 if np.isfinite(self.distance) else float("nan")
        d["lane_changes_per_km"] = self.lane_changes / km if km and km > 0 else float("nan")
        d["hard_braking_per_km"] = self.hard_brakes / km if km and km > 0 else float("nan")
        d["km"] = km
        d["crashed"] = float(self.crashed)
        d["stalled"] = float(self.stalled)
        if d["scenario"] is None:
            d.pop("scenario")
        return d


Policy = Callable[[Any], Any]


def model_policy(model: Any) -> Policy:
    """Deterministic actions for one observation or a batch; observations with another row
    count than in training (an attention network seeing more vehicles), and batches, go
    through the tensors path, which SB3's ``predict`` refuses."""
    from agents.models.inference import predict_any_rows

    shape = model.observation_space.shape

    def act(obs: Any) -> Any:
        if np.shape(obs) == shape:
            return model.predict(obs, deterministic=True)[0]
        return predict_any_rows(model, obs, deterministic=True)

    return act


TRAJECTORY_KEYS = ("observations", "actions", "rewards", "ego_x", "ego_y", "ego_speed")


class EpisodeRecorder:
    """One episode's metrics, step by step, from what any simulator gives: the reward, the
    step's ``info`` and the ego's drive state (:mod:`envs.drive_probe`). The single-env loop
    (:func:`run_episode`) and the batched one (:func:`run_batch`) both feed it, so both give
    the same numbers for the same steps."""

    def __init__(self, seed: int, goal: Goal, policy_frequency: float, first: dict[str, Any],
                 record: bool = False) -> None:
        self.result = EpisodeResult(seed=seed)
        self.goal, self.policy_frequency = goal, policy_frequency
        self.states = [first]
        self.trajectory: dict[str, list] | None = {k: [] for k in TRAJECTORY_KEYS} if record else None

    def act(self, obs: Any, action: Any) -> None:
        if self.trajectory is not None:
            self.trajectory["observations"].append(np.asarray(obs, dtype=np.float32))
            self.trajectory["actions"].append(np.asarray(action))

    def step(self, reward: float, info: dict[str, Any], state: dict[str, Any]) -> None:
        r = self.result
        r.return_ += float(reward)
        r.length += 1
        r.crashed = r.crashed or bool(info.get("crashed", False)) or bool(state["crashed"])
        if "success" in info:
            r.success = float(bool(info["success"]))
        for name, value in (info.get("rewards") or {}).items():
            r.reward_terms[name] = r.reward_terms.get(name, 0.0) + float(value)
        last = self.states[-1]
        if last["lane"] >= 0 and state["lane"] >= 0 and state["lane"] != last["lane"]:
            r.lane_changes += 1
        self.states.append(state)
        if self.trajectory is not None:
            self.trajectory["rewards"].append(float(reward))
            self.trajectory["ego_x"].append(float(state["x"]))
            self.trajectory["ego_y"].append(float(state["y"]))
            self.trajectory["ego_speed"].append(float(state["speed"]))

    def finish(self) -> EpisodeResult:
        r = self.result
        r.trajectory = self.trajectory
        steps = self.states[1:]
        if steps:
            r.mean_speed = float(np.mean([st["speed"] for st in steps]))
            xy = np.array([(st["x"], st["y"]) for st in self.states], dtype=float)
            r.distance = float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum())
        drive = drive_metrics(self.states, self.goal, self.policy_frequency)
        for key in ("progress", "min_ttc", "mean_ttc", "headway_under_1s", "hard_brakes", "above_speed_limit"):
            setattr(r, key, drive[key])
        if self.goal.arrival != "none" and r.success is None:  # a road with a goal: reached without a crash
            r.success = float(drive["arrived"] and not r.crashed)
        r.stalled = stalled(r.crashed, r.mean_speed, r.progress)
        return r


def policy_frequency(env: Any) -> float:
    config = getattr(getattr(env, "unwrapped", env), "config", None) or {}
    return float(config.get("policy_frequency", 1))


def family_draw(core: Any, env: int) -> dict[str, Any] | None:
    """What env ``env`` of a batched core drew from its family for the episode it starts (the
    keys drawn), or None without a family."""
    drawn = getattr(core, "drawn", None)
    return None if drawn is None or drawn[env] is None else _finite(dict(drawn[env]))


def run_episode(policy: Policy, env: gym.Env, seed: int, record: bool = False) -> EpisodeResult:
    """One episode from ``env.reset(seed=seed)``; metrics from the rewards, ``info`` and the
    ego's drive state. With ``record`` the per-step observations, actions, rewards and ego
    state are kept."""
    obs, info = env.reset(seed=seed)
    goal = drive_probe.goal_of(env)
    recorder = EpisodeRecorder(seed, goal, policy_frequency(env), drive_probe.read(env, goal), record)
    recorder.result.scenario = family_draw(getattr(env.unwrapped, "core", None), 0)
    done = False
    while not done:
        action = policy(obs)
        recorder.act(obs, action)
        obs, reward, terminated, truncated, info = env.step(action)
        done = bool(terminated or truncated)
        recorder.step(reward, info, drive_probe.read(env, goal, recorder.states[-1]["s"]))
    return recorder.finish()


def run_batch(policy: Policy, core: Any, seed: int, seeds: list[int], max_episode_steps: int | None = None,
              record: bool = False) -> list[EpisodeResult]:
    """``len(seeds)`` episodes at once on a batched twin's core (``FastHighwayCore`` with that
    many envs): one reset of the whole batch seeded with ``seed``, then every env steps until
    its first episode ends (its later steps are ignored). Episode i is labelled ``seeds[i]``;
    it is env i of the batch, not the episode that a single env reset with ``seeds[i]`` plays."""
    core.seed(seed)
    core.reset_envs()
    frequency = float(core.config["policy_frequency"])
    first = core.drive_state()
    recorders = [EpisodeRecorder(s, core.drive_goal(b), frequency, batch_row(first, b), record)
                 for b, s in enumerate(seeds)]
    for b, recorder in enumerate(recorders):
        recorder.result.scenario = family_draw(core, b)
    active = np.ones(len(seeds), bool)
    steps = 0
    while active.any():
        obs = core.observe()
        actions = np.asarray(policy(obs)).reshape(len(seeds))
        reward, terminated, truncated, info = core.step(actions)
        steps += 1
        state = core.drive_state()
        for b in np.flatnonzero(active):
            recorders[b].act(obs[b], actions[b])
            recorders[b].step(reward[b], batch_row(info, b), batch_row(state, b))
        done = terminated | truncated
        if max_episode_steps is not None and steps >= max_episode_steps:
            done |= True
        active &= ~done
    return [r.finish() for r in recorders]


def aggregate(rows: list[dict[str, Any]]) -> dict[str, dict]:
    """Each metric -> ``{"mean", "std", "ci95", "n"}`` (95% percentile-bootstrap CI of the mean,
    ``None`` with fewer than two episodes)."""
    out = {}
    for key, name in METRICS.items():
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            out[name] = summarize([float(v) for v in values])
    for name, (num, den) in RATES.items():
        pairs = [(r[num], r[den]) for r in rows if r.get(num) is not None and r.get(den) is not None]
        if pairs:
            out[name] = summarize_ratio(*zip(*pairs))
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
                   videos: list[str], simulator: dict[str, Any] | None = None, status: str = "ok",
                   reason: str | None = None, forced: dict | None = None) -> dict[str, Any]:
    """One scenario of report.json; ``simulator``: what judged it (suite_run.simulator_of)."""
    entry = {
        "name": name,
        "split": split,
        "env_id": env_id,
        "env_config": env_config,
        **(simulator or {"simulator": "highway-env"}),
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


def _split_values(scenarios: list[dict], split: str, key: str) -> list[np.ndarray]:
    """Each evaluated scenario's finite per-episode values of ``key`` in ``split``."""
    groups = [finite([r.get(key) for r in s["per_episode"]]) for s in scenarios
              if s["split"] == split and s["status"] == "ok"]
    return [g for g in groups if g.size]


def summary(scenarios: list[dict], n_resamples: int = N_RESAMPLES) -> dict[str, Any]:
    """Seen vs unseen: each split's mean over its scenarios of each scenario's mean of the
    :data:`HEADLINE` metrics, and the gap (seen - unseen), all with 95% percentile-bootstrap CIs
    (episodes resampled within scenarios; seen with seed 0, unseen with seed 1, the gap from
    the same draws). ``ci95`` is ``None`` where no scenario has two episodes."""
    out: dict[str, Any] = {"seen": {}, "unseen": {}, "gap": {}}
    for metric, key in HEADLINE.items():
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
