"""Hostile and large input files: what reading them costs (peak memory, time).

    .venv/bin/python bench/hostile_files.py [--dbf-mb 100] [--workdir /tmp/dancu-hostile]

Writes a DBF of about ``--dbf-mb`` MB (386,100 records of 259 bytes at 100 MB),
the corner workbook (cells A1 and XFD1048576), a zip-bomb workbook and a wide
workbook, then reads each in a fresh interpreter with ``pipelines.ingest.readers.read_file``
and prints the peak RSS of that interpreter, the time, and what happened. The
DBF is read piece by piece, so its peak is bounded by a piece (``fallback_rows``
records), not by the file.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_READ = r"""
import resource, sys, time
from pathlib import Path
from pipelines.ingest.readers import ReadLimits, UnreadableFileError, read_file
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
before = rss()
started = time.perf_counter()
try:
    rows = 0
    for table in read_file(Path(sys.argv[1]), ReadLimits(fallback_rows=int(sys.argv[2]))):
        for piece in table.pieces:
            rows += piece.height
    what = f"read {rows:,} rows"
except UnreadableFileError as err:
    what = f"quarantined: {str(err)[:110]}"
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"peak {peak:5.0f} MiB (+{peak - before:4.0f} over the imports) "
      f"{time.perf_counter() - started:6.2f} s  {what}")
"""


def main() -> None:
    """Write the files, read each in a fresh interpreter, print the figures."""
    from tests.hostile import corner_workbook, wide_workbook, write_dbf, zip_bomb_workbook

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dbf-mb", type=int, default=100)
    parser.add_argument("--rows-per-piece", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dancu-hostile"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    fields = [("MA_NK", 12), ("HO_TEN", 60), ("NGAY_SINH", 10), ("GIOI_TINH", 6),
              ("DIA_CHI", 120), ("CHU_HO", 50)]  # fmt: skip
    records = args.dbf_mb * 1_000_000 // (1 + sum(size for _, size in fields))
    row = [b"NK000123", b"Nguyen Van An", b"01/01/1990", b"Nam", b"So 1 Duong X", b"Nguyen Van B"]
    files = {
        "dbf": write_dbf(args.workdir / "big.dbf", fields, records, row),
        "corner xlsx": corner_workbook(args.workdir / "corner.xlsx"),
        "zip bomb xlsx": zip_bomb_workbook(args.workdir / "bomb.xlsx", megabytes=200),
        "wide xlsx": wide_workbook(args.workdir / "wide.xlsx"),
    }
    env = {"PYTHONPATH": str(REPO)}
    for label, path in files.items():
        size = path.stat().st_size
        done = subprocess.run(
            [sys.executable, "-c", _READ, str(path), str(args.rows_per_piece)],
            capture_output=True, text=True, env=env, cwd=REPO,
        )  # fmt: skip
        out = done.stdout.strip() or f"exit {done.returncode}: {done.stderr.strip()[-150:]}"
        print(f"{label:14s} {size / 1e6:9.3f} MB  {out}")


if __name__ == "__main__":
    main()
