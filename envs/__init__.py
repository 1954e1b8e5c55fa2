"""laneforge environments. Importing this package registers the ``laneforge/`` ids."""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "laneforge"
_REGISTRATIONS: list[dict] = []


def register_envs() -> None:
    """Register the suite's envs; idempotent, safe to call in subprocess workers."""
    for spec in _REGISTRATIONS:
        if spec["id"] not in gym.registry:
            gym.register(**spec)


register_envs()
