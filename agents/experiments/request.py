"""What ``train.py`` asks of an experiment (``--seeds``/``--grid``/``--backend``) or a sweep
(``--sweep``): typed requests, built by the entry script from its parsed flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ExperimentRequest:
    """A grid of configs x seeds (``python train.py --config C --seeds 0-4 --grid K=V1,V2``)."""

    config: Path | None
    overrides: list[str] = field(default_factory=list)  # dotted KEY=VALUE
    seed: int | None = None  # --seed: a one-seed experiment
    seeds: str | None = None  # --seeds text: 0-4, 0,2,5 or 0-2,7
    grid: list[str] | None = None  # --grid KEY=V1,V2 items
    name: str | None = None
    backend: str | None = None  # sequential | process | ray (default: process with workers)
    workers: int | None = None
    ray_address: str | None = None
    gpus_per_trial: float | None = None
    storage: Path | None = None  # root of experiment folders (default runs/)
    device: str | None = None
    wandb: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class SweepRequest:
    """A Ray Tune search from a sweep file (``python train.py --sweep configs/sweeps/FILE.yaml``);
    the fields a sweep takes from its file (config, seeds, grid, backend) must stay unset."""

    sweep: Path
    config: Path | None = None
    overrides: list[str] = field(default_factory=list)
    seed: int | None = None
    seeds: str | None = None
    grid: list[str] | None = None
    backend: str | None = None
    name: str | None = None
    workers: int | None = None
    ray_address: str | None = None
    storage: Path | None = None
    device: str | None = None
    wandb: str | None = None
    dry_run: bool = False
    max_wall_time: float | None = None  # refused: sweeps are stopped by ASHA and their budget
