"""``provenance.json``: the command, versions, machine and git commit of a run."""

from __future__ import annotations

import json
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from agents.fileio import atomic_write_text
from agents.rundir.layout import PROJECT_ROOT

PACKAGES = ("laneforge", "gymnasium", "highway-env", "stable-baselines3", "torch", "numpy", "wandb",
            "tensorboard", "moviepy", "pydantic")


def _git_commit() -> dict[str, Any]:
    try:
        proc = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=5)
        commit = proc.stdout.strip() if proc.returncode == 0 else None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                                    capture_output=True, text=True, timeout=5).stdout.strip())
        return {"commit": commit or None, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def provenance(argv: list[str], device: str, extra: dict | None = None) -> dict[str, Any]:
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "command": [sys.executable, *argv],
        "cwd": str(Path.cwd()),
        "git": _git_commit(),
        "packages": versions,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "device": device,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }


def write_provenance(run_dir: Path, info: dict) -> None:
    atomic_write_text(run_dir / "provenance.json", json.dumps(info, indent=2))
