"""Evaluation progress on disk, so that an interrupted ``evaluate.py`` resumes where it stopped.

While an evaluation runs, ``eval/<name>/partial/`` holds ``settings.json`` (what is being
evaluated: the model, the scenarios, episodes, seed, videos) and one file per finished task
in ``episodes/`` (its per-episode results; with ``--save-rollouts`` also an ``.npz`` of its
trajectories, written first), each written atomically. Rerunning the same command reads them
back and runs only the episodes still missing; the folder goes once the report is written.
The finished ``report.json`` keeps the settings too, so a rerun with the same settings
finds it complete, and one with other settings is refused instead of mixed in.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from agents.errors import UserError
from agents.evaluation.episodes import EpisodeResult
from agents.fileio import atomic_write, atomic_write_text

PARTIAL = "partial"


def parameters_sha256(model: Any) -> str:
    """A digest of the policy's parameters: tells two models apart whatever their file."""
    digest = hashlib.sha256()
    for name, tensor in model.policy.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def as_json(data: Any) -> Any:
    """``data`` as it reads back from JSON (tuples become lists), for comparisons."""
    return json.loads(json.dumps(data))


# ---------------------------------------------------------------- telling settings apart


def _model_text(model: dict[str, Any]) -> str:
    return (f"--model {model.get('which')} at {model.get('timesteps')} timesteps "
            f"(parameters {str(model.get('parameters_sha256'))[:8]})")


def _scenarios_text(old: list[dict], new: list[dict]) -> str:
    old_names, new_names = [s["name"] for s in old], [s["name"] for s in new]
    if old_names != new_names:
        return f"the scenarios {', '.join(old_names) or '(none)'}, not {', '.join(new_names)}"
    for a, b in zip(old, new):
        for key in ("env_id", "split", "env_config"):
            if a.get(key) != b.get(key):
                return f"scenario '{a['name']}' with {key} {json.dumps(a.get(key))}, not {json.dumps(b.get(key))}"
    return "other scenarios"


SETTING_FLAGS = {"episodes": "--episodes", "seed": "--seed", "video_episodes": "--video-episodes",
                 "video_speed": "--video-speed", "save_rollouts": "--save-rollouts"}


def settings_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """What differs between two evaluations' settings, in words (None when nothing does)."""
    old, new = as_json(old), as_json(new)
    if old.get("model") != new["model"]:
        return f"another model: {_model_text(old.get('model') or {})}, not {_model_text(new['model'])}"
    if old.get("scenarios") != new["scenarios"]:
        return f"another suite: {_scenarios_text(old.get('scenarios') or [], new['scenarios'])}"
    for key, flag in SETTING_FLAGS.items():
        if old.get(key) != new[key]:
            return f"{flag} {old.get(key)}, not {new[key]}"
    return None


def _refuse(out_dir: Path, what: str) -> UserError:
    return UserError(f"{out_dir}: {what}; use --name NEW for a new report, or delete {out_dir} to start again")


def check_previous(out_dir: Path, settings: dict[str, Any]) -> str:
    """``"new"``, ``"resume"`` (unfinished work with these settings) or ``"complete"`` (a report
    with these settings); a UserError when ``out_dir`` holds an evaluation with other settings."""
    partial = out_dir / PARTIAL / "settings.json"
    report = out_dir / "report.json"
    for path, state, label in ((partial, "resume", "an unfinished evaluation"), (report, "complete", "a report")):
        if not path.is_file():
            continue
        try:
            old = json.loads(path.read_text()).get("settings")
        except (OSError, ValueError, AttributeError):
            old = None
        if old is None:
            raise _refuse(out_dir, f"holds {label} without readable settings (an older or damaged evaluation)")
        diff = settings_difference(old, settings)
        if diff:
            raise _refuse(out_dir, f"holds {label} made with {diff}")
        return state
    return "new"


# ---------------------------------------------------------------- finished tasks


def start(out_dir: Path, settings: dict[str, Any]) -> None:
    """A new evaluation in ``out_dir``: its settings, and no finished tasks yet."""
    clear(out_dir)
    atomic_write_text(out_dir / PARTIAL / "settings.json", json.dumps({"settings": settings}, indent=2))


def _trajectory_arrays(results: list[EpisodeResult]) -> dict[str, np.ndarray]:
    return {f"{i}_{key}": np.asarray(values) for i, r in enumerate(results) if r.trajectory
            for key, values in r.trajectory.items()}


def save_task(out_dir: Path, scenario: str, results: list[EpisodeResult]) -> None:
    """One finished task: its trajectories (when recorded), then its results (which mark it done)."""
    stem = out_dir / PARTIAL / "episodes" / f"{scenario}-{results[0].seed}"
    arrays = _trajectory_arrays(results)
    if arrays:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        atomic_write(stem.with_suffix(".npz"), write)
    rows = [{k: v for k, v in asdict(r).items() if k != "trajectory"} for r in results]
    atomic_write_text(stem.with_suffix(".json"), json.dumps({"scenario": scenario, "episodes": rows}))


def _load_task(path: Path) -> tuple[str, list[EpisodeResult]]:
    data = json.loads(path.read_text())
    results = [EpisodeResult(**row) for row in data["episodes"]]
    npz = path.with_suffix(".npz")
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as arrays:
            for key in arrays.files:
                i, name = key.split("_", 1)
                results[int(i)].trajectory = results[int(i)].trajectory or {}
                results[int(i)].trajectory[name] = arrays[key]
    return data["scenario"], results


def load_done(out_dir: Path) -> dict[str, list[EpisodeResult]]:
    """Scenario name -> the episodes finished so far."""
    done: dict[str, list[EpisodeResult]] = {}
    for path in sorted((out_dir / PARTIAL / "episodes").glob("*.json")):
        try:
            scenario, results = _load_task(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}: unreadable ({exc}); delete {out_dir / PARTIAL} to start again") from exc
        done.setdefault(scenario, []).extend(results)
    return done


def clear(out_dir: Path) -> None:
    shutil.rmtree(out_dir / PARTIAL, ignore_errors=True)
