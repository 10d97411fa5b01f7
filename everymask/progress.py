"""Progress with ETA: a rich bar on a terminal, plain log lines otherwise (CI, files, pipes)."""
from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class StageProgress:
    """One bar per stage ("track", "finalize", "export"); `quiet` shows nothing."""

    def __init__(self, quiet: bool = False, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self._bar: Progress | None = None
        self._task = None
        self._name = ""
        self._t0 = 0.0
        self._last_log = 0.0

    def start(self, name: str, total: int) -> None:
        self.finish()
        self._name, self._t0, self._last_log = name, time.monotonic(), 0.0
        if self.quiet:
            return
        if self.tty:
            self._bar = Progress(TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                 console=Console(file=self.stream), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(name, total=max(total, 1))
        else:
            self.log(f"{name}: started ({total} steps)")

    def update(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=max(total, 1))
            return
        now = time.monotonic()
        if done < total and now - self._last_log < 10.0:
            return
        self._last_log = now
        elapsed = now - self._t0
        eta = elapsed / done * (total - done) if done else float("nan")
        self.log(f"{self._name}: {done}/{total} ({100 * done / max(total, 1):.0f}%) "
                 f"elapsed {elapsed:.0f}s eta {eta:.0f}s")

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, file=self.stream, flush=True)
