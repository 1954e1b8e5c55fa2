"""Start train.py with a fault injected, for the subprocess fault tests (production code has
no test hooks):

    python tests/launch_train.py --nan-at STEP -- <train.py arguments>
    python tests/launch_train.py --checkpoint-pause SECONDS -- <train.py arguments>

``--nan-at`` poisons a policy weight once the step count reaches STEP (the non-finite check
must stop training naming the step); ``--checkpoint-pause`` sleeps inside every checkpoint
write, after model.zip and before the replay buffer, so a kill can land on a half-written one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.runtime import prepare_process  # noqa: E402

prepare_process()


def inject_nan(step: int) -> None:
    import torch

    from agents.training.callbacks import NonFiniteCallback

    check = NonFiniteCallback._on_step

    def poisoned(self) -> bool:
        if self.num_timesteps >= step and not getattr(self, "_poisoned", False):
            with torch.no_grad():
                next(self.model.policy.parameters()).view(-1)[0] = float("nan")
            self._poisoned = True
        return check(self)

    NonFiniteCallback._on_step = poisoned


def pause_checkpoints(seconds: float) -> None:
    from agents.rundir import checkpoints

    save = checkpoints.save_replay_buffer

    def slow_save(buffer, path):
        time.sleep(seconds)
        save(buffer, path)

    checkpoints.save_replay_buffer = slow_save


def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    p = argparse.ArgumentParser(prog="launch_train.py")
    p.add_argument("--nan-at", type=int)
    p.add_argument("--checkpoint-pause", type=float)
    args = p.parse_args(argv[:split])
    if args.nan_at is not None:
        inject_nan(args.nan_at)
    if args.checkpoint_pause is not None:
        pause_checkpoints(args.checkpoint_pause)
    import train
    from agents.cli import run_cli

    run_cli(train.main, argv[split + 1:])


if __name__ == "__main__":
    main()
