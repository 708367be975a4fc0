"""Ingest one province folder of a batch into standardised Parquet, piece by piece.

``ingest_province`` is the unit of work an Airflow mapped task runs: it reads
every file of ``inbox/<batch>/<province>/``, finds headers, sorts rows into
loaded persons, quarantined rows (with reason and original text) and skipped
non-person rows, standardises the loaded ones, and writes three Parquet parts
under the staging area. For every file: rows read = loaded + quarantined +
skipped, counting physical rows. A table (a text or DBF file, or one sheet of
a workbook) without a person header is quarantined on its own, row by row
(its blank rows skipped), and never takes the other sheets of its workbook
down. A file that cannot be read at all is quarantined whole (one entry: its
rows cannot be told apart) and the rest of the folder goes on.

There is one path, whatever the size: each piece a reader yields (a block of
text, a sheet, a DBF table; see ``ReadLimits``) is sorted, standardised and
written to a chunk, and only the local ids seen so far (to quarantine
repeats) and the quarantined rows stay in memory. The chunks are then
combined into the province's part, sorted by ``record_key``, with
``extras`` holding every extra column of the province (null where a row's
file has no such column), so the output does not depend on how the input
was cut into pieces.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from domain.reference import provinces
from domain.schema import FILE_COUNT_SCHEMA, QUARANTINE_SCHEMA, RECORD_SCHEMA
from domain.vntext import CONTROL_CHARACTERS
from pipelines.ingest.quarantine import (
    quarantine_rows,
    split_repeats,
    unreadable_file_entry,
)
from pipelines.ingest.readers import ReadLimits, UnreadableFileError, read_file
from pipelines.ingest.rows import RAW_PREFIX, table_parts, with_original_text
from pipelines.ingest.standardise import extras_json, standardise
from pipelines.warehouse.parquet import write_parquet_atomic
from pipelines.warehouse.paths import staging_part

_EXTRA = "extra:"


class UnknownProvinceError(ValueError):
    """A batch folder whose name is not a known 3-digit province code."""


@dataclass(frozen=True)
class IngestSummary:
    """What one province's ingest wrote (small enough to pass through XCom)."""

    batch_id: str
    province_code: str
    files: int
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    rows_skipped: int

    def to_dict(self) -> dict[str, str | int]:
        """Return the summary as a plain dict."""
        return dict(self.__dict__)


def batch_reference_date(batch_id: str) -> dt.date:
    """Return the date a batch describes, read from its folder name (``YYYY-MM-DD``).

    Falls back to today's date for a batch not named by a date; it only decides
    which birth dates count as being in the future.
    """
    match = re.match(r"^(\d{4})-?(\d{2})-?(\d{2})", batch_id)
    if match:
        try:
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    return dt.date.today()


def check_province_folder(name: str) -> str:
    """Return ``name`` if it is a known province code, else raise a clear error."""
    if name not in provinces():
        raise UnknownProvinceError(
            f"folder '{name}' is not a known 3-digit province code; nothing from it was loaded"
        )
    return name


def _printable(name: str) -> str:
    """A file name with its control characters shown as ``?`` (it reaches reports)."""
    return re.sub(CONTROL_CHARACTERS, "?", name)


def province_files(folder: Path) -> list[Path]:
    """Return the files (and links) of a province folder, sorted by name (hidden ones ignored).

    A symbolic link is returned as an entry, never followed: it is quarantined.
    """
    return sorted(
        p
        for p in folder.iterdir()
        if (p.is_symlink() or p.is_file()) and not p.name.startswith(".")
    )


@dataclass
class _Province:
    """What ingest keeps across the pieces of one province."""

    batch_id: str
    province_code: str
    reference: dt.date
    names: list[str]  # source_file of each file, by index
    work: Path  # folder of the record chunks
    chunks: list[Path] = field(default_factory=list)
    pending: list[pl.DataFrame] = field(default_factory=list)  # person rows not yet standardised
    flawed: list[pl.DataFrame] = field(default_factory=list)  # per file, in file order
    repeats: list[pl.DataFrame] = field(default_factory=list)  # repeated local ids
    seen: list[pl.DataFrame] = field(default_factory=list)  # first occurrences, per piece
    counts: list[dict[str, object]] = field(default_factory=list)


def ingest_province(
    batch_dir: Path, province_code: str, staging: Path, limits: ReadLimits | None = None
) -> IngestSummary:
    """Read, sort and standardise every file of one province folder of a batch.

    Args:
        batch_dir: ``inbox/<batch_id>``.
        province_code: the folder name inside ``batch_dir``.
        staging: the staging root of the warehouse; parts are written under
            ``staging/<batch_id>/{records,quarantine,files}/province_code=<code>/``.
        limits: the readers' memory limits (they never change the output).

    Returns:
        The counts written. Re-running overwrites the same parts.
    """
    return ingest_provinces(batch_dir, [province_code], staging, limits)[0]


def ingest_provinces(
    batch_dir: Path, province_codes: list[str], staging: Path, limits: ReadLimits | None = None
) -> list[IngestSummary]:
    """Ingest several province folders of a batch, one after the other, as ``ingest_province``.

    The person rows of the provinces read so far are standardised together,
    up to ``limits.standardise_rows`` rows (standardising is row by row, so
    the parts are the same as one province at a time: a small province's
    rows do not pay the fixed cost of a standardisation of their own). Each
    province's parts are written once its rows are standardised.
    """
    limits = limits or ReadLimits()
    summaries: list[IngestSummary] = []
    read: list[_Province] = []  # provinces read whole, not yet written
    state: _Province | None = None
    try:
        for code in province_codes:
            state, paths = _open_province(batch_dir, code, staging)
            for file_index, path in enumerate(paths):
                _ingest_file(state, path, file_index, limits)
                if _pending([*read, state]) >= limits.standardise_rows:
                    _flush_together([*read, state])
                    summaries += [_write_province(done, staging) for done in read]
                    read = []
            read.append(state)
            state = None
        _flush_together(read)
        summaries += [_write_province(done, staging) for done in read]
    finally:
        for left in [*read, *([state] if state else [])]:
            shutil.rmtree(left.work, ignore_errors=True)
    return summaries


def _open_province(
    batch_dir: Path, province_code: str, staging: Path
) -> tuple[_Province, list[Path]]:
    """Check a province folder, make its work folder; return its state and its files."""
    batch_id = batch_dir.name
    check_province_folder(province_code)
    folder = batch_dir / province_code
    if folder.is_symlink():
        raise UnknownProvinceError(f"province folder '{province_code}' is a symbolic link")
    paths = province_files(folder)
    records_part = staging_part(staging, batch_id, "records", province_code)
    work = records_part.parent / f".work-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    state = _Province(
        batch_id=batch_id,
        province_code=province_code,
        reference=batch_reference_date(batch_id),
        names=[_printable(path.relative_to(batch_dir).as_posix()) for path in paths],
        work=work,
    )
    return state, paths


def _write_province(state: _Province, staging: Path) -> IngestSummary:
    """Write a province's parts (its rows all standardised) and remove its work folder."""
    batch_id, province_code = state.batch_id, state.province_code
    quarantine = pl.concat(
        [q.select(list(QUARANTINE_SCHEMA)) for q in [*state.flawed, *state.repeats]]
        or [pl.DataFrame(schema=QUARANTINE_SCHEMA)],
        how="vertical",
    ).cast(QUARANTINE_SCHEMA)
    files = pl.DataFrame(state.counts, schema=FILE_COUNT_SCHEMA).sort("source_file")
    _combine(state.chunks, staging_part(staging, batch_id, "records", province_code))
    write_parquet_atomic(quarantine, staging_part(staging, batch_id, "quarantine", province_code))
    write_parquet_atomic(files, staging_part(staging, batch_id, "files", province_code))
    shutil.rmtree(state.work, ignore_errors=True)
    totals = files.select(pl.col("rows_read", "rows_loaded", "rows_skipped").sum()).row(0)
    return IngestSummary(
        batch_id=batch_id,
        province_code=province_code,
        files=files.height,
        rows_read=int(totals[0]),
        rows_loaded=int(totals[1]),
        rows_quarantined=quarantine.height,
        rows_skipped=int(totals[2]),
    )


def _ingest_file(state: _Province, path: Path, file_index: int, limits: ReadLimits) -> None:
    """Ingest one file piece by piece into ``state``; a file that cannot be read is one entry."""
    source_file = state.names[file_index]
    count: dict[str, object] = {
        "batch_id": state.batch_id,
        "province_code": state.province_code,
        "source_file": source_file,
        "source_encoding": None,
        "rows_read": 0,
        "rows_loaded": 0,
        "rows_quarantined": 0,
        "rows_skipped": 0,
    }
    people_pieces: list[pl.DataFrame] = []  # this file's person rows not yet standardised
    chunks: list[Path] = []  # this file's chunks written so far (a large file's)
    flawed: list[pl.DataFrame] = []
    repeats: list[pl.DataFrame] = []
    mine: list[pl.DataFrame] = []
    lineage = [
        pl.lit(state.batch_id).alias("batch_id"),
        pl.lit(state.province_code).alias("province_code"),
        pl.lit(source_file).alias("source_file"),
    ]
    read = skipped = loaded = 0
    try:
        if path.is_symlink():
            raise UnreadableFileError("a symbolic link; links are never followed, nothing was read")
        tables = read_file(path, limits)
        count["source_encoding"] = ",".join(sorted({t.encoding for t in tables}))
        for table in tables:
            for rows, _, skipped_here in table_parts(table):
                read += rows.height + skipped_here
                skipped += skipped_here
                if not rows.height:
                    continue
                rows = rows.rechunk().with_columns(lineage)
                bad = rows.filter(pl.col("_reason").is_not_null())
                flawed.append(quarantine_rows(with_original_text(bad), pl.col("_reason")))
                if bad.height == rows.height:  # nothing left (a table without a header)
                    continue
                people, repeated, new_ids = split_repeats(
                    rows.filter(pl.col("_reason").is_null()).drop("_reason"),
                    [*state.seen, *mine],
                    state.names,
                    file_index,
                )
                repeats.append(repeated)
                mine.append(new_ids)
                people_pieces.append(people)
                loaded += people.height
                if sum(p.height for p in people_pieces) >= limits.standardise_rows:
                    _flush(state)  # earlier files' rows: a chunk of their own
                    chunks.append(_write_chunk(state, people_pieces))
                    people_pieces = []
    except UnreadableFileError as err:
        # What the file gave before it failed is dropped: it is one quarantine entry.
        for chunk in chunks:
            chunk.unlink()
            state.chunks.remove(chunk)
        count.update(rows_read=1, rows_quarantined=1)
        entry = unreadable_file_entry(path, source_file, state.batch_id, state.province_code, err)
        state.flawed.append(entry)
        state.counts.append(count)
        return
    count.update(
        rows_read=read,
        rows_skipped=skipped,
        rows_loaded=loaded,
        rows_quarantined=sum(f.height for f in [*flawed, *repeats]),
    )
    state.pending += people_pieces
    state.flawed += flawed
    state.repeats += repeats
    state.seen += mine
    state.counts.append(count)


def _pending(states: list[_Province]) -> int:
    """Person rows read and not yet standardised, over ``states``."""
    return sum(p.height for state in states for p in state.pending)


def _flush(state: _Province) -> None:
    """Standardise the pending person rows (of files read whole) as one chunk."""
    if state.pending:
        _write_chunk(state, state.pending)
        state.pending = []


def _flush_together(states: list[_Province]) -> None:
    """Standardise the pending person rows of several provinces at once: a chunk for each.

    Each province's chunk has its own extra columns only (in order of first
    appearance, as ``_write_chunk`` gives them), so it is the chunk the
    province would have alone.
    """
    waiting = [state for state in states if state.pending]
    if len(waiting) <= 1:
        for state in waiting:
            _flush(state)
        return
    rows = pl.concat([p for state in waiting for p in state.pending], how="diagonal_relaxed")
    owner = pl.concat(
        [
            pl.repeat(i, p.height, dtype=pl.UInt32, eager=True)
            for i, state in enumerate(waiting)
            for p in state.pending
        ]
    )
    std = _standardised(rows, waiting[0].reference)
    record_columns = [c for c in RECORD_SCHEMA if c != "extras"]
    for i, state in enumerate(waiting):
        extras = list(
            dict.fromkeys(c for p in state.pending for c in p.columns if c.startswith(_EXTRA))
        )
        mine = std.filter(owner == i).select(*record_columns, *extras)
        _write(state, mine)
        state.pending = []


def _write(state: _Province, records: pl.DataFrame) -> Path:
    """Write standardised records as the province's next chunk."""
    chunk = state.work / f"chunk-{len(state.chunks):06d}.parquet"
    records.write_parquet(chunk, compression="zstd", statistics=True)
    state.chunks.append(chunk)
    return chunk


def _write_chunk(state: _Province, pieces: list[pl.DataFrame]) -> Path:
    """Standardise pieces of person rows together and write them as the next chunk.

    Standardisation is row by row, so rows of several pieces and files give
    the same records together as apart; ``extras`` is made in ``_combine``.
    """
    people = pl.concat(pieces, how="diagonal_relaxed")
    return _write(state, _standardised(people, state.reference))


def _standardised(rows: pl.DataFrame, reference: dt.date) -> pl.DataFrame:
    """Standardise person rows, of one province or several: record columns and ``extra:*`` ones.

    Lineage (batch, province, file) is read from the rows. ``extras`` is left
    null here: it is made over the whole province when the chunks are
    combined (``_combine``).
    """
    extras = [c for c in rows.columns if c.startswith(_EXTRA)]
    record_columns = [c for c in RECORD_SCHEMA if c != "extras"]
    if not rows.height:
        empty = pl.DataFrame(schema={c: RECORD_SCHEMA[c] for c in record_columns})
        return empty.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in extras)
    raw = rows.drop(
        "batch_id",
        "province_code",
        "_width",
        *extras,
        *(c for c in rows.columns if c.startswith(RAW_PREFIX)),
    ).rename({"source_file": "_file"})
    std = standardise(raw, reference)
    out = std.with_columns(
        pl.format("{}:{}", rows.get_column("province_code"), pl.col("local_id")).alias(
            "record_key"
        ),
        rows.get_column("batch_id").alias("batch_id"),
        rows.get_column("province_code").alias("province_code"),
        pl.col("_file").alias("source_file"),
        pl.col("_sheet").alias("source_sheet"),
        pl.col("_row").alias("source_row"),
        pl.col("_encoding").alias("source_encoding"),
    ).select(record_columns)
    out = out.cast({c: RECORD_SCHEMA[c] for c in record_columns})
    return pl.concat([out, rows.select(extras)], how="horizontal")


def _combine(chunks: list[Path], part: Path) -> None:
    """Combine record chunks into the province's part: extras over the province, sorted.

    ``extras`` is the JSON of every extra column any chunk has (in order of
    first appearance), so a record of one file shows the other files' extra
    columns as null, as it does when a province is read in one piece.
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    tmp = part.with_name(f".{part.name}.tmp-{os.getpid()}")
    if not chunks:
        pl.DataFrame(schema=RECORD_SCHEMA).write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, part)
        return
    extras: list[str] = []
    for chunk in chunks:
        extras += [
            n for n in pq.read_schema(chunk).names if n.startswith(_EXTRA) and n not in extras
        ]
    combined = pl.concat([pl.scan_parquet(c) for c in chunks], how="diagonal_relaxed")
    combined = (
        combined.with_columns(extras_json(extras))
        .select(list(RECORD_SCHEMA))
        .cast(RECORD_SCHEMA)
        .sort("record_key")
    )
    combined.sink_parquet(tmp, compression="zstd", statistics=True)
    os.replace(tmp, part)
