"""Progress of a long run: a bar on a terminal, plain lines in a log.

``Progress`` is called once per stage (or per province of a batch) with the
rows it handled. On a terminal it redraws one status line with a bar over
the stages; anywhere else (a log file, Airflow, a pipe) it writes one plain
line per stage: stage, rows, seconds elapsed.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_BAR = 24


class Progress:
    """Report a run's stages to a stream (standard error by default)."""

    def __init__(self, label: str, stream: TextIO | None = None, *, total: int = 0) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._label = label
        self._total = total
        self._done = 0
        self._started = time.perf_counter()

    def expect(self, total: int) -> None:
        """Set how many steps the run has (the bar's length)."""
        self._total = total

    def __call__(self, stage: str, rows: int | None = None) -> None:
        """One step done: ``stage`` handled ``rows`` rows (None: not a row count)."""
        self._done += 1
        elapsed = time.perf_counter() - self._started
        counted = "" if rows is None else f", {rows:,} rows"
        if not self._tty:
            self._stream.write(f"{self._label}: {stage}{counted}, {elapsed:.1f} s\n")
            self._stream.flush()
            return
        total = max(self._total, self._done)
        filled = round(_BAR * self._done / total)
        bar = "#" * filled + "-" * (_BAR - filled)
        line = f"{self._label} [{bar}] {self._done}/{total} {stage}{counted}  {elapsed:.1f} s"
        self._stream.write("\r\x1b[2K" + line)
        self._stream.flush()

    def close(self) -> None:
        """End the status line on a terminal."""
        if self._tty and self._done:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()
