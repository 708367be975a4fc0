"""Ingest one province folder of a batch into standardised Parquet.

``ingest_province`` is the unit of work an Airflow mapped task runs: it reads
every file of ``inbox/<batch>/<province>/``, finds headers, sorts rows into
loaded persons, quarantined rows (with reason and original text) and skipped
non-person rows, standardises the loaded ones, and writes three Parquet parts
under the staging area. For every file: rows read = loaded + quarantined +
skipped. A file that cannot be read is quarantined whole (one row) and the
rest of the folder goes on.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.headers import HeaderNotFoundError, find_header
from pipelines.readers import RawTable, UnreadableFileError, read_file
from pipelines.refdata import provinces
from pipelines.schema import FILE_COUNT_SCHEMA, QUARANTINE_SCHEMA, RECORD_SCHEMA
from pipelines.standardise import standardise
from pipelines.storage import staging_part, write_parquet_atomic
from pipelines.vntext import fold

_TOTAL_ROW = re.compile(r"^(tong cong|tong so|cong|tong)\b")
_NAME_FIELDS = ("full_name", "family_name", "given_name")


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


def province_files(folder: Path) -> list[Path]:
    """Return the files of a province folder, sorted by name (hidden files ignored)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def ingest_province(batch_dir: Path, province_code: str, staging: Path) -> IngestSummary:
    """Read, sort and standardise every file of one province folder of a batch.

    Args:
        batch_dir: ``inbox/<batch_id>``.
        province_code: the folder name inside ``batch_dir``.
        staging: the staging root of the warehouse; parts are written under
            ``staging/<batch_id>/{records,quarantine,files}/province_code=<code>/``.

    Returns:
        The counts written. Re-running overwrites the same parts.
    """
    batch_id = batch_dir.name
    check_province_folder(province_code)
    reference = batch_reference_date(batch_id)
    loaded: list[pl.DataFrame] = []
    quarantined: list[pl.DataFrame] = []
    counts: list[dict[str, object]] = []
    for path in province_files(batch_dir / province_code):
        source_file = path.relative_to(batch_dir).as_posix()
        rows, bad, count = _ingest_file(path, source_file, batch_id, province_code)
        loaded.append(rows)
        quarantined.append(bad)
        counts.append(count)

    rows = pl.concat(loaded, how="diagonal_relaxed") if loaded else pl.DataFrame()
    rows, duplicates = _split_duplicate_ids(rows, batch_id, province_code)
    quarantined.append(duplicates)
    records = _finish_records(rows, batch_id, province_code, reference)
    quarantine = pl.concat(
        [q.select(list(QUARANTINE_SCHEMA)) for q in quarantined], how="vertical"
    ).cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]
    files = _file_counts(counts, records, quarantine)

    for name, frame in (("records", records), ("quarantine", quarantine), ("files", files)):
        write_parquet_atomic(frame, staging_part(staging, batch_id, name, province_code))
    return IngestSummary(
        batch_id=batch_id,
        province_code=province_code,
        files=files.height,
        rows_read=int(files.get_column("rows_read").sum()),
        rows_loaded=records.height,
        rows_quarantined=quarantine.height,
        rows_skipped=int(files.get_column("rows_skipped").sum()),
    )


def _empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def _ingest_file(
    path: Path, source_file: str, batch_id: str, province_code: str
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, object]]:
    """Return the person rows (raw text), the quarantined rows and the counts of a file."""
    count: dict[str, object] = {
        "batch_id": batch_id,
        "province_code": province_code,
        "source_file": source_file,
        "source_encoding": None,
        "rows_read": 0,
        "rows_skipped": 0,
    }
    try:
        tables = read_file(path)
        count["source_encoding"] = ",".join(sorted({t.encoding for t in tables}))
        parts = [_table_rows(t) for t in tables]
    except (UnreadableFileError, HeaderNotFoundError) as err:
        count["rows_read"] = 1
        bad = pl.DataFrame(
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
        return pl.DataFrame(), bad, count
    frames = [p for p in parts if p.height]
    rows = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    count["rows_read"] = rows.height
    if not rows.height:
        return rows, _empty_quarantine(), count
    rows = rows.with_columns(
        pl.lit(batch_id).alias("batch_id"),
        pl.lit(province_code).alias("province_code"),
        pl.lit(source_file).alias("source_file"),
    )
    count["rows_skipped"] = int(rows.get_column("_skip").is_not_null().sum())
    rows = rows.filter(pl.col("_skip").is_null())
    bad_mask = pl.col("_reason").is_not_null()
    bad = rows.filter(bad_mask).select(
        "batch_id",
        "province_code",
        "source_file",
        pl.col("_sheet").alias("source_sheet"),
        pl.col("_row").alias("source_row"),
        pl.col("_reason").alias("reason"),
        pl.col("_original").alias("original_text"),
    )
    return rows.filter(~bad_mask), bad, count


def _file_preview(path: Path) -> str:
    """The first bytes of an unreadable file, shown safely."""
    try:
        return path.read_bytes()[:200].decode("latin-1")
    except OSError as err:
        return f"<{err}>"


def _table_rows(table: RawTable) -> pl.DataFrame:
    """Turn a raw table into one text column per field, with lineage and row sorting.

    Adds ``_skip`` (why a row is not a person: blank, repeated header, totals,
    no name and no id) and ``_reason`` (why a person row is quarantined).
    """
    header = find_header(table)
    width = len(header.fields)
    body = table.rows[header.index + 1 :]
    longest = max([width, *(len(r.cells) for r in body)])
    fields = header.fields + [f"extra:column_{i + 1}" for i in range(width, longest)]
    header_cells = [c.strip().casefold() for c in header.cells] + [""] * (longest - width)
    name_at = [i for i, f in enumerate(fields) if f in _NAME_FIELDS]
    id_at = fields.index("local_id") if "local_id" in fields else None
    columns: list[list[str | None]] = [[] for _ in fields]
    skips: list[str | None] = []
    reasons: list[str | None] = []
    originals: list[str] = []
    for row in body:
        cells = [c.strip() if c else None for c in row.cells]
        cells = [c or None for c in cells] + [None] * (longest - len(cells))
        for column, cell in zip(columns, cells, strict=True):
            column.append(cell)
        originals.append(json.dumps(row.cells, ensure_ascii=False))
        skip, reason = _sort_row(cells, header_cells, name_at, id_at)
        skips.append(skip)
        reasons.append(reason)
    data: dict[str, list[str | None] | list[int] | list[str]] = dict(
        zip(fields, columns, strict=True)
    )
    data.update(_row=[r.number for r in body], _skip=skips, _reason=reasons, _original=originals)
    schema: dict[str, pl.DataType] = {name: pl.String() for name in fields}
    schema.update(_row=pl.Int64(), _skip=pl.String(), _reason=pl.String(), _original=pl.String())
    frame = pl.DataFrame(data, schema=schema)
    return frame.with_columns(
        pl.lit(table.sheet, dtype=pl.String).alias("_sheet"),
        pl.lit(table.encoding).alias("_encoding"),
    )


def _sort_row(
    cells: list[str | None], header_cells: list[str], name_at: list[int], id_at: int | None
) -> tuple[str | None, str | None]:
    """Return (skip reason, quarantine reason) for one row of trimmed cells."""
    filled = [c for c in cells if c]
    if not filled:
        return "blank row", None
    same = sum(1 for c, h in zip(cells, header_cells, strict=True) if c and c.casefold() == h)
    if same * 2 >= len(filled):
        return "repeated header row", None
    if any(c[:4].casefold() in ("tổng", "tong") and _TOTAL_ROW.match(fold(c)) for c in filled):
        return "totals row", None
    has_name = any(cells[i] for i in name_at)
    has_id = id_at is not None and bool(cells[id_at])
    if not has_name and not has_id:
        return "row with no name", None
    if not has_name:
        return None, "missing name"
    if not has_id:
        return None, "missing local_id (required)"
    return None, None


def _split_duplicate_ids(
    rows: pl.DataFrame, batch_id: str, province_code: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the first row of each local_id in the province; quarantine the repeats."""
    if not rows.height:
        return rows, _empty_quarantine()
    rows = rows.with_columns(
        pl.format("{}:{}", pl.col("source_file"), pl.col("_row")).alias("_where")
    ).with_columns(
        pl.col("_where").first().over("local_id", order_by=pl.int_range(pl.len())).alias("_first"),
        (pl.int_range(pl.len()).over("local_id") > 0).alias("_repeat"),
    )
    repeats = rows.filter(pl.col("_repeat")).select(
        "batch_id",
        "province_code",
        "source_file",
        pl.col("_sheet").alias("source_sheet"),
        pl.col("_row").alias("source_row"),
        pl.format(
            "duplicate local_id {} (first at {})", pl.col("local_id"), pl.col("_first")
        ).alias("reason"),
        pl.col("_original").alias("original_text"),
    )
    return rows.filter(~pl.col("_repeat")).drop("_where", "_first", "_repeat"), repeats


def _finish_records(
    rows: pl.DataFrame, batch_id: str, province_code: str, reference: dt.date
) -> pl.DataFrame:
    """Standardise loaded rows and give them the record layout with lineage."""
    if not rows.height:
        return pl.DataFrame(schema=RECORD_SCHEMA)
    raw = rows.drop("batch_id", "province_code", "_skip", "_reason", "_original").rename(
        {"source_file": "_file"}
    )
    std = standardise(raw, reference)
    out = std.with_columns(
        pl.format("{}:{}", pl.lit(province_code), pl.col("local_id")).alias("record_key"),
        pl.lit(batch_id).alias("batch_id"),
        pl.lit(province_code).alias("province_code"),
        pl.col("_file").alias("source_file"),
        pl.col("_sheet").alias("source_sheet"),
        pl.col("_row").alias("source_row"),
        pl.col("_encoding").alias("source_encoding"),
    )
    return out.select(list(RECORD_SCHEMA)).cast(RECORD_SCHEMA).sort("record_key")  # type: ignore[arg-type]


def _file_counts(
    counts: list[dict[str, object]], records: pl.DataFrame, quarantine: pl.DataFrame
) -> pl.DataFrame:
    """Per file: rows read, loaded, quarantined, skipped."""
    if not counts:
        return pl.DataFrame(schema=FILE_COUNT_SCHEMA)
    base = pl.DataFrame(counts, schema={k: FILE_COUNT_SCHEMA[k] for k in counts[0]})
    loaded = records.group_by("source_file").agg(pl.len().alias("rows_loaded"))
    bad = quarantine.group_by("source_file").agg(pl.len().alias("rows_quarantined"))
    out = (
        base.join(loaded, on="source_file", how="left")
        .join(bad, on="source_file", how="left")
        .with_columns(pl.col("rows_loaded", "rows_quarantined").fill_null(0))
    )
    return out.select(list(FILE_COUNT_SCHEMA)).cast(FILE_COUNT_SCHEMA).sort("source_file")  # type: ignore[arg-type]
