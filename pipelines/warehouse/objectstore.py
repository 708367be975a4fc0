"""The staged tables on object storage (S3-compatible), through polars' own object store.

Workers on several hosts must see one warehouse. The staged Parquet (one part
per province and table, ``paths``' layout) can live in a bucket: polars writes
and scans ``s3://`` URLs itself (``object_store``, no fsspec), with the
credentials and endpoint in ``storage_options`` (``aws_endpoint_url``,
``aws_access_key_id``, ``aws_secret_access_key``, ``aws_region``,
``aws_allow_http``) or in the usual ``AWS_*`` environment variables. DuckDB
takes the frames read from there through Arrow. ``registry.duckdb`` itself
cannot live on object storage (DuckDB attaches ``s3://`` only with its httpfs
extension, which cannot be installed offline): it stays on a path the loading
task sees. See docs/scale.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

#: The staged tables a batch's later stages read.
STAGED_TABLES = ("records", "quarantine", "files")


def staged_url(base: str, batch_id: str, table: str, province_code: str | None = None) -> str:
    """Where a staged table (or one province's part of it) lives under ``base``."""
    url = f"{base.rstrip('/')}/staging/{batch_id}/{table}"
    return url if province_code is None else f"{url}/province_code={province_code}/part.parquet"


def publish_staged(
    staging: Path, batch_id: str, base: str, storage_options: Mapping[str, str] | None = None
) -> int:
    """Copy a batch's staged tables under ``base`` (``s3://bucket/warehouse``); return the parts.

    Each part is written whole by one request, so a reader never sees half a
    part; a retried copy overwrites the same keys.
    """
    parts = 0
    for table in STAGED_TABLES:
        for part in sorted((staging / batch_id / table).glob("province_code=*/part.parquet")):
            code = part.parent.name.removeprefix("province_code=")
            pl.read_parquet(part).write_parquet(
                staged_url(base, batch_id, table, code),
                compression="zstd",
                statistics=True,
                storage_options=dict(storage_options or {}),
            )
            parts += 1
    return parts


def read_staged_remote(
    base: str,
    batch_id: str,
    table: str,
    schema: Mapping[str, pl.DataType],
    storage_options: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Read all province parts of a staged table under ``base``, as ``read_staged`` does locally.

    Parts are read in the order of their keys, as ``read_staged`` reads the
    sorted paths, so both give the same frame.
    """
    url = staged_url(base, batch_id, table) + "/province_code=*/part.parquet"
    try:
        frame = pl.scan_parquet(
            url, hive_partitioning=False, storage_options=dict(storage_options or {})
        ).collect()
    except (FileNotFoundError, pl.exceptions.ComputeError) as err:
        if "expanded paths were empty" not in str(err) and isinstance(
            err, pl.exceptions.ComputeError
        ):
            raise
        return pl.DataFrame(schema=dict(schema))  # no part at all
    return frame.select(list(schema)).cast(dict(schema))  # type: ignore[arg-type]
