"""Quarantine rows and per-file counts: what ingest could not load, and the tally.

Every input row ends in the records, in quarantine (with its reason and its
original text) or among the skipped rows (blank, totals, repeated headers):
per file, rows read = loaded + quarantined + skipped. This module builds the
quarantine rows of each kind and the per-file counts, in the layouts of
``domain.schema``.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from domain.schema import FILE_COUNT_SCHEMA, QUARANTINE_SCHEMA
from pipelines.ingest.rows import with_original_text

#: Where the first occurrence of a local id was seen, compactly (see ``split_repeats``).
SEEN_SCHEMA = pl.Schema({"local_id": pl.String, "_file": pl.UInt32, "_line": pl.Int64})


def empty_quarantine() -> pl.DataFrame:
    """A quarantine frame with no rows."""
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def quarantine_rows(rows: pl.DataFrame, reason: pl.Expr) -> pl.DataFrame:
    """Quarantine rows of a piece (with lineage, ``_sheet``, ``_row``, ``_original``)."""
    return rows.select(
        "batch_id",
        "province_code",
        "source_file",
        pl.col("_sheet").alias("source_sheet"),
        pl.col("_row").alias("source_row"),
        reason.alias("reason"),
        pl.col("_original").alias("original_text"),
    )


def unreadable_file_entry(
    path: Path, source_file: str, batch_id: str, province_code: str, err: Exception
) -> pl.DataFrame:
    """The one quarantine row of a file that cannot be read, with its first bytes."""
    return pl.DataFrame(
        {
            "batch_id": [batch_id],
            "province_code": [province_code],
            "source_file": [source_file],
            "source_sheet": [None],
            "source_row": [None],
            "reason": [f"unreadable file: {err}"],
            "original_text": [_file_preview(path)],
        },
        schema=QUARANTINE_SCHEMA,
    )


def _file_preview(path: Path) -> str | None:
    """The first bytes of an unreadable file, shown safely."""
    if path.is_symlink():
        return None  # never followed: the link's target is not ours to show
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            return handle.read(200).decode("latin-1")
    except OSError as err:
        return f"<{err}>"


def rejected_folder(batch_id: str, name: str, reason: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A folder that is not a province: one quarantine entry and its count (read 1)."""
    quarantine = pl.DataFrame(
        [(batch_id, None, f"{name}/", None, None, reason, None)],
        schema=QUARANTINE_SCHEMA,
        orient="row",
    )
    files = pl.DataFrame(
        [(batch_id, name, f"{name}/", None, 1, 0, 1, 0)], schema=FILE_COUNT_SCHEMA, orient="row"
    )
    return quarantine, files


def split_repeats(
    rows: pl.DataFrame, seen: list[pl.DataFrame], names: list[str], file_index: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Person rows whose local_id was seen before (here or earlier) become quarantined repeats.

    The first row of a local id in the province is kept; later ones are
    quarantined with where the first one is. ``seen`` holds ``local_id``,
    ``_file`` (index into ``names``) and ``_line`` of each first occurrence:
    small integers, not text, so it stays compact. Each of its frames is
    probed with this piece's ids (hashed once, small) rather than hashing
    every id seen so far for every piece.

    Returns:
        (rows kept, quarantined repeats, the kept rows' ids with where they are).
    """
    ids = rows.get_column("local_id")
    wanted = ids.implode()
    hits = pl.concat(
        [f.filter(pl.col("local_id").is_in(wanted)) for f in seen]
        or [pl.DataFrame(schema=SEEN_SCHEMA)]
    )
    earlier = ids.is_in(hits.get_column("local_id").implode())
    repeat = earlier | ~ids.is_first_distinct()
    kept = rows.filter(~repeat)
    new_ids = kept.select(
        "local_id",
        pl.lit(file_index, dtype=pl.UInt32).alias("_file"),
        pl.col("_row").alias("_line"),
    )
    if not repeat.any():
        return kept, empty_quarantine(), new_ids
    repeated = rows.filter(repeat)
    firsts = pl.concat([hits, new_ids])
    firsts = firsts.select(
        "local_id",
        pl.format(
            "{}:{}", pl.col("_file").replace_strict(list(range(len(names))), names), pl.col("_line")
        ).alias("_first"),
    )
    repeated = repeated.join(firsts, on="local_id", how="left", maintain_order="left")
    repeats = quarantine_rows(
        with_original_text(repeated),
        pl.format("duplicate local_id {} (first at {})", pl.col("local_id"), pl.col("_first")),
    )
    return kept, repeats, new_ids
