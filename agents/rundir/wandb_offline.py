"""Read back what an offline W&B run logged.

wandb 0.31 writes no summary or config file for offline runs: what was logged is only in
``run-<id>.wandb``, a LevelDB-style log, and the package no longer ships a public reader
for it. This small reader (the format from wandb's own datastore: a 7-byte ``:W&B`` header,
then 32 KiB blocks of records with 7-byte headers crc32/length/type) serves the tests and
anyone checking an offline run before ``wandb sync``: :func:`read_run` is the public API.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Iterator

from agents.errors import UserError

HEADER_LEN = 7
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def iter_raw_records(path: str | Path) -> Iterator[bytes]:
    """The records of a ``run-<id>.wandb`` log, each a serialized ``wandb_internal_pb2.Record``."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: unreadable ({exc.strerror}); pass {FORMS}") from None
    if not data.startswith(b":W&B"):
        raise UserError(f"{path}: not a W&B run log (no ':W&B' header); pass {FORMS}")
    pos = HEADER_LEN
    pending = b""
    while pos + 7 <= len(data):
        space = BLOCK - (pos % BLOCK)
        if space < 7:  # block trailer padding
            pos += space
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pos += 7
        chunk = data[pos:pos + length]
        pos += length
        if kind == 0 and length == 0:
            pos += BLOCK - (pos % BLOCK) if pos % BLOCK else 0
            continue
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""


FORMS = ("a laneforge run folder (holding wandb/offline-run-*), an offline-run-* folder (what `wandb sync` "
         "takes) or its run-*.wandb file")


def read_run(path: str | Path) -> dict[str, Any]:
    """What an offline W&B run logged: ``{"config", "history", "summary", "run", "files"}``.

    ``path`` takes three forms:

    - a laneforge run folder: its training run (``job_type`` train), merged over every
      ``RUN_DIR/wandb/offline-run-*/run-<id>.wandb`` with that run's id in time order (a
      resumed run writes one offline-run folder per session, all with the same id). Evaluation
      runs in the same folder are other W&B runs: read them by their offline-run folder;
    - an ``offline-run-*`` folder (what ``wandb sync`` takes);
    - a ``run-<id>.wandb`` file.

    Merging concatenates ``history`` (a list of dicts, one per logged step, ``_step`` included)
    and updates ``config`` and ``summary`` key by key, later sessions winning; ``run`` (id,
    project, group, name, tags, job_type) is the latest session's; ``files`` lists the logs
    read, in order. Any other path: :class:`UserError` naming it and the three forms.
    """
    logs = run_logs(Path(path))
    parts = [read_log(log) for log in logs]
    if len(parts) > 1:  # a run folder: keep the training run's sessions
        chosen = next((p for p in parts if p["run"].get("job_type") == "train"), parts[0])["run"].get("id")
        parts = [p for p in parts if p["run"].get("id") == chosen]
    return merge_sessions(parts)


def run_logs(path: Path) -> list[Path]:
    """The ``run-*.wandb`` files a :func:`read_run` path stands for, in time order."""
    if path.is_file() and path.suffix == ".wandb":
        return [path]
    if not path.exists():
        raise UserError(f"{path}: no such file or folder; pass {FORMS}")
    logs = sorted(path.glob("run-*.wandb")) if path.is_dir() else []
    if path.is_dir() and not logs and ((path / "config.yaml").is_file() or (path / "wandb").is_dir()):
        logs = find_run_logs(path)
        if not logs:
            raise UserError(f"{path}: no offline W&B run in {path / 'wandb'} (trained with --wandb disabled or "
                            f"online?); pass {FORMS}")
    if not logs:
        raise UserError(f"{path}: not a W&B offline run; pass {FORMS}")
    return logs


def read_log(path: Path) -> dict[str, Any]:
    """One ``run-<id>.wandb`` file as :func:`read_run`'s dict."""
    from wandb.proto import wandb_internal_pb2

    out: dict[str, Any] = {"config": {}, "history": [], "summary": {}, "run": {}, "files": [path]}
    for raw in iter_raw_records(path):
        rec = wandb_internal_pb2.Record()
        rec.ParseFromString(raw)
        kind = rec.WhichOneof("record_type")
        if kind == "config":
            for item in rec.config.update:
                out["config"][item.key] = json.loads(item.value_json)
        elif kind == "history":
            out["history"].append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "summary":
            for item in rec.summary.update:
                out["summary"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "run":
            for item in rec.run.config.update:  # the config given to wandb.init arrives here
                out["config"][item.key] = json.loads(item.value_json)
            out["run"] = {"id": rec.run.run_id, "project": rec.run.project, "group": rec.run.run_group,
                          "name": rec.run.display_name, "tags": list(rec.run.tags), "job_type": rec.run.job_type}
    return out


def merge_sessions(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Sessions of one run in time order: history concatenated, config/summary updated, latest run info."""
    out: dict[str, Any] = {"config": {}, "history": [], "summary": {}, "run": {}, "files": []}
    for part in parts:
        out["config"].update(part["config"])
        out["history"].extend(part["history"])
        out["summary"].update(part["summary"])
        out["run"] = part["run"] or out["run"]
        out["files"].extend(part["files"])
    return out


def find_run_logs(run_dir: str | Path) -> list[Path]:
    """Every offline W&B log in a run folder (training and evaluation runs), in time order."""
    return sorted(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"))
