"""Benchmark: ingest throughput and peak memory on a generated inbox.

    .venv/bin/python bench/ingest.py --persons 100000 [--seed 1] [--workdir /tmp/dancu-bench]

Generates a batch (mixed formats and encodings over the provinces), then
ingests every province folder in this process, one after the other, and prints
rows per second overall and per format, and the peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from collections import defaultdict
from pathlib import Path

import polars as pl

from pipelines.ingest import ingest_province
from pipelines.run import plan_batch
from pipelines.schema import FILE_COUNT_SCHEMA
from pipelines.storage import read_staged
from pipelines.synth import generate


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dancu-bench"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    started = time.perf_counter()
    summary = generate(persons=args.persons, seed=args.seed, out=args.workdir)
    print(
        f"generated {summary.records:,} records in {summary.files} files "
        f"in {time.perf_counter() - started:.1f} s"
    )
    batch = args.workdir / "inbox" / summary.batches[0]
    warehouse = args.workdir / "warehouse"
    seconds: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    for code in plan_batch(batch, warehouse):
        t0 = time.perf_counter()
        ingest_province(batch, code, warehouse / "staging")
        seconds[code] = time.perf_counter() - t0
    total = time.perf_counter() - started
    files = read_staged(warehouse / "staging", batch.name, "files", FILE_COUNT_SCHEMA)
    rows = int(files["rows_read"].sum())
    by_format = (
        files.with_columns(pl.col("source_file").str.extract(r"\.([a-z]+)$").alias("format"))
        .group_by("format")
        .agg(pl.col("rows_read").sum())
        .sort("format")
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"ingested {rows:,} rows from {files.height} files in {total:.1f} s: "
        f"{rows / total:,.0f} rows/s; peak RSS {peak_mb:,.0f} MB"
    )
    for fmt, n in by_format.iter_rows():
        print(f"  {fmt:5} {n:>10,} rows")
    slowest = sorted(seconds.items(), key=lambda kv: -kv[1])[:3]
    print("  slowest provinces: " + ", ".join(f"{c} {s:.1f} s" for c, s in slowest))


if __name__ == "__main__":
    main()
