"""Checkpoints that survive a kill at any moment.

A checkpoint is a folder ``checkpoints/step_<N>/`` holding ``model.zip`` (parameters and
optimizer state), ``replay_buffer.npz`` for DQN (arrays, no pickle; only in the newest
checkpoint), ``state.json`` (counters, W&B id) and ``manifest.json`` (sha256 and size of each
file). It is written under a temporary name and renamed into place only when complete, so a
partial checkpoint is never seen; :func:`latest_valid` also checks the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from agents.errors import UserError
from agents.fileio import _fsync_dir, atomic_write_text

PREFIX = "step_"
REPLAY_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_replay_buffer(buffer: Any, path: Path) -> None:
    arrays = {f: getattr(buffer, f) for f in REPLAY_FIELDS if getattr(buffer, f, None) is not None}
    arrays["pos"] = np.array(buffer.pos)
    arrays["full"] = np.array(buffer.full)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_replay_buffer(buffer: Any, path: Path) -> None:
    with np.load(path, allow_pickle=False) as data:
        for f in REPLAY_FIELDS:
            if f in data.files:
                current = getattr(buffer, f)
                if current is None or current.shape != data[f].shape:
                    raise UserError(f"{path}: replay buffer shape {data[f].shape} does not fit this model's "
                                    f"{None if current is None else current.shape} for '{f}'")
                setattr(buffer, f, data[f].copy())
        buffer.pos = int(data["pos"])
        buffer.full = bool(data["full"])


def write_checkpoint(ckpt_root: Path, step: int, model: Any, state: dict, with_replay: bool) -> Path:
    """Write a complete checkpoint atomically; returns its folder."""
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / f"{PREFIX}{step:010d}"
    tmp = ckpt_root / f".tmp-{PREFIX}{step:010d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        model.save(tmp / "model.zip")
        if with_replay and getattr(model, "replay_buffer", None) is not None:
            save_replay_buffer(model.replay_buffer, tmp / "replay_buffer.npz")
        (tmp / "state.json").write_text(json.dumps(state, indent=2))
        files = sorted(p for p in tmp.iterdir() if p.is_file())
        manifest = {"step": step, "files": {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size} for p in files}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        for p in tmp.iterdir():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        _fsync_dir(ckpt_root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def verify(ckpt: Path) -> str | None:
    """None when the checkpoint is complete and intact, else what is wrong."""
    manifest_path = ckpt / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "manifest.json missing or unreadable"
    for name, meta in files.items():
        p = ckpt / name
        if not p.is_file():
            return f"{name} missing"
        if p.stat().st_size != meta.get("bytes") or sha256(p) != meta.get("sha256"):
            return f"{name} does not match its checksum (truncated or corrupt)"
    if "model.zip" not in files:
        return "no model.zip in manifest"
    return None


def list_checkpoints(ckpt_root: Path) -> list[Path]:
    """Finished checkpoint folders, newest first."""
    if not ckpt_root.is_dir():
        return []
    found = [p for p in ckpt_root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)]
    return sorted(found, key=lambda p: p.name, reverse=True)


def checkpoint_step(ckpt: Path) -> int:
    """The env steps a checkpoint folder (``step_<N>``) was saved at."""
    return int(ckpt.name[len(PREFIX):])


def latest_valid(ckpt_root: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest intact checkpoint and the (path, problem) of newer broken ones."""
    skipped = []
    for ckpt in list_checkpoints(ckpt_root):
        problem = verify(ckpt)
        if problem is None:
            return ckpt, skipped
        skipped.append((ckpt, problem))
    return None, skipped


NEAREST_TOLERANCE = 0.1  # checkpoint:N takes a checkpoint at most this share of N away from N


def nearest_valid(ckpt_root: Path, step: int, tolerance: float = NEAREST_TOLERANCE) -> Path | None:
    """The intact checkpoint nearest to ``step`` env steps (the later one on a tie), or None
    when none lies within ``tolerance * step`` of it. Checkpoints fall on rollout boundaries
    (``checkpoint_freq: 1000000`` with rollouts of 8192 saves at 999,424, 1,998,848, ...), so
    asking for a round number finds the checkpoint saved for it."""
    # newest first, and sorted() is stable: on a tie the later checkpoint comes first
    for ckpt in sorted(list_checkpoints(ckpt_root), key=lambda c: abs(checkpoint_step(c) - step)):
        if abs(checkpoint_step(ckpt) - step) > tolerance * step:
            return None
        if verify(ckpt) is None:
            return ckpt
    return None


def prune(ckpt_root: Path, keep: int) -> None:
    """Keep the newest ``keep`` checkpoints; only the newest keeps its replay buffer."""
    ckpts = list_checkpoints(ckpt_root)
    for old in ckpts[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    for older in ckpts[1:keep]:
        buf = older / "replay_buffer.npz"
        if buf.exists():
            buf.unlink()
            manifest_path = older / "manifest.json"
            manifest = json.loads(manifest_path.read_text())
            manifest["files"].pop("replay_buffer.npz", None)
            atomic_write_text(manifest_path, json.dumps(manifest, indent=2))
    for stale in ckpt_root.glob(f".tmp-{PREFIX}*") if ckpt_root.is_dir() else []:
        if not stale.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(stale, ignore_errors=True)


def check_model_zip(path: Path) -> None:
    """A model file must be an SB3 zip with a policy; say what is wrong otherwise."""
    if not path.is_file():
        raise UserError(f"{path}: no model in this run folder (was training finished or interrupted? "
                        "use --model checkpoint to evaluate the newest checkpoint)")
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{path}: not a readable model zip ({exc}); it is truncated or corrupt") from exc
    if bad is not None:
        raise UserError(f"{path}: corrupt entry '{bad}' (CRC mismatch)")
    if "policy.pth" not in names:
        raise UserError(f"{path}: not a stable-baselines3 model (no policy.pth inside)")


def load_parameters(model: Any, path: Path) -> None:
    """Load parameters only (SB3's ``set_parameters`` reads the zip's tensors, unpickles nothing)."""
    check_model_zip(path)
    try:
        model.set_parameters(str(path), exact_match=True, device=model.device)
    except (RuntimeError, ValueError, KeyError, OSError, zipfile.BadZipFile, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: does not fit the model in config.yaml (another algorithm, network or "
                        f"observation?): {first}") from exc
