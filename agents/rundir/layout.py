"""Run folder names and places: ``runs/<env>__<algo>__<network>__s<seed>__<time>``."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from agents.config import ExperimentConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]
def sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def run_name(cfg: ExperimentConfig, timestamp: bool = True) -> str:
    parts = [sanitize(cfg.env.id), cfg.algo.name, cfg.network.type, f"s{cfg.train.seed}"]
    if timestamp:
        parts.append(datetime.now().strftime("%Y%m%d-%H%M%S"))
    return "__".join(parts)


def new_run_dir(cfg: ExperimentConfig, root: Path = Path("runs")) -> Path:
    base = root / run_name(cfg)
    path, i = base, 1
    while path.exists():
        path, i = Path(f"{base}-{i}"), i + 1
    return path
