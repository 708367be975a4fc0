"""Ingest one province folder of a batch into standardised Parquet.

``ingest_province`` is the unit of work an Airflow mapped task runs: it reads
every file of ``inbox/<batch>/<province>/``, finds headers, sorts rows into
loaded persons, quarantined rows (with reason and original text) and skipped
non-person rows, standardises the loaded ones, and writes three Parquet parts
under the staging area. For every file: rows read = loaded + quarantined +
skipped. A file that cannot be read is quarantined whole (one row) and the
rest of the folder goes on.

Rows are sorted with polars expressions over whole pieces of a table (no
Python loop per row); the original text of a row is written only for rows
that end in quarantine. A folder above ``STREAM_PROVINCE_BYTES`` is handed to
``pipelines.ingest_stream``, which works piece by piece in bounded memory.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.headers import MAX_TITLE_ROWS, Header, HeaderNotFoundError, find_header
from pipelines.readers import RawTable, UnreadableFileError, cell_columns, read_file, row_cells
from pipelines.refdata import provinces
from pipelines.schema import FILE_COUNT_SCHEMA, QUARANTINE_SCHEMA, RECORD_SCHEMA
from pipelines.standardise import standardise
from pipelines.storage import staging_part, write_parquet_atomic
from pipelines.vntext import fold

#: A province folder with more input than this is ingested piece by piece.
STREAM_PROVINCE_BYTES = 64 << 20
_TOTAL_ROW = re.compile(r"^(tong cong|tong so|cong|tong)\b")
_NAME_FIELDS = ("full_name", "family_name", "given_name")
_RAW = "_raw"
_JSON_FLAGS = {
    "escape": r'[\\"\n\r\t]',
    "control": r"[\x00-\x08\x0b\x0c\x0e-\x1f]",
}


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

    A folder holding more than :data:`STREAM_PROVINCE_BYTES` is ingested piece
    by piece in bounded memory (``pipelines.ingest_stream``).
    """
    batch_id = batch_dir.name
    check_province_folder(province_code)
    reference = batch_reference_date(batch_id)
    paths = province_files(batch_dir / province_code)
    if sum(p.stat().st_size for p in paths) > STREAM_PROVINCE_BYTES:
        from pipelines.ingest_stream import ingest_province_streamed

        counted = ingest_province_streamed(batch_dir, province_code, staging, paths, reference)
        return IngestSummary(batch_id, province_code, *counted)
    loaded: list[pl.DataFrame] = []
    quarantined: list[pl.DataFrame] = []
    counts: list[dict[str, object]] = []
    for path in paths:
        source_file = path.relative_to(batch_dir).as_posix()
        rows, bad, count = _ingest_file(path, source_file, batch_id, province_code)
        loaded.append(rows)
        quarantined.append(bad)
        counts.append(count)

    # One chunk per column: polars 2.1 can panic on string views spread over
    # many chunks (filter then format), and later steps are faster on one chunk.
    rows = pl.concat(loaded, how="diagonal_relaxed").rechunk() if loaded else pl.DataFrame()
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
        parts = [part for t in tables for part in _table_parts(t)]
    except (UnreadableFileError, HeaderNotFoundError) as err:
        count["rows_read"] = 1
        return (
            pl.DataFrame(),
            unreadable_file_entry(path, source_file, batch_id, province_code, err),
            count,
        )
    rows_read = sum(p.height for p, _, _ in parts)
    count["rows_read"] = rows_read + sum(skipped for _, _, skipped in parts)
    count["rows_skipped"] = sum(skipped for _, _, skipped in parts)
    frames = [p for p, _, _ in parts if p.height]
    rows = pl.concat(frames, how="diagonal_relaxed").rechunk() if frames else pl.DataFrame()
    if not rows.height:
        return rows, _empty_quarantine(), count
    rows = rows.with_columns(
        pl.lit(batch_id).alias("batch_id"),
        pl.lit(province_code).alias("province_code"),
        pl.lit(source_file).alias("source_file"),
    )
    bad_mask = pl.col("_reason").is_not_null()
    bad = with_original_text(rows.filter(bad_mask)).select(
        "batch_id",
        "province_code",
        "source_file",
        pl.col("_sheet").alias("source_sheet"),
        pl.col("_row").alias("source_row"),
        pl.col("_reason").alias("reason"),
        pl.col("_original").alias("original_text"),
    )
    return rows.filter(~bad_mask).drop("_reason"), bad, count


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


def _file_preview(path: Path) -> str:
    """The first bytes of an unreadable file, shown safely."""
    try:
        with path.open("rb") as handle:
            return handle.read(200).decode("latin-1")
    except OSError as err:
        return f"<{err}>"


def _table_parts(table: RawTable) -> Iterator[tuple[pl.DataFrame, Header, int]]:
    """Sort every piece of a table; yield (person rows, header, rows skipped) per piece.

    Person rows include the quarantined ones (``_reason`` set); skipped rows
    are only counted.

    Raises:
        HeaderNotFoundError: the table has no header row near its top.
    """
    first = next(table.pieces, None)
    header = find_header(row_cells(first.head(MAX_TITLE_ROWS)) if first is not None else [])
    assert first is not None  # find_header raised on an empty table
    body = first.slice(header.index + 1)
    for piece in itertools.chain([body], table.pieces):
        rows = sort_rows(piece, header).with_columns(
            pl.lit(table.sheet, dtype=pl.String).alias("_sheet"),
            pl.lit(table.encoding).alias("_encoding"),
        )
        kept = rows.filter(pl.col("_skip").is_null())
        yield kept.drop("_skip"), header, rows.height - kept.height


def sort_rows(piece: pl.DataFrame, header: Header) -> pl.DataFrame:
    """Name a piece's columns by field and sort its rows into persons, quarantine and junk.

    Args:
        piece: Rows below the header (``_row``, ``_width``, ``c1``..``cN``).
        header: The table's header.

    Returns:
        One trimmed text column per field (null when empty), ``extra:column_<n>``
        for cells beyond the header, ``_row``, ``_skip`` (why a row is not a
        person: blank, repeated header, totals, no name and no id), ``_reason``
        (why a person row is quarantined), and ``_width`` and ``_raw<n>``, the
        cells as read (see :func:`with_original_text`).
    """
    width = len(header.fields)
    present = cell_columns(piece)
    longest = max(width, len(present))
    fields = header.fields + [f"extra:column_{i + 1}" for i in range(width, longest)]
    header_cells = [c.strip().lower() for c in header.cells] + [""] * (longest - width)
    # A column with nothing to trim and no empty cell is used as it is (no copy).
    spaced = piece.select(
        pl.col(c).str.contains(r"^\s|\s$").fill_null(False).any() for c in present
    ).row(0)
    empty = piece.select((pl.col(c).str.len_bytes() == 0).any() for c in present).row(0)
    stripped: list[pl.Expr] = []
    for i in range(longest):
        if i >= len(present):
            stripped.append(pl.lit(None, dtype=pl.String))
            continue
        cell = pl.col(f"c{i + 1}")
        if spaced[i]:
            trimmed = cell.str.strip_chars()
            stripped.append(pl.when(trimmed != "").then(trimmed))
        else:
            stripped.append(pl.when(cell != "").then(cell) if empty[i] else cell)
    # The cells as read stay (without a copy) for the original text of rows
    # that end in quarantine; it is written only for those.
    frame = piece.select(
        "_row",
        "_width",
        *(pl.col(c).alias(f"{_RAW}{i + 1}") for i, c in enumerate(present)),
        *(cell.alias(field) for cell, field in zip(stripped, fields, strict=True)),
    )
    cells = [pl.col(f) for f in fields]
    filled = pl.sum_horizontal(c.is_not_null() for c in cells)
    same = pl.sum_horizontal(
        c.str.contains(f"(?i)^{_literal_regex(h)}$").fill_null(False)
        for c, h in zip(cells, header_cells, strict=True)
        if h
    )
    frame = frame.with_columns(
        _total_row_candidate(cells).alias("_total"),
    )
    frame = _confirm_totals(frame, fields)
    has_name = pl.any_horizontal(
        [pl.col(f).is_not_null() for f in fields if f in _NAME_FIELDS] or [pl.lit(False)]
    )
    has_id = pl.col("local_id").is_not_null() if "local_id" in fields else pl.lit(False)
    frame = frame.with_columns(
        pl.when(filled == 0)
        .then(pl.lit("blank row"))
        .when((same if any(header_cells) else pl.lit(0)) * 2 >= filled)
        .then(pl.lit("repeated header row"))
        .when(pl.col("_total"))
        .then(pl.lit("totals row"))
        .when(~has_name & ~has_id)
        .then(pl.lit("row with no name"))
        .alias("_skip"),
    ).with_columns(
        pl.when(pl.col("_skip").is_not_null())
        .then(None)
        .when(~has_name)
        .then(pl.lit("missing name"))
        .when(~has_id)
        .then(pl.lit("missing local_id (required)"))
        .alias("_reason"),
    )
    return frame.drop("_total")


def _total_row_candidate(cells: list[pl.Expr]) -> pl.Expr:
    """Rows with a cell starting with "tổng"/"tong": maybe a totals row (confirmed in Python)."""
    starts = [c.str.contains("(?i)^t(?:ổ|o)ng") for c in cells]
    return pl.any_horizontal(starts).fill_null(False) if starts else pl.lit(False)


def _confirm_totals(frame: pl.DataFrame, fields: list[str]) -> pl.DataFrame:
    """Keep ``_total`` only where a cell folds to a totals phrase (``Tổng cộng: ...``)."""
    candidates = frame.filter(pl.col("_total"))
    if not candidates.height:
        return frame
    confirmed = [
        row_number
        for row_number, *cells in candidates.select("_row", *fields).iter_rows()
        if any(
            c and c[:4].casefold() in ("tổng", "tong") and _TOTAL_ROW.match(fold(c)) for c in cells
        )
    ]
    return frame.with_columns(pl.col("_row").is_in(confirmed).alias("_total"))


def with_original_text(rows: pl.DataFrame) -> pl.DataFrame:
    """Add ``_original``: each row's cells as read, as ``json.dumps`` writes the list of them.

    Args:
        rows: Rows with ``_width`` and ``_raw1``..``_rawN`` (a missing cell is
            ``null``, cells past a row's width are left out).
    """
    raw = sorted((c for c in rows.columns if c.startswith(_RAW)), key=lambda c: int(c[len(_RAW) :]))
    flags = (
        rows.select(
            *(
                pl.col(c).str.contains(pattern).fill_null(False).any().alias(f"{c}/{kind}")
                for c in raw
                for kind, pattern in _JSON_FLAGS.items()
            )
        ).row(0, named=True)
        if rows.height
        else {}
    )
    width = pl.col("_width")
    parts = [pl.lit("[")]
    for i, name in enumerate(raw):
        text = _json_string(
            pl.col(name), flags.get(f"{name}/escape", False), flags.get(f"{name}/control", False)
        )
        if i:
            text = pl.concat_str([pl.lit(", "), text])
        parts.append(pl.when(width > i).then(text))
    parts.append(pl.lit("]"))
    return rows.with_columns(pl.concat_str(parts, ignore_nulls=True).alias("_original"))


def _json_string(cell: pl.Expr, escape: bool, control: bool) -> pl.Expr:
    """One cell as a JSON string (``null`` when missing), as json.dumps writes it.

    ``escape``: the column holds a backslash, quote, newline, carriage return or
    tab; ``control``: it holds another control character (then json.dumps
    itself writes each cell: rare and slow).
    """
    if control:
        text = cell.map_elements(
            lambda v: json.dumps(v, ensure_ascii=False), return_dtype=pl.String, skip_nulls=True
        )
    else:
        if escape:
            cell = (
                cell.str.replace_all("\\", "\\\\", literal=True)
                .str.replace_all('"', '\\"', literal=True)
                .str.replace_all("\n", "\\n", literal=True)
                .str.replace_all("\r", "\\r", literal=True)
                .str.replace_all("\t", "\\t", literal=True)
            )
        text = pl.concat_str([pl.lit('"'), cell, pl.lit('"')])
    return pl.when(cell.is_null()).then(pl.lit("null")).otherwise(text)


def _literal_regex(text: str) -> str:
    """A Rust regex matching ``text`` literally."""
    return "".join(c if c.isalnum() else f"\\x{{{ord(c):x}}}" for c in text)


def _split_duplicate_ids(
    rows: pl.DataFrame, batch_id: str, province_code: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the first row of each local_id in the province; quarantine the repeats."""
    if not rows.height:
        return rows, _empty_quarantine()
    # Only rows whose local_id occurs more than once need the window work.
    rows = rows.with_columns(pl.col("local_id").is_duplicated().alias("_shared"))
    shared = (
        rows.with_row_index("_i")
        .filter(pl.col("_shared"))
        .with_columns(pl.format("{}:{}", pl.col("source_file"), pl.col("_row")).alias("_where"))
        .with_columns(
            pl.col("_where").first().over("local_id", order_by="_i").alias("_first"),
            (pl.int_range(pl.len()).over("local_id", order_by="_i") > 0).alias("_repeat"),
        )
        .filter(pl.col("_repeat"))
    )
    repeats = with_original_text(shared).select(
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
    kept = rows.with_row_index("_i").filter(~pl.col("_i").is_in(shared["_i"].implode()))
    return kept.drop("_i", "_shared"), repeats


def _finish_records(
    rows: pl.DataFrame, batch_id: str, province_code: str, reference: dt.date
) -> pl.DataFrame:
    """Standardise loaded rows and give them the record layout with lineage."""
    if not rows.height:
        return pl.DataFrame(schema=RECORD_SCHEMA)
    raw = rows.drop(
        "batch_id", "province_code", "_width", *(c for c in rows.columns if c.startswith(_RAW))
    ).rename({"source_file": "_file"})
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
