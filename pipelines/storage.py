"""Where the pipeline keeps its files, and how it writes them safely.

Layout of a warehouse directory::

    WAREHOUSE/registry.duckdb                   the registry (see registry.sql)
    WAREHOUSE/report.html                       the quality report
    WAREHOUSE/staging/<batch>/records/province_code=<code>/part.parquet
    WAREHOUSE/staging/<batch>/quarantine/province_code=<code>/part.parquet
    WAREHOUSE/staging/<batch>/files/province_code=<code>/part.parquet
    WAREHOUSE/staging/<batch>/match/{pairs,clusters}.parquet

Every write goes to a temporary name first and is renamed into place, so a
retried task overwrites its own output and a reader never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

REGISTRY_FILE = "registry.duckdb"
REPORT_FILE = "report.html"


def staging_dir(warehouse: Path, batch_id: str) -> Path:
    """The staging folder of one batch."""
    return warehouse / "staging" / batch_id


def staging_part(staging: Path, batch_id: str, table: str, province_code: str) -> Path:
    """The Parquet part of one province for one staged table."""
    return staging / batch_id / table / f"province_code={province_code}" / "part.parquet"


def read_staged(
    staging: Path, batch_id: str, table: str, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """Read all province parts of a staged table (empty frame when there are none)."""
    root = staging / batch_id / table
    parts = sorted(root.glob("province_code=*/part.parquet"))
    if not parts:
        return pl.DataFrame(schema=schema)
    frame = pl.read_parquet(parts, hive_partitioning=False)
    return frame.select(list(schema)).cast(schema)  # type: ignore[arg-type]


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    frame.write_parquet(tmp, compression="zstd", statistics=True)
    os.replace(tmp, path)
    return path
