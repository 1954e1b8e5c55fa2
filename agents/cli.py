"""Shared CLI plumbing: one-line errors with exit code 2, interrupts with 130/143."""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

Request = TypeVar("Request")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def duration(text: str) -> float:
    """argparse type for a wall time: seconds (``5400``) or with units (``90m``, ``1h30m``, ``2h``)."""
    m = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not text.strip() or m is None or not any(m.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; give seconds (5400) or e.g. 90m, 1h30m, 2h")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    total = 3600 * hours + 60 * minutes + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the wall time must be positive")
    return total


def build_request(cls: type[Request], args: argparse.Namespace, **extra: Any) -> Request:
    """The typed request ``cls`` (a dataclass) filled from parsed flags by field name; ``extra``
    sets fields the flags do not hold. A field with neither is an error in the entry script."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if f.name not in extra}
    return cls(**values, **extra)


def quiet_libraries() -> None:
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    if not os.environ.get("XDG_RUNTIME_DIR"):
        # SDL prints an error line on every start without it; a private temp dir quiets it.
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="laneforge-xdg-")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*is out of date.*")
    warnings.filterwarnings("ignore", module="gymnasium")


def run_cli(main: Callable[[list[str]], int | None], argv: list[str] | None = None) -> None:
    """Run ``main``; a UserError becomes one line on stderr and exit 2."""
    from agents.errors import Interrupted, TrainingStopped, UserError, WallTimeReached

    quiet_libraries()
    try:
        code = main(sys.argv[1:] if argv is None else argv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except TrainingStopped as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except Interrupted as exc:
        raise SystemExit(exc.code) from None
    except WallTimeReached as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(WallTimeReached.code) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(code or 0)
