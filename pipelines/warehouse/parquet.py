"""Staged Parquet: read a staged table, write any frame safely.

Every write goes to a temporary name first and is renamed into place, so a
retried task overwrites its own output and a reader never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from pipelines.warehouse.paths import check_batch_name


def read_staged(
    staging: Path, batch_id: str, table: str, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """Read all province parts of a staged table (empty frame when there are none)."""
    root = staging / check_batch_name(batch_id) / table
    parts = sorted(root.glob("province_code=*/part.parquet"))
    if not parts:
        return pl.DataFrame(schema=schema)
    frame = pl.read_parquet(parts, hive_partitioning=False, glob=False)
    return frame.select(list(schema)).cast(schema)  # type: ignore[arg-type]


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
