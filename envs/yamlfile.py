"""Reading the project's YAML files (configs, suites) with a safe loader and one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from envs.suggest import did_you_mean


def read_yaml_file(path: str | Path, kind: str, missing_hint: str, error: type[Exception] = ValueError) -> Any:
    """Parse ``path`` with ``yaml.safe_load``; a missing, unreadable or invalid file raises
    ``error`` with one line naming the file (``kind``: "config", "suite", ...)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{kind} file not found: {path}{_nearby(path) or f' ({missing_hint})'}")
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {kind} file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise error(f"{path}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None


def _nearby(path: Path) -> str:
    """`` (did you mean 'configs/x.yaml'?)`` from the YAML files in the same folder."""
    folder = path.parent if path.parent.is_dir() else None
    if folder is None:
        return ""
    names = [p.name for p in folder.iterdir() if p.suffix in (".yaml", ".yml")]
    hint = did_you_mean(path.name, names)
    return hint.replace("'", f"'{folder}/", 1) if hint and str(folder) != "." else hint
