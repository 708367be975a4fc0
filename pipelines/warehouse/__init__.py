"""The warehouse: the only code that opens DuckDB or lays out files.

``paths`` says where everything lives and keeps every path inside the
warehouse; ``lock`` lets one writer in at a time; ``parquet`` reads and
writes staged Parquet atomically; ``registry`` opens the encrypted
``registry.duckdb`` and holds every query of it; ``load`` writes a batch in
one transaction; ``audit`` hash-chains the append-only tables; ``analyst``
writes the analysts' minimised ``analyst.duckdb``; ``sql/`` holds the DDL,
views and column comments.
"""

from pipelines.warehouse.load import BatchTables, load_batch, load_review, match_link_rows
from pipelines.warehouse.lock import WarehouseLockedError, warehouse_lock
from pipelines.warehouse.parquet import read_staged, write_parquet_atomic
from pipelines.warehouse.paths import (
    ANALYST_FILE,
    REGISTRY_FILE,
    REPORT_FILE,
    Retention,
    UnsafePathError,
    check_batch_name,
    inside,
    private_dir,
    private_files,
    rejected_part,
    staging_dir,
    staging_part,
)
from pipelines.warehouse.registry import KeyMismatchError, connect

__all__ = [
    "ANALYST_FILE",
    "REGISTRY_FILE",
    "REPORT_FILE",
    "BatchTables",
    "KeyMismatchError",
    "Retention",
    "UnsafePathError",
    "WarehouseLockedError",
    "check_batch_name",
    "connect",
    "inside",
    "load_batch",
    "load_review",
    "match_link_rows",
    "private_dir",
    "private_files",
    "read_staged",
    "rejected_part",
    "staging_dir",
    "staging_part",
    "warehouse_lock",
    "write_parquet_atomic",
]
