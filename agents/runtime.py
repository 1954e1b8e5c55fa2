"""Process set-up that must happen before torch is imported, and torch's thread count.

torch's CPU wheel runs its intra-op threads on libgomp, whose default wait policy spins:
on a machine shared with other processes the spinning threads fight for the cores and
training gets several times slower (measured in benchmarks/RESULTS.md, "Threads on a busy
machine"). libgomp reads ``OMP_WAIT_POLICY`` once, when it is loaded at ``import torch``,
and torch has no setting for it, so every entry point (train.py, evaluate.py, compare.py,
the benchmarks, experiment workers) calls :func:`prepare_process` first. A value the user
has set wins. Importing this module imports nothing heavy.
"""

from __future__ import annotations

import os

# Environment defaults for every laneforge process (setdefault: the user's values win).
PROCESS_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def prepare_process() -> None:
    """Set :data:`PROCESS_ENV` defaults; call before anything imports torch."""
    for key, value in PROCESS_ENV.items():
        os.environ.setdefault(key, value)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a SLURM or taskset allocation)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def auto_torch_threads(off_policy: bool, subprocess_envs: int, cpus: int | None = None) -> int:
    """``train.torch_threads: auto``.

    Off-policy (DQN): 1. Its gradient step is a 32-sample batch after every env step; thread
    start-up costs more than it saves (NOTES.md: 4.4-5.0 ms a step with one thread, 32-96 ms
    with two beside the simulator). On-policy (PPO): the CPUs left after the subprocess
    simulators, at most 4 (PPO's minibatch updates of 1e3 samples scale to a few threads;
    the quick start took 133 s with 2 threads vs ~180 s with 1 on 2 idle cores).
    """
    cpus = available_cpus() if cpus is None else cpus
    if off_policy:
        return 1
    return max(1, min(4, cpus - subprocess_envs))
