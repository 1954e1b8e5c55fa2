"""The project's one "did you mean" (envs/ and agents/ both use it; envs imports nothing of agents)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, options: Iterable[str], cutoff: float = 0.6) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest option, or ``""``."""
    matches = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=cutoff)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
