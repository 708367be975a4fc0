"""Benchmark: ingest throughput and peak memory on a generated inbox.

    .venv/bin/python bench/ingest.py --persons 100000
    .venv/bin/python bench/ingest.py --rows 1000000 [--workers 2]
    .venv/bin/python bench/ingest.py --huge-csv-rows 1000000,4000000 --no-batch

Generates a batch (mixed formats and encodings over the provinces; ``--rows``
sizes the persons so the batch has about that many rows), then measures, each
in a fresh child process so that its peak resident memory is its own:

- the whole batch: every province folder ingested, one after the other (or
  ``--workers`` provinces at a time, as Airflow's mapped tasks would run);
- the CSV share: the same batch's delimited-text files alone (hard links in a
  second inbox), so its rows/s counts reading, sorting, standardising and
  writing those files and nothing else;
- with ``--huge-csv-rows``: one province holding a single very large UTF-8 CSV
  file of that many rows (streamed: see ``pipelines.ingest.readers``), per size given.

It prints rows per second, rows per format and the peak RSS of each. The
machine is shared, so run it more than once; the load average is printed.
``--reuse`` keeps a workdir generated with the same arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from dancu.stages import plan_batch
from domain.schema import FILE_COUNT_SCHEMA
from pipelines.ingest.province import ingest_province
from pipelines.ingest.readers import DELIMITED_SUFFIXES
from pipelines.warehouse.parquet import read_staged

#: Rows read per generated person with the default profile (repeats, junk rows).
ROWS_PER_PERSON = 1.107


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--rows", type=int, help="size the batch by rows instead of persons")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="provinces ingested at a time")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dancu-bench"))
    parser.add_argument("--reuse", action="store_true", help="keep a matching generated batch")
    parser.add_argument("--no-batch", action="store_true", help="skip the generated batch")
    parser.add_argument(
        "--huge-csv-rows", default="", help="comma-separated row counts of single-file runs"
    )
    parser.add_argument("--child", nargs=3, metavar=("BATCH", "WAREHOUSE", "WORKERS"))
    args = parser.parse_args()
    if args.child:
        batch, warehouse, workers = args.child
        print(json.dumps(_ingest_batch(Path(batch), Path(warehouse), int(workers))))
        return
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.no_batch:
        persons = round(args.rows / ROWS_PER_PERSON) if args.rows else args.persons
        batch = _generated_batch(args.workdir, persons, args.seed, args.reuse)
        csv_batch = _delimited_only(batch, args.workdir / "csv-only" / "inbox")
        _report("whole batch", _measure(batch, args.workdir / "wh-all", args.workers))
        _report("CSV share", _measure(csv_batch, args.workdir / "wh-csv", args.workers))
    for rows in [int(n) for n in args.huge_csv_rows.split(",") if n]:
        batch = _huge_csv_batch(args.workdir / f"huge-{rows}" / "inbox", rows, args.seed)
        size = sum(p.stat().st_size for p in batch.rglob("*.csv")) / 2**20
        result = _measure(batch, args.workdir / f"wh-huge-{rows}", 1)
        _report(f"one CSV file of {rows:,} rows ({size:,.0f} MB)", result)


def _generated_batch(workdir: Path, persons: int, seed: int, reuse: bool) -> Path:
    stamp = workdir / "generated.json"
    wanted = {"persons": persons, "seed": seed}
    if reuse and stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return next(p for p in sorted((workdir / "inbox").iterdir()) if p.is_dir())
    shutil.rmtree(workdir, ignore_errors=True)
    started = time.perf_counter()
    # In a child: Linux carries a process's peak RSS over fork and exec, so the
    # measuring children must not be forked from a process that generated data.
    code = (
        "import sys; from pathlib import Path; from synth import generate; "
        "s = generate(persons=int(sys.argv[1]), seed=int(sys.argv[2]), out=Path(sys.argv[3])); "
        "print(s.records, s.files, s.batches[0])"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(persons), str(seed), str(workdir)],
        capture_output=True,
        text=True,
        check=True,
    )
    records, files, batch = child.stdout.split()
    stamp.write_text(json.dumps(wanted))
    print(
        f"generated {persons:,} persons, {int(records):,} records in {files} files "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return workdir / "inbox" / batch


def _delimited_only(batch: Path, inbox: Path) -> Path:
    """Hard-link the batch's delimited text files into a batch of their own."""
    out = inbox / batch.name
    shutil.rmtree(inbox, ignore_errors=True)
    for path in sorted(batch.rglob("*")):
        if path.is_file() and path.suffix.lower() in DELIMITED_SUFFIXES:
            target = out / path.relative_to(batch)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
    return out


def _huge_csv_batch(inbox: Path, rows: int, seed: int) -> Path:
    """Write one province folder with a single UTF-8 CSV file of ``rows`` persons."""
    from synth import reference

    batch = inbox / "2021-06-15"
    path = batch / "001" / "ha_noi_toan_bo.csv"
    stamp = inbox.parent / "rows.txt"
    if path.exists() and stamp.exists() and stamp.read_text() == str(rows):
        return batch
    shutil.rmtree(inbox.parent, ignore_errors=True)
    path.parent.mkdir(parents=True)
    names, provinces = reference.names(), reference.provinces()
    rng = np.random.default_rng(seed)
    header = "Mã NK,Số hộ khẩu,Họ và tên,Ngày sinh,Giới tính,Nơi sinh,Địa chỉ thường trú\n"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(header)
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            family = np.array(names.family[0])[rng.integers(len(names.family[0]), size=n)]
            middle = np.array(names.middle_male[0])[rng.integers(len(names.middle_male[0]), size=n)]
            given = np.array(names.given_male[0])[rng.integers(len(names.given_male[0]), size=n)]
            place = np.array(provinces.names)[rng.integers(len(provinces.names), size=n)]
            frame = pl.DataFrame(
                {
                    "id": np.arange(start + 1, start + n + 1),
                    "household": rng.integers(1, rows // 4 + 2, size=n),
                    "name": [f"{a} {b} {c}" for a, b, c in zip(family, middle, given, strict=True)],
                    "dob": [
                        f"{d:02d}/{m:02d}/{y}"
                        for d, m, y in zip(
                            rng.integers(1, 29, size=n),
                            rng.integers(1, 13, size=n),
                            rng.integers(1930, 2020, size=n),
                            strict=True,
                        )
                    ],
                    "sex": np.where(rng.random(n) < 0.5, "Nam", "Nữ"),
                    "place": place,
                    "address": [
                        f"Số {k}, Tổ {k % 30 + 1}, {p}"
                        for k, p in zip(rng.integers(1, 999, size=n), place, strict=True)
                    ],
                }
            )
            out.write(frame.write_csv(include_header=False))
    stamp.write_text(str(rows))
    return batch


def _measure(batch: Path, warehouse: Path, workers: int) -> dict[str, object]:
    """Ingest a batch in a child process; return its figures."""
    shutil.rmtree(warehouse, ignore_errors=True)
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(batch), str(warehouse), str(workers)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def _ingest_batch(batch: Path, warehouse: Path, workers: int) -> dict[str, object]:
    """Child process: ingest every province of a batch, return counts, time and memory."""
    codes = plan_batch(batch, warehouse)
    # Largest province first, so a pool finishes together.
    codes.sort(key=lambda c: -sum(p.stat().st_size for p in (batch / c).iterdir()))
    staging = warehouse / "staging"
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(ingest_province, [batch] * len(codes), codes, [staging] * len(codes)))
    else:
        for code in codes:
            ingest_province(batch, code, staging)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    files = read_staged(staging, batch.name, "files", FILE_COUNT_SCHEMA)
    by_format = (
        files.with_columns(pl.col("source_file").str.extract(r"\.([a-z]+)$").alias("format"))
        .group_by("format")
        .agg(pl.col("rows_read").sum())
        .sort("format")
    )
    peak = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return {
        "rows": int(files["rows_read"].sum()),
        "files": files.height,
        "provinces": len(codes),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": peak / 1024,
        "by_format": dict(by_format.iter_rows()),
        "workers": workers,
        "load": os.getloadavg()[0],
    }


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (all threads)."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _report(label: str, r: dict[str, object]) -> None:
    rows, seconds = int(str(r["rows"])), float(str(r["seconds"]))
    peak, load = float(str(r["peak_rss_mb"])), float(str(r["load"]))
    cpu = float(str(r["cpu_seconds"]))
    formats = ", ".join(f"{k} {v:,}" for k, v in dict(r["by_format"]).items())  # type: ignore[call-overload]
    print(
        f"{label}: {rows:,} rows from {r['files']} files in {r['provinces']} provinces "
        f"in {seconds:.1f} s = {rows / seconds:,.0f} rows/s (CPU {cpu:.1f} s); "
        f"peak RSS {peak:,.0f} MB "
        f"(workers {r['workers']}, load {load:.1f})\n  rows by format: {formats}"
    )


if __name__ == "__main__":
    main()
