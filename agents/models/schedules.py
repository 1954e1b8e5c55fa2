"""Learning-rate schedules for SB3's ``learning_rate`` (a callable of ``progress_remaining``).

SB3 calls the schedule with ``progress_remaining``, going from 1 (start of training) to 0
(end), and pickles it into ``model.zip``: schedules are module-level classes, never lambdas.
"""

from __future__ import annotations

import math
from typing import Any

SCHEDULE_KINDS = ("constant", "linear", "cosine")


class LRSchedule:
    """``initial`` learning rate, optional linear warmup from 0, then a decay to
    ``initial * final_fraction``.

    - ``constant``: ``initial`` after the warmup.
    - ``linear``: straight line from ``initial`` to the final value.
    - ``cosine``: half a cosine from ``initial`` to the final value.

    ``warmup_fraction`` is the share of training (in [0, 1)) spent ramping up linearly from 0.
    """

    def __init__(self, kind: str, initial: float, final_fraction: float = 0.0, warmup_fraction: float = 0.0) -> None:
        if kind not in SCHEDULE_KINDS:
            raise ValueError(f"optim.lr_schedule: unknown schedule '{kind}'; valid: {', '.join(SCHEDULE_KINDS)}")
        if not 0.0 <= warmup_fraction < 1.0:
            raise ValueError(f"optim.warmup_fraction must be in [0, 1), got {warmup_fraction}")
        if not 0.0 <= final_fraction <= 1.0:
            raise ValueError(f"optim.final_lr_fraction must be in [0, 1], got {final_fraction}")
        self.kind = kind
        self.initial = float(initial)
        self.final = float(initial) * float(final_fraction)
        self.warmup_fraction = float(warmup_fraction)

    def value_at(self, progress: float) -> float:
        """The learning rate after ``progress`` (0 = start, 1 = end) of training."""
        progress = min(max(float(progress), 0.0), 1.0)
        if progress < self.warmup_fraction:
            return self.initial * progress / self.warmup_fraction
        if self.kind == "constant":
            return self.initial
        t = (progress - self.warmup_fraction) / (1.0 - self.warmup_fraction)
        if self.kind == "linear":
            return self.initial + (self.final - self.initial) * t
        return self.final + (self.initial - self.final) * 0.5 * (1.0 + math.cos(math.pi * t))

    def __call__(self, progress_remaining: float) -> float:
        return self.value_at(1.0 - progress_remaining)

    def __repr__(self) -> str:
        return (f"LRSchedule(kind={self.kind!r}, initial={self.initial}, final={self.final}, "
                f"warmup_fraction={self.warmup_fraction})")


def make_lr_schedule(optim: Any, learning_rate: float) -> float | LRSchedule:
    """``algo.learning_rate`` shaped by the config's ``optim`` section.

    A constant schedule without warmup stays a plain float (SB3's own constant schedule).
    """
    if optim.lr_schedule == "constant" and optim.warmup_fraction == 0:
        return float(learning_rate)
    return LRSchedule(optim.lr_schedule, learning_rate, optim.final_lr_fraction, optim.warmup_fraction)
