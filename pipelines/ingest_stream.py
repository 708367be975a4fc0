"""Ingest a very large province folder piece by piece, in bounded memory.

``pipelines.ingest.ingest_province`` holds a province's rows in memory until
they are standardised and written: memory grows with the province. Above
:data:`pipelines.ingest.STREAM_PROVINCE_BYTES` of input it hands over to this
module, which standardises and writes each piece a reader yields (a block of
at most ``pipelines.readers.BLOCK_BYTES`` of text, a sheet, a DBF table) and
keeps across pieces only the local ids seen so far (to quarantine repeats) and
the quarantined rows. Memory is then bounded by one piece plus those ids.

The rows, counts and reasons are the ones the in-memory path gives, with two
differences: records are written in file order (sorted by ``record_key``
within a piece) rather than sorted over the province, and a record's
``extras`` hold only the extra columns of its own file.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipelines.headers import HeaderNotFoundError
from pipelines.readers import UnreadableFileError, read_file
from pipelines.schema import FILE_COUNT_SCHEMA, QUARANTINE_SCHEMA
from pipelines.storage import staging_part, write_parquet_atomic

_SEEN_SCHEMA = {"local_id": pl.String, "_file": pl.UInt32, "_line": pl.Int64}


def ingest_province_streamed(
    batch_dir: Path, province_code: str, staging: Path, paths: list[Path], reference: dt.date
) -> tuple[int, int, int, int, int]:
    """Ingest the files of one province piece by piece; write the same three parts.

    Returns:
        Files, rows read, loaded, quarantined and skipped.
    """
    batch_id = batch_dir.name
    records_part = staging_part(staging, batch_id, "records", province_code)
    work = records_part.parent / f".work-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    seen: list[pl.DataFrame] = []  # first occurrences, one frame per piece
    names = [path.relative_to(batch_dir).as_posix() for path in paths]
    quarantined: list[pl.DataFrame] = []
    counts: list[dict[str, object]] = []
    chunks: list[Path] = []
    try:
        for file_index, path in enumerate(paths):
            count, file_chunks, file_bad, file_seen = _ingest_file_streamed(
                path, names, file_index, batch_id, province_code, reference, seen, work, len(chunks)
            )
            counts.append(count)
            chunks += file_chunks
            quarantined += file_bad
            seen += file_seen
        quarantine = pl.concat(
            [q.select(list(QUARANTINE_SCHEMA)) for q in quarantined], how="vertical"
        ).cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]
        files = pl.DataFrame(counts, schema=FILE_COUNT_SCHEMA).sort("source_file")
        _combine(chunks, records_part)
        write_parquet_atomic(
            quarantine, staging_part(staging, batch_id, "quarantine", province_code)
        )
        write_parquet_atomic(files, staging_part(staging, batch_id, "files", province_code))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    totals = files.select(pl.col("rows_read", "rows_loaded", "rows_skipped").sum()).row(0)
    return files.height, int(totals[0]), int(totals[1]), quarantine.height, int(totals[2])


def _ingest_file_streamed(
    path: Path,
    names: list[str],
    file_index: int,
    batch_id: str,
    province_code: str,
    reference: dt.date,
    seen: list[pl.DataFrame],
    work: Path,
    first_chunk: int,
) -> tuple[dict[str, object], list[Path], list[pl.DataFrame], list[pl.DataFrame]]:
    """One file: (counts, record chunks written, quarantined rows, ids it adds to ``seen``)."""
    source_file = names[file_index]
    from pipelines.ingest import (
        _finish_records,
        _table_parts,
        unreadable_file_entry,
        with_original_text,
    )

    count: dict[str, object] = {
        "batch_id": batch_id,
        "province_code": province_code,
        "source_file": source_file,
        "source_encoding": None,
        "rows_read": 0,
        "rows_loaded": 0,
        "rows_quarantined": 0,
        "rows_skipped": 0,
    }
    chunks: list[Path] = []
    bad: list[pl.DataFrame] = []
    mine: list[pl.DataFrame] = []
    lineage = [
        pl.lit(batch_id).alias("batch_id"),
        pl.lit(province_code).alias("province_code"),
        pl.lit(source_file).alias("source_file"),
    ]
    try:
        tables = read_file(path)
        count["source_encoding"] = ",".join(sorted({t.encoding for t in tables}))
        for table in tables:
            for rows, _, skipped in _table_parts(table):
                count["rows_read"] = int(str(count["rows_read"])) + rows.height + skipped
                count["rows_skipped"] = int(str(count["rows_skipped"])) + skipped
                rows = rows.rechunk().with_columns(lineage)
                flawed = rows.filter(pl.col("_reason").is_not_null())
                bad.append(_quarantine_rows(with_original_text(flawed), pl.col("_reason")))
                people, repeats, new_ids = _split_repeats(
                    rows.filter(pl.col("_reason").is_null()).drop("_reason"),
                    [*seen, *mine],
                    names,
                    file_index,
                )
                bad.append(repeats)
                mine.append(new_ids)
                records = _finish_records(people, batch_id, province_code, reference)
                chunk = work / f"chunk-{first_chunk + len(chunks):06d}.parquet"
                records.write_parquet(chunk, compression="zstd", statistics=True)
                chunks.append(chunk)
                count["rows_loaded"] = int(str(count["rows_loaded"])) + records.height
    except (UnreadableFileError, HeaderNotFoundError) as err:
        for chunk in chunks:
            chunk.unlink()
        count.update(rows_read=1, rows_loaded=0, rows_skipped=0, rows_quarantined=1)
        entry = unreadable_file_entry(path, source_file, batch_id, province_code, err)
        return count, [], [entry], []
    count["rows_quarantined"] = sum(b.height for b in bad)
    return count, chunks, bad, mine


def _quarantine_rows(rows: pl.DataFrame, reason: pl.Expr) -> pl.DataFrame:
    return rows.select(
        "batch_id",
        "province_code",
        "source_file",
        pl.col("_sheet").alias("source_sheet"),
        pl.col("_row").alias("source_row"),
        reason.alias("reason"),
        pl.col("_original").alias("original_text"),
    )


def _split_repeats(
    rows: pl.DataFrame, seen: list[pl.DataFrame], names: list[str], file_index: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Person rows whose local_id was seen before (here or earlier) become quarantined repeats.

    ``seen`` holds ``local_id``, ``_file`` (index into ``names``) and ``_line``
    of each first occurrence: small integers, not text, so it stays compact.
    Each of its frames is probed with this piece's ids (hashed once, small)
    rather than hashing every id seen so far for every piece.

    Returns:
        (rows kept, quarantined repeats, the kept rows' ids with where they are).
    """
    from pipelines.ingest import with_original_text

    ids = rows.get_column("local_id")
    wanted = ids.implode()
    hits = pl.concat(
        [f.filter(pl.col("local_id").is_in(wanted)) for f in seen]
        or [pl.DataFrame(schema=_SEEN_SCHEMA)]
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
        return kept, pl.DataFrame(schema=QUARANTINE_SCHEMA), new_ids
    repeated = rows.filter(repeat)
    firsts = pl.concat([hits, new_ids])
    firsts = firsts.select(
        "local_id",
        pl.format(
            "{}:{}", pl.col("_file").replace_strict(list(range(len(names))), names), pl.col("_line")
        ).alias("_first"),
    )
    repeated = repeated.join(firsts, on="local_id", how="left", maintain_order="left")
    repeats = _quarantine_rows(
        with_original_text(repeated),
        pl.format("duplicate local_id {} (first at {})", pl.col("local_id"), pl.col("_first")),
    )
    return kept, repeats, new_ids


def _combine(chunks: list[Path], part: Path) -> None:
    """Concatenate record chunks into one Parquet part, one row group at a time."""
    from pipelines.schema import RECORD_SCHEMA

    part.parent.mkdir(parents=True, exist_ok=True)
    tmp = part.with_name(f".{part.name}.tmp-{os.getpid()}")
    if not chunks:
        pl.DataFrame(schema=RECORD_SCHEMA).write_parquet(tmp, compression="zstd")
    else:
        with pq.ParquetWriter(tmp, pq.read_schema(chunks[0]), compression="zstd") as writer:
            for chunk in chunks:
                source = pq.ParquetFile(chunk)
                for group in range(source.num_row_groups):
                    writer.write_table(source.read_row_group(group))
    os.replace(tmp, part)
