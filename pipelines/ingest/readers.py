"""Read one legacy export file into frames of text cells, whatever its format.

Readers know formats and encodings, nothing about columns: each returns the
physical rows of a file (or of each sheet) as a polars frame of text cells
``c1``, ``c2``, ... (null where a row has no such cell), with ``_row``, the
row number a clerk would see (line number, sheet row, DBF record number), and
``_width``, how many cells the row has. Header detection and value parsing
come later.

Delimited text is decoded and split into rows with polars, block by block, so
a very large file is read in bounded memory; a block whose quoting the fast
path cannot prove it splits exactly (a quoted field spanning lines, a stray
quote, a lone carriage return) is parsed from there on by Python's ``csv``
module, which has the last word on RFC 4180.

A workbook is checked before any reader sees it (``xlsx_check``: the cells'
bounding box, the zip's ratio and sizes) and then read in a child process
with a memory and time limit (``isolation``), so a hostile workbook is
quarantined and never takes the batch down. A DBF table is read record by
record in pieces of ``ReadLimits.fallback_rows``, so its memory is bounded by
a piece, not by the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from domain.legacy_encoding import (
    UndecodableError,
    decode_tcvn3,
    decode_vni,
    detect_and_decode,
    detect_legacy_strings,
    repair_text,
)
from pipelines.ingest.isolation import ReaderCrashedError, read_workbook_sheets
from pipelines.ingest.xlsx_check import HostileWorkbookError, check_workbook

#: File name endings each reader accepts.
DELIMITED_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm"})
DBF_SUFFIXES = frozenset({".dbf"})
SUPPORTED_SUFFIXES = DELIMITED_SUFFIXES | EXCEL_SUFFIXES | DBF_SUFFIXES

_DELIMITERS = (",", ";", "\t", "|")
_LINE_SEPARATOR = "\x1f"  # a separator absent from the text makes each line one field
_BYTE_CODECS = {"utf-8": "utf-8", "ascii": "utf-8", "utf-8-sig": "utf-8-sig", "utf-16": "utf-16"}


@dataclass(frozen=True)
class ReadLimits:
    """Sizes that bound a reader's memory; they never change the rows read.

    Attributes:
        stream_above_bytes: Delimited files up to this size are decoded whole
            (detection sees every byte); larger ones are decoded block by
            block, the encoding decided on their start.
        block_bytes: Bytes read, decoded and split at a time when streaming.
        detect_bytes: Bytes at the start of a streamed file that decide its encoding.
        fallback_rows: Rows per frame when the Python ``csv`` fallback parses a
            block, and records per piece of a DBF table.
        reader_memory_bytes: Address space of the child that reads a workbook
            (``RLIMIT_AS``); a workbook that needs more is quarantined. Counts
            reserved, not used, memory: below 2 GiB normal workbooks fail.
        reader_timeout_seconds: Time the child may take to read a workbook.
        standardise_rows: Person rows of a province (across its files and
            pieces) gathered before they are standardised together: fewer,
            larger calls for many small files, bounded memory for large ones.
    """

    stream_above_bytes: int = 32 << 20
    block_bytes: int = 8 << 20
    detect_bytes: int = 1 << 20
    fallback_rows: int = 100_000
    reader_memory_bytes: int = 4 << 30
    reader_timeout_seconds: float = 600.0
    standardise_rows: int = 200_000


class UnreadableFileError(ValueError):
    """A file that cannot be read at all; it is quarantined whole with this message."""


@dataclass(frozen=True)
class RawTable:
    """The rows of one file, or of one sheet of a workbook.

    Attributes:
        sheet: The XLSX sheet name, else None.
        encoding: The detected encoding label.
        pieces: Consecutive frames of the table's rows, in file order, each
            with ``_row`` (Int64), ``_width`` (Int32) and text columns ``c1``..``cN``
            (pieces may differ in N). An iterator: it can be consumed once, and
            reading a streamed file goes on while it is consumed, so it may
            still raise :class:`UnreadableFileError`.
    """

    sheet: str | None
    encoding: str
    pieces: Iterator[pl.DataFrame]


def cell_columns(frame: pl.DataFrame) -> list[str]:
    """The text cell columns of a piece (``c1``, ``c2``, ...), in order."""
    return [c for c in frame.columns if not c.startswith("_")]


def row_cells(frame: pl.DataFrame) -> list[list[str | None]]:
    """The cells of each row of a (small) piece, as the file had them."""
    names = cell_columns(frame)
    if not names:
        return [[] for _ in range(frame.height)]
    cells = frame.select(names).rows()
    return [list(row[:width]) for row, width in zip(cells, frame["_width"], strict=True)]


def read_file(path: Path, limits: ReadLimits | None = None) -> list[RawTable]:
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
        return [_read_delimited(path, limits or ReadLimits())]
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(path, limits or ReadLimits())
    return [_read_dbf(path, (limits or ReadLimits()).fallback_rows)]


def _frame(columns: list[list[str | None]], numbers: list[int], widths: list[int]) -> pl.DataFrame:
    """Build a piece from cell columns, row numbers and row widths."""
    data: dict[str, pl.Series] = {
        "_row": pl.Series(numbers, dtype=pl.Int64),
        "_width": pl.Series(widths, dtype=pl.Int32),
    }
    for i, column in enumerate(columns, start=1):
        data[f"c{i}"] = pl.Series(column, dtype=pl.String)
    return pl.DataFrame(data)


# --- delimited text -------------------------------------------------------------------


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


def _read_delimited(path: Path, limits: ReadLimits) -> RawTable:
    encoding, blocks = _text_blocks(path, limits)
    first = next(blocks, "")
    if not first.strip() and not any(b.strip() for b in blocks):
        raise UnreadableFileError("file holds no text")
    delimiter = _sniff_delimiter(first)
    return RawTable(
        sheet=None,
        encoding=encoding,
        pieces=_delimited_pieces(itertools.chain([first], blocks), delimiter, limits.fallback_rows),
    )


def _text_blocks(path: Path, limits: ReadLimits) -> tuple[str, Iterator[str]]:
    """Detect a text file's encoding; return it and the decoded text in blocks of whole lines."""
    size = path.stat().st_size
    if size <= limits.stream_above_bytes:
        try:
            text, encoding = detect_and_decode(path.read_bytes())
        except UndecodableError as err:
            raise UnreadableFileError(f"not a text file: {err}") from err
        return encoding, iter([text])
    with path.open("rb") as handle:
        start = handle.read(limits.detect_bytes)
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        cut = len(start) - len(start) % 2  # whole UTF-16 code units
        if (
            len(start) > cut >= 2
            and 0xD8 <= start[cut - 1 if start[0] == 0xFF else cut - 2] <= 0xDB
        ):
            cut -= 2  # nor half a surrogate pair
    else:
        cut = start.rfind(b"\n") + 1 or len(start)
    try:
        _, encoding = detect_and_decode(start[:cut])
    except UndecodableError as err:
        raise UnreadableFileError(f"not a text file: {err}") from err
    return encoding, _stream_blocks(path, encoding, limits.block_bytes)


def _stream_blocks(path: Path, encoding: str, block_bytes: int) -> Iterator[str]:
    """Decode a large file block by block; every block but the last ends with a newline."""
    decode: Callable[[bytes, bool], str]
    if encoding in ("tcvn3", "vni"):
        font = decode_tcvn3 if encoding == "tcvn3" else decode_vni
        decode = lambda data, final: font(data)  # noqa: E731 - both fonts are byte-safe at "\n"
    else:
        codec = _BYTE_CODECS.get(encoding, encoding)
        decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        decode = lambda data, final: decoder.decode(data, final)  # noqa: E731
    carry = ""
    with path.open("rb") as handle:
        while True:
            data = handle.read(block_bytes)
            final = not data
            text = carry + decode(data, final)
            cut = len(text) if final else text.rfind("\n") + 1
            block, carry = text[:cut], text[cut:]
            if block:
                yield unicodedata.normalize("NFC", block)
            if final:
                return


def _delimited_pieces(
    blocks: Iterator[str], delimiter: str, fallback_rows: int
) -> Iterator[pl.DataFrame]:
    """Split blocks of text into pieces; fall back to Python's csv module when needed."""
    next_line = 1
    for block in blocks:
        piece = _split_block(block, delimiter, next_line)
        if piece is None:
            yield from _python_csv_pieces(
                itertools.chain([block], blocks), delimiter, next_line, fallback_rows
            )
            return
        next_line += block.count("\n") + (0 if block.endswith("\n") else 1)
        if piece.height:
            yield piece


def _split_block(text: str, delimiter: str, first_line: int) -> pl.DataFrame | None:
    """Split whole lines of delimited text into cells with polars, or None if unsure.

    One physical line must be one record: the block may not hold NUL bytes or a
    carriage return outside CRLF, and every line holding a quote must be a
    well-formed RFC 4180 line (whole fields quoted, quotes doubled inside).
    Then polars' CSV reader gives one row per line, and each line's own width
    (ragged rows) is counted from its delimiters outside quotes.
    """
    data = text.encode("utf-8")  # byte scans are faster than str ones
    if b"\x00" in data or _LINE_SEPARATOR.encode() in data:
        return None
    if data.count(b"\r") != data.count(b"\r\n"):
        return None
    try:
        return _split_lines(data, delimiter, first_line)
    except pl.exceptions.PolarsError:  # the reader refused the text: let csv decide
        return None


def _split_lines(data: bytes, delimiter: str, first_line: int) -> pl.DataFrame | None:
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    lines = _read_lines(data)
    if lines.len() != n_lines:
        return None
    d = _regex_escape(delimiter)
    counts = lines.str.count_matches(delimiter, literal=True)
    quoted = lines.str.contains('"', literal=True)
    if quoted.any():
        at = quoted.arg_true()
        with_quotes = lines.gather(at)
        field = f'(?:"(?:[^"]|"")*"|[^"{d}]*)'
        if not with_quotes.str.contains(f"^{field}(?:{d}{field})*$").all():
            return None
        outside = with_quotes.str.replace_all('"(?:[^"]|"")*"', "")
        counts = counts.scatter(at, outside.str.count_matches(delimiter, literal=True))
    widths = pl.when(lines == "").then(0).otherwise(counts + 1).cast(pl.Int32)
    frame = pl.DataFrame({"_width": pl.select(widths).to_series()})
    longest = int(frame.select(pl.col("_width").max().fill_null(0)).item())
    names = [f"c{i + 1}" for i in range(longest)]
    if longest:
        first_width = int(frame["_width"][0])
        # The reader expects as many fields as the first line has: lead with the widest.
        widest = (delimiter * (longest - 1) + "\n").encode() if first_width < longest else b""
        cells = pl.read_csv(
            widest + data,
            has_header=False,
            separator=delimiter,
            quote_char='"',
            infer_schema=False,
            empty_string_is_null=False,
            new_columns=names,
        ).slice(1 if widest else 0)
        if cells.height != n_lines:
            return None
        frame = pl.concat([frame, cells], how="horizontal")
    # Cells past a row's own width are absent (null); only columns some row
    # is too short for need masking.
    narrowest = int(frame.select(pl.col("_width").min().fill_null(0)).item())
    return frame.select(
        (pl.int_range(pl.len(), dtype=pl.Int64) + first_line).alias("_row"),
        "_width",
        *(
            pl.col(c) if i < narrowest else pl.when(pl.col("_width") > i).then(pl.col(c)).alias(c)
            for i, c in enumerate(names)
        ),
    )


def _read_lines(data: bytes) -> pl.Series:
    """The lines of UTF-8 text (CRLF or LF), read by polars' CSV reader without quoting."""
    return pl.read_csv(
        data,
        has_header=False,
        separator=_LINE_SEPARATOR,
        quote_char=None,
        infer_schema=False,
        empty_string_is_null=False,
        new_columns=["line"],
    ).to_series()


def _regex_escape(char: str) -> str:
    return "\\t" if char == "\t" else "\\" + char


def _python_csv_pieces(
    blocks: Iterable[str], delimiter: str, first_line: int, fallback_rows: int
) -> Iterator[pl.DataFrame]:
    """Parse the rest of a file with Python's csv module, in pieces of ``fallback_rows`` rows."""
    lines = (line for block in blocks for line in io.StringIO(block, newline=""))
    reader = csv.reader(lines, delimiter=delimiter, quotechar='"')
    line = first_line
    while True:
        rows: list[list[str]] = []
        numbers: list[int] = []
        try:
            for cells in reader:
                rows.append(cells)
                numbers.append(line)
                line = first_line + reader.line_num
                if len(rows) >= fallback_rows:
                    break
        except csv.Error as err:
            raise UnreadableFileError(f"broken delimited text at line {line}: {err}") from err
        if not rows:
            return
        widths = [len(r) for r in rows]
        columns = [list(c) for c in itertools.zip_longest(*rows)] if max(widths) else []
        yield _frame(columns, numbers, widths)


# --- XLSX -----------------------------------------------------------------------------


def _read_excel(path: Path, limits: ReadLimits) -> list[RawTable]:
    try:
        check_workbook(path)
    except HostileWorkbookError as err:
        raise UnreadableFileError(
            f"not a readable XLSX workbook: refused before reading: {err}"
        ) from err
    try:
        sheets = read_workbook_sheets(
            path, limits.reader_memory_bytes, limits.reader_timeout_seconds
        )
    except ReaderCrashedError as err:
        raise UnreadableFileError(f"not a readable XLSX workbook: {err}") from err
    if not any(sheet.height for _, sheet in sheets):
        raise UnreadableFileError("empty workbook: no sheet holds a cell")
    tables = []
    for name, frame in sheets:
        frame = frame.select(
            pl.col(c).cast(pl.String).alias(f"c{i + 1}") for i, c in enumerate(frame.columns)
        )
        # Distinct non-empty texts are all the evidence needs (it counts words).
        distinct = {
            c: [v for v in frame.get_column(c).drop_nulls().unique().sort().to_list() if v]
            for c in frame.columns
        }
        # A sheet is usually typed in one font: decide on all its text first,
        # then column by column for sheets that mix fonts.
        legacy = detect_legacy_strings(sorted({v for vs in distinct.values() for v in vs}))
        labels = (
            {c: legacy for c in frame.columns}
            if legacy is not None
            else {c: detect_legacy_strings(vs) for c, vs in distinct.items()}
        )
        frame = frame.with_columns(
            pl.col(c).replace({v: repair_text(v, encoding=lab) for v in distinct[c]})
            for c, lab in labels.items()
            if lab
        )
        # Cells typed as decomposed Unicode (NFD) are composed like the text files
        # are, so that rules reading the cells (totals labels, headers) see NFC.
        frame = frame.with_columns(
            pl.col(c).str.normalize("NFC")
            for c, lab in labels.items()
            if not lab and not unicodedata.is_normalized("NFC", "\n".join(distinct[c]))
        )
        found = {lab for lab in labels.values() if lab}
        encoding = "+".join(["xlsx", *sorted(found)])
        piece = frame.select(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_row"),
            pl.lit(frame.width, dtype=pl.Int32).alias("_width"),
            pl.all(),
        )
        tables.append(RawTable(sheet=name, encoding=encoding, pieces=iter([piece])))
    return tables


# --- DBF ------------------------------------------------------------------------------


def _read_dbf(path: Path, piece_rows: int) -> RawTable:
    """A DBF table in pieces of ``piece_rows`` records (the field names are row 0).

    dbfread reads lazily, record by record, until the end-of-file marker or the
    end of the file (never trusting the header's record count), so memory is
    bounded by one piece. The encoding is decided on the first piece.
    """
    from dbfread import DBF

    try:
        table = DBF(str(path), raw=True, ignore_missing_memofile=True)
        names = list(table.field_names)
        records = iter(table)
        first = [[rec[n] for n in names] for rec in itertools.islice(records, piece_rows)]
    except Exception as err:  # dbfread raises plain errors on truncated headers
        raise UnreadableFileError(f"not a readable DBF table: {err}") from err
    sample = b"\n".join(v for rec in first[:5000] for v in rec if v and v.strip())
    try:
        _, encoding = detect_and_decode(sample) if sample else ("", "ascii")
    except UndecodableError as err:
        raise UnreadableFileError(f"DBF text is not in a known encoding: {err}") from err
    decode = _byte_decoder(encoding)

    def piece(rows: list[list[bytes]], first_row: int, header: bool) -> pl.DataFrame:
        columns: list[list[str | None]] = []
        for values in zip(*rows, strict=True) if rows else [[] for _ in names]:
            distinct = {v: decode(v).strip() for v in set(values) if v}
            columns.append([distinct[v] if v else None for v in values])
        if header:  # the field descriptors act as the header (row 0)
            columns = [[name, *col] for name, col in zip(names, columns, strict=True)]
        n = len(rows) + header
        return _frame(columns, list(range(first_row, first_row + n)), [len(names)] * n)

    def pieces() -> Iterator[pl.DataFrame]:
        yield piece(first, 0, header=True)
        number = len(first) + 1
        try:
            while rows := [
                [rec[n] for n in names] for rec in itertools.islice(records, piece_rows)
            ]:
                yield piece(rows, number, header=False)
                number += len(rows)
        except Exception as err:  # a record cut short by the end of the file
            raise UnreadableFileError(f"broken DBF table after record {number - 1}: {err}") from err

    return RawTable(sheet=None, encoding=encoding, pieces=pieces())


def _byte_decoder(encoding: str) -> Callable[[bytes], str]:
    if encoding == "tcvn3":
        return decode_tcvn3
    if encoding == "vni":
        return decode_vni
    codec = {"utf-8-sig": "utf-8", "utf-16": "utf-16", "ascii": "utf-8"}.get(encoding, encoding)
    return lambda b: unicodedata.normalize("NFC", b.decode(codec, errors="replace"))
