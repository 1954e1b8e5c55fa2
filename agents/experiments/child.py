"""``python -m agents.experiments.child``: run one trial spec given as JSON on stdin (the process
backend's and the sweep trials' child process); the result is written to ``spec["result"]``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from agents.runtime import prepare_process

prepare_process()  # before torch loads; inherited from the parent already, also right when started by hand

from agents.cli import quiet_libraries  # noqa: E402
from agents.errors import Interrupted, WallTimeReached  # noqa: E402
from agents.experiments.plan import Trial  # noqa: E402
from agents.experiments.runner import run_trial, trial_result  # noqa: E402
from agents.experiments.trial_report import ReportCallback, fd_reporter  # noqa: E402
from agents.fileio import atomic_write_text  # noqa: E402


def child_main() -> int:
    """Run the trial spec given as JSON on stdin; the exit code says how it ended."""
    quiet_libraries()
    spec = json.loads(sys.stdin.read())
    trial = Trial.from_spec(spec)
    callbacks = None
    fd = os.environ.get("LANEFORGE_REPORT_FD")
    if fd:
        callbacks = [ReportCallback(fd_reporter(int(fd)))]
    try:
        result = run_trial(trial, spec["argv"], extra_callbacks=callbacks, deadline=spec.get("deadline"))
    except (Interrupted, KeyboardInterrupt) as exc:
        result = trial_result(trial, "interrupted", "interrupted after a checkpoint; run again to resume")
        code = exc.code if isinstance(exc, Interrupted) else 130
    else:
        codes = {"failed": 1, "stopped": WallTimeReached.code, "not started": WallTimeReached.code}
        code = codes.get(result["status"], 0)
    if result.get("error"):
        print(f"error: {result['error']}", file=sys.stderr)
    atomic_write_text(Path(spec["result"]), json.dumps(result, indent=2))
    return code


if __name__ == "__main__":
    raise SystemExit(child_main())
