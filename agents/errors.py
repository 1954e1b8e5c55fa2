"""The one exception type for bad user input (config, CLI arguments, files).

The CLIs turn a :class:`UserError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(ValueError):
    """Bad input from the user: the message names the problem and what to do."""


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest option, or ``""``."""
    matches = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


class Interrupted(Exception):
    """SIGINT/SIGTERM during training after a checkpoint was saved; carries the exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"interrupted (exit {code})")
        self.code = code


class TrainingStopped(Exception):
    """Training could not go on (non-finite values, disk full); exit 1 with this one line."""
