"""Run a benchmark command in its own process and measure it: wall time, peak RSS, RSS over time.

The child's peak resident memory comes from ``os.wait4`` (the kernel's
``ru_maxrss`` of that child alone, so two tools run one after the other never
mix their figures); a thread samples the child's ``VmRSS`` from ``/proc`` so
the peak can be attributed to the steps the child reports.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    """What one child process took."""

    returncode: int
    wall_seconds: float
    peak_rss_mb: float
    samples: list[tuple[float, float]] = field(default_factory=list)  # (epoch, RSS MB)

    def peak_between(self, start: float, stop: float) -> float | None:
        """Largest sampled RSS (MB) between two epoch times, None without samples."""
        inside = [rss for t, rss in self.samples if start <= t <= stop]
        return max(inside) if inside else None


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_measured(
    command: Sequence[str],
    log: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    sample_seconds: float = 0.5,
) -> Measured:
    """Run ``command``, output to ``log``; return its exit code, wall time and peak RSS."""
    samples: list[tuple[float, float]] = []
    done = threading.Event()
    started = time.perf_counter()
    with open(log, "wb") as out:
        child = subprocess.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env
        )

        def sample() -> None:
            while not done.is_set():
                rss = _rss_mb(child.pid)
                if rss is not None:
                    samples.append((time.time(), rss))
                done.wait(sample_seconds)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        child.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        returncode=child.returncode,
        wall_seconds=wall,
        peak_rss_mb=usage.ru_maxrss / 1024,
        samples=samples,
    )
