"""Where the pipeline keeps its files, and how it writes them safely.

Layout of a warehouse directory::

    WAREHOUSE/registry.duckdb                   the registry (see registry.sql)
    WAREHOUSE/report.html                       the quality report
    WAREHOUSE/staging/<batch>/records/province_code=<code>/part.parquet
    WAREHOUSE/staging/<batch>/quarantine/province_code=<code>/part.parquet
    WAREHOUSE/staging/<batch>/files/province_code=<code>/part.parquet
    WAREHOUSE/staging/<batch>/match/{pairs,clusters}.parquet

Files are written by ``pipelines.warehouse.parquet``.
"""

from __future__ import annotations

from pathlib import Path

REGISTRY_FILE = "registry.duckdb"
REPORT_FILE = "report.html"


def staging_dir(warehouse: Path, batch_id: str) -> Path:
    """The staging folder of one batch."""
    return warehouse / "staging" / batch_id


def staging_part(staging: Path, batch_id: str, table: str, province_code: str) -> Path:
    """The Parquet part of one province for one staged table."""
    return staging / batch_id / table / f"province_code={province_code}" / "part.parquet"
