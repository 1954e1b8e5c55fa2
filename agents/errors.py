"""The one exception type for bad user input (config, CLI arguments, files).

The CLIs turn a :class:`UserError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

from envs.suggest import did_you_mean  # noqa: F401 - the project's one suggestion, re-exported


class UserError(ValueError):
    """Bad input from the user: the message names the problem and what to do."""


class Interrupted(Exception):
    """SIGINT/SIGTERM during training after a checkpoint was saved; carries the exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"interrupted (exit {code})")
        self.code = code


class TrainingStopped(Exception):
    """Training could not go on (non-finite values, disk full); exit 1 with this one line."""


class WallTimeReached(Exception):
    """Training stopped before its wall-time limit after saving a checkpoint: exit 75
    (sysexits' EX_TEMPFAIL: rerun the same command to continue)."""

    code = 75
