"""Read back what an offline W&B run logged.

wandb 0.31 writes no summary or config file for offline runs: what was logged is only in
``run-<id>.wandb``, a LevelDB-style log, and the package no longer ships a public reader
for it. This small reader (the format from wandb's own datastore: a 7-byte ``:W&B`` header,
then 32 KiB blocks of records with 7-byte headers crc32/length/type) serves the tests and
anyone checking an offline run before ``wandb sync``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Iterator

HEADER_LEN = 7
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def iter_raw_records(path: str | Path) -> Iterator[bytes]:
    data = Path(path).read_bytes()
    if not data.startswith(b":W&B"):
        raise ValueError(f"{path}: not a W&B run log (no ':W&B' header)")
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


def read_run(path: str | Path) -> dict[str, Any]:
    """``{"config": {...}, "history": [{key: value}], "summary": {...}, "run": {...}}``."""
    from wandb.proto import wandb_internal_pb2

    out: dict[str, Any] = {"config": {}, "history": [], "summary": {}, "run": {}}
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


def find_run_logs(run_dir: str | Path) -> list[Path]:
    return sorted(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"))
