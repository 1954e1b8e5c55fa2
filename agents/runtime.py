"""Process set-up that must happen before torch is imported, and torch's thread count.

torch's CPU wheel runs its intra-op threads on libgomp, whose default wait policy spins
(about 3 ms after every parallel region): on a machine shared with other processes the
spinning threads take the cores the work needs, and training gets several times slower
(benchmarks/RESULTS.md, "Threads on a busy machine"). ``OMP_WAIT_POLICY=PASSIVE`` alone
(threads sleep at once) fixes that but costs ~35% on an idle machine, where PPO's many small
back-to-back parallel regions then pay a wake-up each; a short spin first
(``GOMP_SPINCOUNT=10000``, ~0.1 ms) keeps the idle speed and the busy-machine gain.

libgomp reads both once, when it is loaded at ``import torch``, and torch has no setting for
them, so every entry point (train.py, evaluate.py, compare.py, the benchmarks, experiment
workers) calls :func:`prepare_process` first. When the user has set either variable, neither
is touched (``GOMP_SPINCOUNT`` would override the user's ``OMP_WAIT_POLICY``). Importing this
module imports nothing heavy.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from agents.errors import Interrupted

# The thread settings of every laneforge process, unless the user set their own.
THREAD_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "10000"}


def prepare_process() -> None:
    """Set :data:`THREAD_ENV` unless the user set one of its variables; call before torch loads."""
    if not any(key in os.environ for key in THREAD_ENV):
        os.environ.update(THREAD_ENV)


def thread_env() -> dict[str, str]:
    """The thread settings a new process (a Ray worker) should start with: the user's when set."""
    mine = {key: os.environ[key] for key in THREAD_ENV if key in os.environ}
    return mine or dict(THREAD_ENV)


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


def install_interrupt_handlers() -> Callable[[], None]:
    """SIGTERM (a scheduler's time limit, ``kill``) -> :class:`Interrupted` (143); SIGINT ->
    ``KeyboardInterrupt`` even where the shell started the process with SIGINT ignored
    (background jobs), so that training and evaluation always save their work first. Returns
    the function that restores the previous handlers."""

    def on_sigterm(signum, frame):  # noqa: ARG001
        raise Interrupted(143)

    previous = (signal.signal(signal.SIGTERM, on_sigterm), signal.signal(signal.SIGINT, signal.default_int_handler))

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])

    return restore
