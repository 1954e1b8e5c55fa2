"""How a training reports to a Ray Tune trial: :class:`ReportCallback` taps the model's logger
and hands every dump holding evaluation metrics (``eval/return``, ...) to ``report``;
:func:`fd_reporter` writes them as JSON lines to a pipe the trial reads."""

from __future__ import annotations

import json
import os
from typing import Any, Callable

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter


class _Tap(KVWriter):
    """A logger output that hands each dump holding ``eval/...`` values to ``report``."""

    def __init__(self, report: Callable[[dict], None]) -> None:
        self.report = report

    def write(self, key_values: dict[str, Any], key_excluded: dict, step: int = 0) -> None:
        evals = {k: float(v) for k, v in key_values.items() if k.startswith("eval/") and isinstance(v, (int, float))}
        if evals:
            self.report({"timesteps": int(step), **evals})

    def close(self) -> None:
        pass


class ReportCallback(BaseCallback):
    """Forwards the periodic evaluation's metrics (``eval/return``, ...) with the env step to
    ``report(dict)``, by tapping the model's logger when training starts."""

    def __init__(self, report: Callable[[dict], None]) -> None:
        super().__init__()
        self.report = report
        self._tap: _Tap | None = None

    def _on_training_start(self) -> None:
        self._tap = _Tap(self.report)
        self.model.logger.output_formats.append(self._tap)

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        if self._tap in self.model.logger.output_formats:
            self.model.logger.output_formats.remove(self._tap)


def fd_reporter(fd: int) -> Callable[[dict], None]:
    """A ``report`` that writes one JSON line per call to the file descriptor ``fd``."""
    stream = os.fdopen(fd, "w", buffering=1)

    def report(metrics: dict) -> None:
        try:
            stream.write(json.dumps(metrics) + "\n")
        except (BrokenPipeError, OSError):
            pass  # the trainable is gone (trial stopped); training goes on to its checkpoint

    return report
