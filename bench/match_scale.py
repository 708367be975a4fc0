"""Benchmark: how ``link_records`` scales, at 1 M and 10 M records by default.

    .venv/bin/python -m bench.match_scale [--records 1000000 10000000] [--seed 1]
        [--workdir /tmp/dancu-bench-match] [--profile] [--dancu-rev HEAD] [--max-rss-mb 21000]

For each size, generates (or reuses) the records CSV (``bench.data``), then
runs ``bench/run_dancu.py`` on it in its own process and prints: generation
time, the CSV read time, ``result.stats["seconds"]`` per step with the peak
RSS seen during each step (sampled every second inside the child), the
child's peak RSS, candidate pairs per blocking rule (and blocks skipped for
size), decisions and clusters. A run that fails (killed for lack of memory,
an exception) is reported with the step it was in, from the child's trace.
Last, how each step's time grows from the smallest size to each larger one
(ratio, and the exponent k in time ~ N^k). ``--profile`` runs the child under
cProfile (slower) and prints where the time went. ``--dancu-rev`` measures a
commit (exported with ``git archive``) instead of the working tree; the child
is killed if its RSS passes ``--max-rss-mb`` (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from bench.data import generate_bench_data
from bench.measure import Measured, child_env, run_measured, source_tree

REPO = Path(__file__).resolve().parents[1]


def _trace(out: Path) -> list[dict[str, Any]]:
    path = out / "trace.jsonl"
    if not path.exists():
        return []
    lines = []
    for line in path.read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:  # the last line of a killed run
            break
    return lines


def _step_windows(stats: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(step, start epoch, stop epoch) for the CSV read and each link_records step."""
    windows = [("read_csv", stats["started"], stats["link_started"])]
    clock = stats["link_started"]
    for step, seconds in stats["seconds"].items():
        windows.append((step, clock, clock + seconds))
        clock += seconds
    return windows


def _peak(trace: list[dict[str, Any]], start: float, stop: float) -> float | None:
    inside = [line["rss_mb"] for line in trace if start <= line["t"] <= stop + 1.0]
    return max(inside) if inside else None


def _report_failure(n: int, measured: Measured, out: Path, log: Path) -> None:
    trace = _trace(out)
    print(f"  FAILED: exit {measured.returncode} after {measured.wall_seconds:.0f} s")
    if measured.killed_at_limit:
        print("  stopped by this bench: RSS passed --max-rss-mb")
    elif measured.returncode == -9:
        print("  killed by SIGKILL: the kernel's out-of-memory killer, most likely")
    print(f"  peak RSS {measured.peak_rss_mb:,.0f} MB (child's ru_maxrss)")
    if trace:
        last = trace[-1]
        print(f"  last trace: RSS {last['rss_mb']:,} MB in {' > '.join(last['stack'])}")
        by_function: dict[str, float] = {}
        for line in trace:
            key = " > ".join(line["stack"][:3]) or "(outside matching)"
            by_function[key] = max(by_function.get(key, 0.0), line["rss_mb"])
        print("  peak RSS by matching call stack (first three frames):")
        for key, rss in sorted(by_function.items(), key=lambda kv: -kv[1])[:8]:
            print(f"    {rss:>9,.0f} MB  {key}")
    tail = log.read_text(errors="replace").strip().splitlines()[-6:] if log.exists() else []
    if tail:
        print("  log tail:\n    " + "\n    ".join(tail))


def _report(n: int, data_seconds: float, measured: Measured, out: Path) -> dict[str, float]:
    stats = json.loads((out / "stats.json").read_text())
    trace = _trace(out)
    print(
        f"  wall {measured.wall_seconds:.1f} s (process), link_records "
        f"{stats['link_seconds']:.1f} s, peak RSS {measured.peak_rss_mb:,.0f} MB; "
        f"data generated in {data_seconds:.0f} s (not counted)"
    )
    print(f"  {'step':20}{'seconds':>9}{'peak RSS MB':>13}")
    steps: dict[str, float] = {}
    for step, start, stop in _step_windows(stats):
        seconds = stop - start
        steps[step] = seconds
        peak = _peak(trace, start, stop)
        shown = f"{peak:,.0f}" if peak is not None else "-"
        print(f"  {step:20}{seconds:9.1f}{shown:>13}")
    print(f"  candidate pairs {stats['candidate_pairs']:,}; decisions {stats['decisions']}")
    for rule in stats["blocking"]:
        skipped = (
            f", skipped {rule['skipped_blocks']:,} blocks / {rule['skipped_records']:,} records"
            f" / {rule['skipped_pairs']:,} pairs"
            if rule.get("skipped_blocks")
            else ""
        )
        print(f"    {rule['rule']:22}{rule['pairs']:>14,} pairs{skipped}")
    clusters = stats.get("clusters", {})
    shown = {k: v for k, v in clusters.items() if not isinstance(v, (list, dict))}
    print(f"  clusters {shown}")
    steps["link_records"] = stats["link_seconds"]
    steps["peak_rss_mb"] = measured.peak_rss_mb
    return steps


def _growth(results: dict[int, dict[str, float]]) -> None:
    sizes = sorted(results)
    base = sizes[0]
    for n in sizes[1:]:
        factor = n / base
        print(f"\ngrowth from {base:,} to {n:,} records ({factor:g}x)")
        print(f"  {'step':20}{'ratio':>9}{'k (t~N^k)':>11}")
        for step, value in results[n].items():
            before = results[base].get(step)
            if not before or before <= 0 or value <= 0:
                continue
            ratio = value / before
            print(f"  {step:20}{ratio:9.2f}{math.log(ratio) / math.log(factor):11.2f}")


def main() -> None:
    """Run the scale benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dancu-bench-match"))
    parser.add_argument("--profile", action="store_true", help="run under cProfile")
    parser.add_argument(
        "--dancu-rev", help="git revision or source folder to measure (default: working tree)"
    )
    parser.add_argument("--max-rss-mb", type=float, default=21_000)
    args = parser.parse_args()
    source, label = source_tree(args.dancu_rev, args.workdir)
    print(f"dancu: {label}")
    results: dict[int, dict[str, float]] = {}
    for n in sorted(args.records):
        print(f"\n{n:,} records")
        data = generate_bench_data(n, args.workdir / f"data-{n}-seed{args.seed}", args.seed)
        out = args.workdir / "match_scale" / str(n)
        out.mkdir(parents=True, exist_ok=True)
        (out / "stats.json").unlink(missing_ok=True)
        command = [sys.executable, str(REPO / "bench" / "run_dancu.py")]
        command += ["--csv", str(data.records_csv), "--out", str(out)]
        command += ["--profile"] if args.profile else []
        log = out / "run.log"
        measured = run_measured(
            command, log, cwd=source, env=child_env(source), max_rss_mb=args.max_rss_mb
        )
        if measured.returncode != 0 or not (out / "stats.json").exists():
            _report_failure(n, measured, out, log)
            continue
        results[n] = _report(n, data.seconds, measured, out)
        if args.profile:
            print((out / "profile.txt").read_text()[:6000])
    if len(results) > 1:
        _growth(results)


if __name__ == "__main__":
    main()
