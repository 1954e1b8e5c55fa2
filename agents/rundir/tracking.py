"""Where metrics go: metrics.csv, TensorBoard and W&B, all through SB3's logger.

Each sink is an SB3 ``KVWriter`` so every ``logger.dump`` reaches all of them at once.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import KVWriter, Logger, TensorBoardOutputFormat

from agents.fileio import atomic_write

FIRST_COLUMNS = ["timesteps", "wall_s", "rollout/ep_rew_mean", "rollout/ep_len_mean", "time/fps"]


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class MetricsCSV(KVWriter):
    """``metrics.csv``: one row per log interval, columns stable and ordered.

    SB3's CSV writer rewrites its header when new keys appear; this one does the same but
    atomically, keeps ``timesteps``/``wall_s`` first, and continues an existing file (resume).
    """

    def __init__(self, path: Path, wall_offset: float = 0.0) -> None:
        self.path = Path(path)
        self.start = time.time() - wall_offset  # wall_s continues across a resume
        self.columns: list[str] = []
        self.rows: list[dict[str, Any]] = []
        if self.path.exists():
            with open(self.path, newline="") as fh:
                reader = csv.DictReader(fh)
                self.columns = list(reader.fieldnames or [])
                self.rows = list(reader)

    def write(self, key_values: dict[str, Any], key_excluded: dict, step: int = 0) -> None:
        row = {k: v for k, v in key_values.items() if isinstance(v, (int, float)) and k != "time/total_timesteps"}
        row["timesteps"] = step
        row["wall_s"] = round(time.time() - self.start, 3)
        new = [k for k in row if k not in self.columns]
        self.rows.append(row)
        if new or not self.path.exists():
            self.columns = _order(self.columns + new)
            atomic_write(self.path, self._write_all)
        else:
            with open(self.path, "a", newline="") as fh:
                csv.DictWriter(fh, fieldnames=self.columns).writerow(row)

    def _write_all(self, tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(self.rows)

    def close(self) -> None:
        pass


def _order(columns: list[str]) -> list[str]:
    first = [c for c in FIRST_COLUMNS if c in columns]
    return first + sorted(c for c in columns if c not in first)


class WandbWriter(KVWriter):
    """Logs every dump to the W&B run at ``step`` = env steps; a failure only warns once."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.failed = False

    def write(self, key_values: dict[str, Any], key_excluded: dict, step: int = 0) -> None:
        if self.failed:
            return
        data = {k: v for k, v in key_values.items() if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v))}
        try:
            self.run.log(data, step=step)
        except Exception as exc:  # noqa: BLE001 - W&B must never stop training
            self.failed = True
            warn(f"W&B logging stopped ({exc}); metrics.csv and TensorBoard continue")

    def close(self) -> None:
        pass


def init_wandb(mode: str, run_dir: Path, run_name: str, project: str, group: str,
               tags: list[str], config: dict, run_id: str | None = None, job_type: str = "train") -> Any:
    """Start a W&B run in ``run_dir/wandb``; on any failure warn once and return None."""
    if mode == "disabled":
        return None
    os.environ.setdefault("WANDB_SILENT", "true")
    if mode == "offline":
        os.environ.setdefault("WANDB_ERROR_REPORTING", "false")  # no DNS lookup offline (NOTES.md)
    try:
        import wandb

        return wandb.init(
            project=project, group=group, name=run_name, id=run_id, tags=tags, config=config,
            dir=str(run_dir), mode=mode, job_type=job_type, resume="allow" if run_id and mode == "online" else None,
            settings=wandb.Settings(console="off", x_disable_stats=True),
        )
    except Exception as exc:  # noqa: BLE001 - W&B must never stop training
        warn(f"W&B could not start in {mode} mode ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
             "training continues with metrics.csv and TensorBoard")
        return None


def finish_wandb(run: Any) -> None:
    if run is None:
        return
    try:
        import wandb

        run.finish()
        wandb.teardown()  # run.finish() returns before the offline log is flushed (NOTES.md)
    except Exception as exc:  # noqa: BLE001
        warn(f"W&B did not finish cleanly: {exc}")


class RunLogger(Logger):
    """SB3's Logger, but ``time/iterations`` counts the run's rollouts: SB3's on-policy
    ``learn`` restarts its iteration count at every call, so a resumed run adds the rollouts
    done before it (``iteration_offset``)."""

    iteration_offset = 0

    def record(self, key: str, value: Any, exclude: Any = None) -> None:
        if key == "time/iterations":
            value = value + self.iteration_offset
        super().record(key, value, exclude)


def make_logger(run_dir: Path, tensorboard: bool, wandb_run: Any, wall_offset: float = 0.0) -> RunLogger:
    writers: list[KVWriter] = [MetricsCSV(run_dir / "metrics.csv", wall_offset)]
    if tensorboard:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            writers.append(TensorBoardOutputFormat(str(run_dir / "tensorboard")))
    if wandb_run is not None:
        writers.append(WandbWriter(wandb_run))
    return RunLogger(folder=str(run_dir), output_formats=writers)
