"""Read one legacy export file into rows of text cells, whatever its format.

Readers know formats and encodings, nothing about columns: each returns the
physical rows of a file (or of each sheet) as lists of strings, with the row
number a clerk would see (line number, sheet row, DBF record number), and the
detected encoding. Header detection and value parsing come later.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.legacy_encoding import (
    UndecodableError,
    decode_tcvn3,
    decode_vni,
    detect_and_decode,
    detect_legacy_strings,
    repair_text,
)

#: File name endings each reader accepts.
DELIMITED_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm"})
DBF_SUFFIXES = frozenset({".dbf"})
SUPPORTED_SUFFIXES = DELIMITED_SUFFIXES | EXCEL_SUFFIXES | DBF_SUFFIXES

_DELIMITERS = (",", ";", "\t", "|")


class UnreadableFileError(ValueError):
    """A file that cannot be read at all; it is quarantined whole with this message."""


@dataclass(frozen=True)
class RawRow:
    """One physical row: its 1-based number in the file or sheet and its cells."""

    number: int
    cells: list[str | None]


@dataclass(frozen=True)
class RawTable:
    """The rows of one file, or of one sheet of a workbook."""

    sheet: str | None
    encoding: str
    rows: list[RawRow]


def read_file(path: Path) -> list[RawTable]:
    """Read a legacy export into raw tables (one per sheet; one for text and DBF).

    Raises:
        UnreadableFileError: the file is empty, truncated, not the format its
            name says, or not text in any known encoding.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFileError(f"unsupported file type '{suffix or path.name}'")
    if path.stat().st_size == 0:
        raise UnreadableFileError("empty file (0 bytes)")
    if suffix in DELIMITED_SUFFIXES:
        return [_read_delimited(path.read_bytes())]
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(path)
    return [_read_dbf(path)]


def _sniff_delimiter(text: str) -> str:
    """Pick the delimiter that splits the first lines most consistently."""
    lines = [line for line in text[:20000].splitlines()[:30] if line.strip()]
    if not lines:
        return ","
    best, best_score = ",", -1.0
    for delim in _DELIMITERS:
        counts = [line.count(delim) for line in lines]
        most = max(counts)
        if most == 0:
            continue
        # Lines with the modal count, weighted by how many fields they give.
        modal = max(set(counts), key=counts.count)
        score = counts.count(modal) * (modal + 1) if modal else 0.0
        if score > best_score:
            best, best_score = delim, score
    return best


def _read_delimited(data: bytes) -> RawTable:
    try:
        text, encoding = detect_and_decode(data)
    except UndecodableError as err:
        raise UnreadableFileError(f"not a text file: {err}") from err
    if not text.strip():
        raise UnreadableFileError("file holds no text")
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"')
    rows: list[RawRow] = []
    line = 1
    try:
        for cells in reader:
            rows.append(RawRow(number=line, cells=[c for c in cells]))
            line = reader.line_num + 1
    except csv.Error as err:
        raise UnreadableFileError(f"broken delimited text at line {line}: {err}") from err
    return RawTable(sheet=None, encoding=encoding, rows=rows)


def _read_excel(path: Path) -> list[RawTable]:
    import fastexcel

    try:
        workbook = fastexcel.read_excel(path)
        sheets = [
            (name, workbook.load_sheet(name, header_row=None, skip_rows=0, dtypes="string"))
            for name in workbook.sheet_names
        ]
    except Exception as err:  # fastexcel raises its own error types for broken workbooks
        raise UnreadableFileError(f"not a readable XLSX workbook: {err}") from err
    tables = []
    for name, sheet in sheets:
        frame = sheet.to_polars()
        cells = [frame.get_column(c).to_list() for c in frame.columns]
        # A sheet is usually typed in one font: decide on all its text first,
        # then column by column for sheets that mix fonts.
        legacy = detect_legacy_strings([v for col in cells for v in col if v])
        if legacy is not None:
            cells = [_repair(col, legacy) for col in cells]
            found = {legacy}
        else:
            labels = [detect_legacy_strings([v for v in col if v]) for col in cells]
            cells = [
                _repair(col, lab) if lab else col for col, lab in zip(cells, labels, strict=True)
            ]
            found = {lab for lab in labels if lab}
        encoding = "+".join(["xlsx", *sorted(found)])
        rows = [RawRow(number=i + 1, cells=[col[i] for col in cells]) for i in range(frame.height)]
        tables.append(RawTable(sheet=name, encoding=encoding, rows=rows))
    return tables


def _repair(values: list[str | None], encoding: str) -> list[str | None]:
    """Convert cells typed with a TCVN3/VNI font (read as cp1252 mojibake) to Unicode."""
    return [repair_text(v, encoding=encoding) if v else v for v in values]


def _read_dbf(path: Path) -> RawTable:
    from dbfread import DBF

    try:
        table = DBF(str(path), raw=True, ignore_missing_memofile=True)
        names = list(table.field_names)
        records = [[rec[n] for n in names] for rec in table]
    except Exception as err:  # dbfread raises plain errors on truncated headers
        raise UnreadableFileError(f"not a readable DBF table: {err}") from err
    sample = b"\n".join(v for rec in records[:5000] for v in rec if v and v.strip())
    try:
        _, encoding = detect_and_decode(sample) if sample else ("", "ascii")
    except UndecodableError as err:
        raise UnreadableFileError(f"DBF text is not in a known encoding: {err}") from err
    decode = _byte_decoder(encoding)
    # The field descriptors act as the header (row 0); records are numbered from 1.
    rows = [RawRow(number=0, cells=list(names))]
    rows.extend(
        RawRow(number=i + 1, cells=[decode(v).strip() if v else None for v in rec])
        for i, rec in enumerate(records)
    )
    return RawTable(sheet=None, encoding=encoding, rows=rows)


def _byte_decoder(encoding: str) -> Callable[[bytes], str]:
    if encoding == "tcvn3":
        return decode_tcvn3
    if encoding == "vni":
        return decode_vni
    codec = {"utf-8-sig": "utf-8", "utf-16": "utf-16", "ascii": "utf-8"}.get(encoding, encoding)
    return lambda b: unicodedata.normalize("NFC", b.decode(codec, errors="replace"))


def iter_rows(tables: list[RawTable]) -> Iterator[tuple[RawTable, RawRow]]:
    """Yield every physical row of every table, in file order."""
    for table in tables:
        for row in table.rows:
            yield table, row
