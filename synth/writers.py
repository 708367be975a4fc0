"""File writers: delimited text, XLSX and dBase III, each in a system's encoding.

Text is encoded with :func:`domain.legacy_encoding.encode_text`, imported
lazily. XLSX files "typed with a legacy font" hold the legacy bytes read as
Windows-1252 characters (Latin-1 where Windows-1252 leaves a byte undefined);
"nfd" workbooks hold their text in decomposed Unicode.
The dBase III writer is our own: a 32-byte header, 32-byte field descriptors,
fixed-width space-padded ``C`` fields, and the end-of-file marker.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import struct
import unicodedata
from pathlib import Path

from domain.legacy_encoding import encode_text
from synth.layout import Sheet
from synth.render import Cell
from synth.systems import LegacySystem

_FONTS = {"tcvn3": ".VnTime", "vni": "VNI-Times"}


def _cp1252_map() -> dict[int, str]:
    """Latin-1 code points 0x80-0x9F to their Windows-1252 characters, where defined."""
    out = {}
    for b in range(0x80, 0xA0):
        try:
            out[b] = bytes([b]).decode("cp1252")
        except UnicodeDecodeError:
            continue
    return out


_LATIN1_TO_CP1252 = _cp1252_map()


def _encode_lines(values: list[str], encoding: str) -> list[bytes]:
    """Encode many short strings with one codec call (joined on newlines)."""

    if not values:
        return []
    return encode_text("\n".join(values), encoding).split(b"\n")


def as_legacy_font_text(values: list[str], encoding: str) -> list[str]:
    """Return the strings as an Excel cell typed with a TCVN3 or VNI font shows them.

    Args:
        values: NFC strings without newlines.
        encoding: ``tcvn3`` or ``vni``.

    Returns:
        Each string's legacy bytes read as Windows-1252 (Latin-1 for undefined bytes).
    """
    return [
        b.decode("latin-1").translate(_LATIN1_TO_CP1252) for b in _encode_lines(values, encoding)
    ]


def write_csv(path: Path, system: LegacySystem, sheet: Sheet) -> None:
    """Write a delimited text file: RFC 4180 quoting, the system's delimiter and newline."""

    buf = io.StringIO()
    writer = csv.writer(
        buf,
        delimiter=system.delimiter,
        lineterminator=system.newline,
        quoting=csv.QUOTE_ALL if system.quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerows([["" if v is None else str(v) for v in row] for row in sheet.rows])
    path.write_bytes(encode_text(buf.getvalue(), system.encoding))


def _convert_strings(sheet: Sheet, encoding: str) -> list[list[Cell]]:
    """Apply the cell text convention of ``encoding`` to every string of a sheet."""
    if encoding == "unicode":
        return sheet.rows
    if encoding == "nfd":
        return [
            [unicodedata.normalize("NFD", v) if isinstance(v, str) else v for v in row]
            for row in sheet.rows
        ]
    positions = [
        (r, c)
        for r, row in enumerate(sheet.rows)
        for c, v in enumerate(row)
        if isinstance(v, str) and v
    ]
    texts = [str(sheet.rows[r][c]) for r, c in positions]
    if encoding == "ascii":
        converted = [b.decode("ascii") for b in _encode_lines(texts, "ascii")]
    else:
        converted = as_legacy_font_text(texts, encoding)
    rows = [list(row) for row in sheet.rows]
    for (r, c), v in zip(positions, converted, strict=True):
        rows[r][c] = v
    return rows


def write_xlsx(path: Path, system: LegacySystem, sheets: list[Sheet], created: dt.datetime) -> None:
    """Write an XLSX workbook, one worksheet per sheet, with fixed document dates."""
    import xlsxwriter

    options = {
        "constant_memory": True,
        "strings_to_numbers": False,
        "strings_to_formulas": False,
        "strings_to_urls": False,
    }
    workbook = xlsxwriter.Workbook(str(path), options)
    workbook.set_properties({"created": created, "author": "Cong an", "title": "So ho khau"})
    font = {"font_name": _FONTS[system.encoding]} if system.encoding in _FONTS else {}
    text_fmt = workbook.add_format(font)
    date_fmt = workbook.add_format({**font, "num_format": "dd/mm/yyyy"})
    title_fmt = workbook.add_format({**font, "bold": True})
    header_fmt = workbook.add_format({**font, "bold": True, "border": 1})
    for sheet in sheets:
        ws = workbook.add_worksheet(sheet.name)
        rows = _convert_strings(sheet, system.encoding)
        for r, row in enumerate(rows):
            number = r + 1
            fmt = (
                title_fmt
                if number in sheet.title_rows
                else header_fmt
                if number == sheet.header_row
                else text_fmt
            )
            for c, value in enumerate(row):
                if value is None or value == "":
                    continue
                if isinstance(value, dt.date):
                    ws.write_datetime(r, c, dt.datetime.combine(value, dt.time()), date_fmt)
                elif isinstance(value, int):
                    ws.write_number(r, c, value, fmt)
                else:
                    ws.write_string(r, c, value, fmt)
    workbook.close()


def _dbf_names(labels: list[str]) -> list[bytes]:
    """Field names: ASCII, at most 10 characters, unique."""
    out: list[bytes] = []
    for label in labels:
        name = "".join(ch for ch in label.upper() if ch.isascii() and (ch.isalnum() or ch == "_"))[
            :10
        ]
        base, k = name or "F", 1
        while name.encode() in out:
            k += 1
            name = f"{base[: 10 - len(str(k))]}{k}"
        out.append(name.encode("ascii"))
    return out


def write_dbf(path: Path, system: LegacySystem, sheet: Sheet, updated: dt.date) -> None:
    """Write a dBase III file with ``C`` fields; text in the system's font encoding."""
    labels = [label for _, label in system.columns]
    n_rows, n_cols = len(sheet.rows), len(labels)
    columns = [
        [str(row[c]) if row and row[c] is not None else "" for row in sheet.rows]
        for c in range(n_cols)
    ]
    encoded = [_encode_lines(col, system.encoding) if n_rows else [] for col in columns]
    widths = [min(254, max([1, *(len(v) for v in col)])) for col in encoded]
    header_len = 32 + 32 * n_cols + 1
    record_len = 1 + sum(widths)
    out = bytearray(
        struct.pack(
            "<BBBBIHH20x",
            0x03,
            updated.year - 1900,
            updated.month,
            updated.day,
            n_rows,
            header_len,
            record_len,
        )
    )
    for name, width in zip(_dbf_names(labels), widths, strict=True):
        out += struct.pack("<11sc4xBB14x", name, b"C", width, 0)
    out += b"\r"
    for r in range(n_rows):
        out += b" "
        for col, width in zip(encoded, widths, strict=True):
            out += col[r][:width].ljust(width, b" ")
    out += b"\x1a"
    path.write_bytes(bytes(out))
