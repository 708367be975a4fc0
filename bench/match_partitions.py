"""Benchmark: matching as the DAG's mapped tasks, each step in its own process (issue 14).

    .venv/bin/python -m bench.match_partitions --staging WAREHOUSE/staging/BATCH
        [--partitions 4] [--workdir /tmp/dancu-match-partitions]

Runs ``matching.steps`` on a batch's staged records as ``dancu_batch`` does
on its workers: ``start``, then ``compare`` for each partition, ``fit``,
``score`` for each partition and ``finish``, every step a fresh process
(imports and reading the work folder included, as a task pays them).
Printed for each step: wall time and peak RSS (``os.wait4``); then the
largest partition's figures, the work folder's size on disk, and whether the
result equals one in-process ``link_records`` run when ``--check`` is given
(pairs, clusters and model).

Stage the records first with ``dancu run`` (the staging folder stays in the
warehouse) or ``bench.whole_run``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import polars as pl

from bench.measure import run_measured

_STEP = "bench.match_partitions"


def _records(staging: Path) -> pl.DataFrame:
    from dancu.stages import staged_records

    return staged_records(staging.parent.parent, staging.name)


def _step(argv: list[str]) -> None:
    """Run one step in this process (the child side)."""
    from matching.settings import MatchSettings
    from matching.steps import LinkWork

    step, folder = argv[0], Path(argv[1])
    settings = MatchSettings()
    if step == "start":
        LinkWork.start(folder, _records(Path(argv[2])), settings, partitions=int(argv[3]))
    elif step == "compare":
        LinkWork(folder, settings).compare(int(argv[2]))
    elif step == "fit":
        LinkWork(folder, settings).fit()
    elif step == "score":
        LinkWork(folder, settings).score(int(argv[2]))
    elif step == "finish":
        result = LinkWork(folder, settings).finish()
        out = folder.parent / "result"
        out.mkdir(exist_ok=True)
        result.pairs.write_parquet(out / "pairs.parquet")
        result.clusters.write_parquet(out / "clusters.parquet")
        (out / "model.json").write_text(json.dumps(result.model.to_dict(), sort_keys=True))
        (out / "stats.json").write_text(json.dumps(result.stats, sort_keys=True, default=str))


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--staging", type=Path, required=True)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dancu-match-partitions"))
    parser.add_argument("--check", action="store_true", help="compare with link_records")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True, mode=0o700)
    folder = args.workdir / "work"
    python = [sys.executable, "-m", _STEP, "--step"]
    steps = [("start", ["start", str(folder), str(args.staging), str(args.partitions)])]
    steps += [(f"compare {p}", ["compare", str(folder), str(p)]) for p in range(args.partitions)]
    steps += [("fit", ["fit", str(folder)])]
    steps += [(f"score {p}", ["score", str(folder), str(p)]) for p in range(args.partitions)]
    steps += [("finish", ["finish", str(folder)])]
    figures: dict[str, tuple[float, float]] = {}
    work_mb = 0.0
    print(f"{'step':<12} {'wall s':>8} {'peak RSS MB':>12}")
    for name, argv in steps:
        if name == "finish":
            work_mb = _size_mb(folder)
        measured = run_measured([*python, *argv], args.workdir / f"{name.replace(' ', '-')}.log")
        if measured.returncode != 0:
            log = (args.workdir / f"{name.replace(' ', '-')}.log").read_text()
            raise SystemExit(f"{name} failed:\n{log[-3000:]}")
        figures[name] = (measured.wall_seconds, measured.peak_rss_mb)
        print(f"{name:<12} {measured.wall_seconds:>8.1f} {measured.peak_rss_mb:>12.0f}", flush=True)
    stats = json.loads((args.workdir / "result" / "stats.json").read_text())
    for kind in ("compare", "score"):
        parts = [figures[f"{kind} {p}"] for p in range(args.partitions)]
        print(
            f"{kind}: largest partition {max(w for w, _ in parts):.1f} s,"
            f" {max(m for _, m in parts):.0f} MB; all partitions {sum(w for w, _ in parts):.1f} s"
        )
    total = sum(w for w, _ in figures.values())
    print(
        f"records {stats['records']:,}, candidate pairs {stats['candidate_pairs']:,},"
        f" decisions {stats['decisions']}; steps in sequence {total:.1f} s;"
        f" work folder before finish {work_mb:.0f} MB"
    )
    if args.check:
        from matching import link_records

        one = link_records(_records(args.staging))
        out = args.workdir / "result"
        same = (
            one.pairs.equals(pl.read_parquet(out / "pairs.parquet"))
            and one.clusters.equals(pl.read_parquet(out / "clusters.parquet"))
            and json.dumps(one.model.to_dict(), sort_keys=True) == (out / "model.json").read_text()
        )
        print(f"equal to link_records in one process: {same}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        _step(sys.argv[2:])
    else:
        main()
