"""laneforge environments. Importing this package registers the ``laneforge/`` ids."""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "laneforge"
# One dict of gymnasium.register kwargs per env; each env module adds its own entry here.
_REGISTRATIONS: list[dict] = [
    {  # batched highway-env highway (autoreset_mode SAME_STEP: see FastHighwayVectorEnv.metadata)
        "id": "laneforge/FastHighway-v0",
        "entry_point": "envs.fast_highway:FastHighwayEnv",
        "vector_entry_point": "envs.fast_highway:FastHighwayVectorEnv",
    },
    {"id": "laneforge/WorkZone-v0", "entry_point": "envs.work_zone:WorkZoneEnv"},
    {"id": "laneforge/WorkZone-v1", "entry_point": "envs.work_zone:WorkZoneV1Env"},
    {"id": "laneforge/RandomizedHighway-v0", "entry_point": "envs.randomized_highway:RandomizedHighwayEnv"},
    {"id": "laneforge/EmergencyBraking-v0", "entry_point": "envs.emergency_braking:EmergencyBrakingEnv"},
]


def register_envs() -> None:
    """Register the suite's envs; idempotent, safe to call in subprocess workers."""
    for spec in _REGISTRATIONS:
        if spec["id"] not in gym.registry:
            gym.register(**spec)


register_envs()
