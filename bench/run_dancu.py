"""Deduplicate a records CSV with dancu's ``link_records``; run by the benchmarks.

    .venv/bin/python -m bench.run_dancu --csv records.csv --out /tmp/dancu [--profile]

Reads the CSV (``bench.data.read_records``), links it, and writes
``clusters.parquet`` (``record_key``, ``cluster_id``) and ``stats.json``
(seconds to read, ``link_records``' own stats with seconds per step, epoch
times) to ``--out``. Meanwhile a thread writes ``trace.jsonl`` every second:
the process's RSS and the ``matching`` functions on the main thread's stack,
so that a run killed for lack of memory still shows where it was. With
``--profile``, also writes ``profile.txt``: the top functions by cumulative
time under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.data import read_records
from matching import link_records


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _matching_stack() -> list[str]:
    """Names of the ``matching`` functions on the main thread's stack, outermost first."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    names = []
    while frame is not None:
        if "/matching/" in frame.f_code.co_filename:
            names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names[::-1]


def _trace(path: Path, stop: threading.Event, interval: float = 1.0) -> None:
    with open(path, "w") as trace:
        while not stop.wait(interval):
            line = {"t": round(time.time(), 2), "rss_mb": round(_rss_mb())}
            trace.write(json.dumps(line | {"stack": _matching_stack()}) + "\n")
            trace.flush()


def run(csv: Path, out: Path, profile: bool = False) -> dict[str, Any]:
    """Link ``csv``; write clusters and stats to ``out``; return the stats."""
    out.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    threading.Thread(target=_trace, args=(out / "trace.jsonl", stop), daemon=True).start()
    started = time.time()
    records = read_records(csv)
    read_seconds = time.time() - started
    link_started = time.time()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    result = link_records(records)
    if profiler:
        profiler.disable()
    link_seconds = time.time() - link_started
    written = time.time()
    result.clusters.select("record_key", "cluster_id").write_parquet(out / "clusters.parquet")
    write_seconds = time.time() - written
    stats = dict(result.stats)
    stats.update(
        tool="dancu",
        started=started,
        link_started=link_started,
        read_seconds=round(read_seconds, 3),
        link_seconds=round(link_seconds, 3),
        write_seconds=round(write_seconds, 3),
        model_converged=result.model.converged,
    )
    stop.set()
    (out / "stats.json").write_text(json.dumps(stats, indent=2, default=str))
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
        (out / "profile.txt").write_text(text.getvalue())
    return stats


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    stats = run(args.csv, args.out, args.profile)
    print(json.dumps(stats["seconds"]))


if __name__ == "__main__":
    main()
