"""Run identity: which config keys make two runs "the same config".

Experiments use it to decide whether a run folder is the run a rerun asks for; compare uses
it to group runs of one config over seeds. The budget, the device, progress display, time
limits and logging are not part of a run's identity: a run extended to more steps, moved to
another device or logged elsewhere is the same run.
"""

from __future__ import annotations

from typing import Any

from agents.config.overrides import flatten_config

# Dotted keys (and sections) that are not part of a run's identity.
IDENTITY_EXCLUDED = ("train.total_timesteps", "train.device", "train.progress_bar", "train.log_every_s",
                     "train.max_wall_time", "train.checkpoint_every_s", "logging")
# Resolved to a number in a run's config.yaml; "auto" on either side matches any value.
AUTO_KEYS = ("train.torch_threads",)


def _excluded(key: str, keys: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in keys)


def identity_items(config: dict[str, Any], also_excluded: tuple[str, ...] = ()) -> dict[str, Any]:
    """The flat ``{"dotted.key": value}`` items of a dumped config that make up its identity."""
    skip = (*IDENTITY_EXCLUDED, *also_excluded)
    return {k: v for k, v in flatten_config(config).items() if not _excluded(k, skip)}


def identity_difference(a: dict[str, Any], b: dict[str, Any], also_excluded: tuple[str, ...] = ()) -> list[str]:
    """``"key: old -> new"`` for each identity key where the dumped configs ``a`` and ``b``
    differ (empty: the same config). ``also_excluded``: more keys to ignore (compare: the seed)."""
    fa, fb = identity_items(a, also_excluded), identity_items(b, also_excluded)
    diff = []
    for key in sorted(set(fa) | set(fb)):
        if key in AUTO_KEYS and "auto" in (fa.get(key), fb.get(key)):
            continue
        if fa.get(key) != fb.get(key):
            diff.append(f"{key}: {fa.get(key)!r} -> {fb.get(key)!r}")
    return diff
