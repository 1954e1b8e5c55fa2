"""The experiment's own progress (runs finished of all) on stderr."""

from __future__ import annotations

from typing import Any

from agents.plainlog import PlainProgress, is_terminal


class RunsProgress:
    """The experiment's own progress (runs finished of all) on stderr: a rich bar on a
    terminal, a plain line every ``every_s`` seconds in a log; ``print`` writes one line."""

    def __init__(self, total: int, every_s: float) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        plain = not is_terminal()
        self.bar = Progress(TextColumn("[bold]experiment"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=self.console, disable=plain)
        self.task = self.bar.add_task("runs", total=total)
        self.lines = PlainProgress("experiment", total, every_s, unit="runs") if plain else None
        self.done = 0
        self.running = 0

    def __enter__(self) -> "RunsProgress":
        self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.stop()
        if self.lines is not None:
            self.lines.close(running=self.running)

    def print(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def advance(self) -> None:
        self.done += 1
        self.bar.advance(self.task)
        self.tick()

    def tick(self, running: int | None = None) -> None:
        """Called while waiting: a plain line when one is due."""
        self.running = self.running if running is None else running
        if self.lines is not None:
            self.lines.update(self.done, running=self.running)
