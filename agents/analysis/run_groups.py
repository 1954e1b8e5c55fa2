"""Runs for comparison: finding run folders, reading a ``metrics.csv`` column, grouping runs of
one configuration over seeds (by :mod:`agents.config.identity`), and the warnings about what
such groups cannot carry (repeated seeds, too few points of a metric)."""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agents.config import flatten_config, identity_difference, identity_items
from agents.errors import UserError

SEED = ("train.seed",)  # a group is one config over seeds
SKIP_DIRS = {"checkpoints", "eval", "wandb", "tensorboard", "logs", "compare", "tune"}
MAX_LABEL_KEYS = 4


# ------------------------------------------------------------------ finding and reading runs


@dataclass
class Run:
    path: Path
    config: dict[str, Any]
    seed: int
    steps: np.ndarray  # env steps of each logged value of the metric
    values: np.ndarray
    walls: np.ndarray  # wall-clock seconds of training at those steps
    reports: dict[str, dict] = field(default_factory=dict)  # suite -> report.json
    points: dict[str, int] = field(default_factory=dict)  # metrics.csv column -> steps with a value

    @property
    def final(self) -> float:
        return float(self.values[-1])


@dataclass
class Group:
    key: str
    runs: list[Run]
    label: str = ""
    varying: dict[str, Any] = field(default_factory=dict)

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders (holding config.yaml) at or below each path, in a stable order."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise UserError(f"{path}: no such file or folder (pass run folders or experiment folders, e.g. runs/EXP)")
        if not path.is_dir():
            raise UserError(f"{path}: not a folder (pass run folders or experiment folders, e.g. runs/EXP)")
        if (path / "config.yaml").is_file():
            found.append(path)
            continue
        for root, dirs, files in os.walk(path):
            if "config.yaml" in files:
                found.append(Path(root))
                dirs[:] = []
            else:
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise UserError(f"no run folders (with config.yaml) found in {', '.join(str(p) for p in paths)}")
    return sorted(unique)


def _float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else float("nan")
    except ValueError:
        return float("nan")


def _by_step(rows: list[dict], column: str) -> dict[float, float]:
    """The column's last finite value at each step."""
    by_step: dict[float, float] = {}
    for r in rows:
        s, v = _float(r.get("timesteps")), _float(r.get(column))
        if np.isfinite(s) and np.isfinite(v):
            by_step[s] = v
    return by_step


def read_metric(path: Path, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """(steps, values, wall seconds) of ``metric`` in ``metrics.csv`` (last value per step), and
    the number of points (steps with a value) of every column."""
    csv_path = path / "metrics.csv"
    try:
        with open(csv_path, newline="") as fh:
            reader = csv.DictReader(fh)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
    except OSError:
        raise UserError(f"{csv_path}: missing; {path} has no training metrics (did training start?)") from None
    step_wall = [(_float(r.get("timesteps")), _float(r.get("wall_s"))) for r in rows]
    known = np.array([(s, w) for s, w in step_wall if np.isfinite(s) and np.isfinite(w)]).reshape(-1, 2)
    by_step = _by_step(rows, metric)
    points = {c: len(_by_step(rows, c)) for c in columns if c not in ("timesteps", "wall_s")}
    steps = np.array(sorted(by_step), dtype=float)
    values = np.array([by_step[s] for s in steps], dtype=float)
    if known.size:
        order = np.argsort(known[:, 0], kind="stable")
        walls = np.interp(steps, known[order, 0], known[order, 1])
    else:
        walls = np.full_like(steps, np.nan)
    return steps, values, walls, points


def read_compare_run(path: Path, metric: str) -> Run:
    """A run folder's config, ``metric`` curve and evaluation reports (for evaluation or notebooks
    use :func:`agents.rundir.loading.load_run`)."""
    try:
        config = yaml.safe_load((path / "config.yaml").read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"{path / 'config.yaml'}: unreadable ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise UserError(f"{path / 'config.yaml'}: not a laneforge config")
    steps, values, walls, points = read_metric(path, metric)
    if steps.size == 0:
        usable = list(points)
        hint = "; its columns: " + ", ".join(usable[:12]) + (" ..." if len(usable) > 12 else "") if usable else ""
        raise UserError(f"{path}: no values of '{metric}' in metrics.csv; runs with incompatible metrics cannot be "
                        f"compared (choose --metric from the columns every run has{hint})")
    reports = {}
    for report in sorted((path / "eval").glob("*/report.json")):
        try:
            reports[report.parent.name] = json.loads(report.read_text())
        except (OSError, ValueError):
            raise UserError(f"{report}: unreadable evaluation report; rerun evaluate.py on {path}") from None
    seed = int(flatten_config(config).get("train.seed", 0) or 0)
    return Run(path=path, config=config, seed=seed, steps=steps, values=values, walls=walls, reports=reports,
               points=points)


def group_runs(runs: list[Run]) -> list[Group]:
    """Group runs that are one config over seeds (:func:`agents.config.identity_difference`
    ignoring ``train.seed``: an extended run joins its siblings); label groups by the keys that vary."""
    out: list[Group] = []
    for run in runs:
        group = next((g for g in out if not identity_difference(g.runs[0].config, run.config, SEED)), None)
        if group is None:
            flat = identity_items(run.config, SEED)
            out.append(group := Group(key=json.dumps(flat, sort_keys=True, default=str), runs=[]))
        group.runs.append(run)
    flats = [json.loads(g.key) for g in out]
    keys = sorted({k for f in flats for k in f})
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flats}) > 1]
    for g, flat in zip(out, flats):
        g.runs.sort(key=lambda r: r.seed)
        g.varying = {k: flat.get(k) for k in varying}
        if varying and len(varying) <= MAX_LABEL_KEYS:
            g.label = ", ".join(f"{k}={_short(flat.get(k))}" for k in varying)
        elif varying:  # many differences (unrelated runs): the run folder's name without seed and time
            g.label = re.sub(r"__s\d+(__\d{8}-\d{6}(-\d+)?)?$", "", g.runs[0].path.name)
        else:
            g.label = str((g.runs[0].config.get("logging") or {}).get("experiment") or g.runs[0].path.parent.name)
    seen: dict[str, int] = {}
    for g in out:  # labels must tell groups apart
        seen[g.label] = seen.get(g.label, 0) + 1
        if seen[g.label] > 1:
            g.label = f"{g.label} #{seen[g.label]}"
    return sorted(out, key=lambda g: g.label)


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------------ what the numbers cannot carry

MIN_POINTS = 10
DENSE_METRIC = "rollout/ep_rew_mean"


def duplicate_seed_warnings(groups: list[Group]) -> list[str]:
    """One line per seed that occurs in more than one run of a group (same config, same seed)."""
    lines = []
    for g in groups:
        for seed in sorted({s for s in g.seeds if g.seeds.count(s) > 1}):
            paths = ", ".join(str(r.path) for r in g.runs if r.seed == seed)
            lines.append(f"group '{g.label}': seed {seed} in {g.seeds.count(seed)} runs ({paths}); runs with the same "
                         "config and seed are not independent samples: remove the repeats or give each run its own "
                         "train.seed")
    return lines


def sparse_metric_warning(runs: list[Run], metric: str) -> str | None:
    """A line when some run has fewer than ``MIN_POINTS`` values of ``metric``, with a denser column."""
    counts = sorted(r.steps.size for r in runs)
    if counts[0] >= MIN_POINTS:
        return None
    text = f"{metric} has {span(counts)} points per run"
    freqs = sorted({str(flatten_config(r.config).get("train.eval_freq")) for r in runs} - {"None"})
    if metric.startswith("eval/") and freqs:
        text += f" (train.eval_freq={'/'.join(freqs)})"
    dense = denser_metric(runs, metric)
    if dense is None:
        return text + "; its curves and final values rest on few points"
    return text + f"; for a denser curve use --metric {dense[0]} ({dense[1]} points)"


def denser_metric(runs: list[Run], metric: str) -> tuple[str, int] | None:
    """The ``rollout/`` or ``eval/`` column every run has with the most points (fewest over runs)
    and more than ``metric``; ``rollout/ep_rew_mean`` when it qualifies."""
    fewest = min(r.steps.size for r in runs)
    common = set.intersection(*(set(r.points) for r in runs))
    points = {c: min(r.points[c] for r in runs) for c in common
              if c != metric and c.startswith(("rollout/", "eval/"))}
    better = {c: n for c, n in points.items() if n > fewest}
    if not better:
        return None
    best = DENSE_METRIC if DENSE_METRIC in better else max(sorted(better), key=better.__getitem__)
    return best, better[best]


def span(counts: list[int]) -> str:
    """``"5"``, or ``"3-5"`` for sorted counts that differ."""
    return str(counts[0]) if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]}"
