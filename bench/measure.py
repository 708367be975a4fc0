"""Run a benchmark command in its own process and measure it: wall time, peak RSS, RSS over time.

The child's peak resident memory comes from ``os.wait4`` (the kernel's
``ru_maxrss`` of that child alone, so two tools run one after the other never
mix their figures); a thread samples the child's ``VmRSS`` from ``/proc`` so
the peak can be attributed to the steps the child reports, and kills the
child when it passes ``max_rss_mb`` (the machine is shared: better to stop
our own run than to have the kernel's OOM killer pick a process).
"""

from __future__ import annotations

import os
import signal
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
    killed_at_limit: bool = False

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
    max_rss_mb: float | None = None,
) -> Measured:
    """Run ``command``, output to ``log``; return its exit code, wall time and peak RSS.

    The child is killed (SIGKILL) when its sampled RSS passes ``max_rss_mb``.
    """
    samples: list[tuple[float, float]] = []
    killed = threading.Event()
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
                    if max_rss_mb is not None and rss > max_rss_mb and not killed.is_set():
                        killed.set()
                        os.kill(child.pid, signal.SIGKILL)
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
        killed_at_limit=killed.is_set(),
    )


REPO = Path(__file__).resolve().parents[1]


def source_tree(rev: str | None, workdir: Path) -> tuple[Path, str]:
    """The tree to import ``matching``, ``pipelines`` and ``quality`` from, and its label.

    ``None`` is the working tree (uncommitted changes included). A git
    revision is exported (``git archive``) to ``workdir/src-<sha>``, so a
    benchmark can measure a fixed commit while others edit the working tree.
    An existing folder holding ``matching/`` (a copy of a working tree) is
    used as it is.
    """
    if rev is not None and (Path(rev) / "matching").is_dir():
        return Path(rev).resolve(), f"source copy {rev}"
    if rev is None:
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "matching"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        head = _git(["rev-parse", "--short", "HEAD"])
        return REPO, f"working tree at {head}" + (" + uncommitted matching/" if dirty else "")
    sha = _git(["rev-parse", "--short", rev])
    target = workdir / f"src-{sha}"
    if not (target / "matching").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", sha, "matching", "pipelines", "quality"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target, f"commit {sha}"


def child_env(source: Path) -> dict[str, str]:
    """Environment for a child that imports the project from ``source`` and bench from here."""
    return os.environ | {"PYTHONPATH": os.pathsep.join(dict.fromkeys([str(source), str(REPO)]))}


def _git(args: list[str]) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
