"""Plain progress lines for logs: what a progress bar shows, as one line every N seconds.

rich draws its bars only on a terminal; run under nohup, SLURM, CI, a process or Ray backend
(stderr a file or a pipe), a bar prints nothing until the end. :class:`PlainProgress` prints
``label  done/total unit  (pct)  k=v ...  rate/s  ETA hh:mm:ss`` every ``every_s`` seconds
instead, with the rate smoothed (an exponential moving average over the reporting intervals,
so the ETA neither jumps with one slow interval nor remembers a start-up phase for ever).
Written by hand: rich and tqdm both tie their rate and ETA to a live display.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Callable

# Weight of the newest interval in the smoothed rate.
SMOOTHING = 0.3
# Intervals shorter than this [s] leave the rate as it was (a closing line right after a
# periodic one would otherwise read as a stall).
MIN_INTERVAL_S = 0.5


def is_terminal(stream: IO[str] | None = None) -> bool:
    """True when ``stream`` (default stderr) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real file
        return False


def format_duration(seconds: float) -> str:
    """``3725`` -> ``"1:02:05"``; ``"-"`` when unknown."""
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class SmoothedRate:
    """Units per second, smoothed over the intervals between :meth:`update` calls."""

    def __init__(self, done: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._t = clock()
        self._done = done
        self.rate: float | None = None

    def update(self, done: float) -> float | None:
        now = self.clock()
        dt = now - self._t
        if (dt >= MIN_INTERVAL_S or (self.rate is None and dt > 0)) and done >= self._done:
            current = (done - self._done) / dt
            self.rate = current if self.rate is None else SMOOTHING * current + (1 - SMOOTHING) * self.rate
            self._t, self._done = now, done
        return self.rate

    def eta(self, remaining: float) -> float:
        if not self.rate or self.rate <= 0:
            return float("nan")
        return max(remaining, 0.0) / self.rate


class PlainProgress:
    """One plain line every ``every_s`` seconds (and at :meth:`close`) on ``stream``.

    ``update(done, **fields)`` is cheap when no line is due, so it can be called every step.
    """

    def __init__(self, label: str, total: int | None, every_s: float = 30.0, unit: str = "steps",
                 stream: IO[str] | None = None, start: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.total = total
        self.every_s = every_s
        self.unit = unit
        self.stream = stream
        self.clock = clock
        self._rate = SmoothedRate(start, clock)
        self._last = clock()
        self._done = start
        self._printed: int | None = None
        self._fields: dict[str, Any] = {}
        self.lines = 0

    def update(self, done: int, force: bool = False, **fields: Any) -> None:
        self._done = done
        self._fields.update(fields)
        now = self.clock()
        if force or now - self._last >= self.every_s:
            self._last = now
            self._rate.update(done)
            self._print()

    def close(self, **fields: Any) -> None:
        """A last line with the final counts (unless the last line already showed them)."""
        if self._printed != self._done:
            self.update(self._done, force=True, **fields)

    def line(self) -> str:
        total = f"/{self.total:,}" if self.total else ""
        parts = [f"{self.label}  {self._done:,}{total} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self._done / self.total:.0f}%)"
        parts += [f"{k} {v}" for k, v in self._fields.items()]
        rate = self._rate.rate
        parts.append(f"{rate:,.1f} {self.unit}/s" if rate is not None else f"- {self.unit}/s")
        if self.total:
            parts.append(f"ETA {format_duration(self._rate.eta(self.total - self._done))}")
        return "  ".join(parts)

    def _print(self) -> None:
        stream = sys.stderr if self.stream is None else self.stream
        print(self.line(), file=stream, flush=True)
        self._printed = self._done
        self.lines += 1
