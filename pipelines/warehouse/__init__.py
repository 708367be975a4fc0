"""The warehouse: the only code that opens DuckDB or lays out files.

``paths`` says where everything lives; ``parquet`` reads and writes staged
Parquet atomically; ``registry`` opens ``registry.duckdb`` and holds every
query of it; ``load`` writes a batch in one transaction; ``sql/`` holds the
registry's DDL, views and column comments.
"""

from pipelines.warehouse.load import BatchTables, load_batch, load_review, match_link_rows
from pipelines.warehouse.parquet import read_staged, write_parquet_atomic
from pipelines.warehouse.paths import REGISTRY_FILE, REPORT_FILE, staging_dir, staging_part
from pipelines.warehouse.registry import connect

__all__ = [
    "REGISTRY_FILE",
    "REPORT_FILE",
    "BatchTables",
    "connect",
    "load_batch",
    "load_review",
    "match_link_rows",
    "read_staged",
    "staging_dir",
    "staging_part",
    "write_parquet_atomic",
]
