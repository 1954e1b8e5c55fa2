"""What ``train.py`` asks of one training run: a typed request, built by the entry script from
its parsed flags, and :func:`run_training`, which carries it out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agents.config import flag_overrides, load_config, parse_config
from agents.training.loop import resume, train


@dataclass(frozen=True)
class TrainRequest:
    """One run: a new one from ``config`` or ``resume`` of a run folder (then only
    ``train.total_timesteps=N`` may be among ``overrides``, to extend it)."""

    config: Path | None = None
    resume: Path | None = None
    overrides: list[str] = field(default_factory=list)  # dotted KEY=VALUE
    seed: int | None = None
    device: str | None = None
    wandb: str | None = None
    run_dir: Path | None = None
    dry_run: bool = False


def run_training(request: TrainRequest, argv: list[str], deadline: float | None = None) -> int:
    """Train or resume as requested; ``deadline`` (``time.time()``, from ``--max-wall-time``)
    stops it with a checkpoint (:class:`~agents.errors.WallTimeReached`). Returns the exit code."""
    if request.resume is not None:
        total = None
        if request.overrides:
            value = request.overrides[-1].split("=", 1)[1]
            total = parse_config({"train": {"total_timesteps": value}}).train.total_timesteps
        resume(request.resume, argv, total_timesteps=total, deadline=deadline)
        return 0
    overrides = flag_overrides(request.overrides, seed=request.seed, device=request.device, wandb=request.wandb)
    cfg = load_config(request.config, overrides)
    train(cfg, request.run_dir, argv, dry_run=request.dry_run, deadline=deadline)
    return 0
