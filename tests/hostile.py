"""Hostile input files for the attack tests, written by hand (no generator involved)."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def write_workbook(path: Path, sheet_xml: str | bytes) -> Path:
    """A one-sheet XLSX whose sheet XML is exactly ``sheet_xml``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return path


def corner_workbook(path: Path) -> Path:
    """Cells A1 and XFD1048576 under a lying ``<dimension ref="A1:B2"/>``: 512 GiB to read."""
    rows = (
        f'<row r="1">{_cell("A1", "Họ và tên")}</row>'
        f'<row r="1048576">{_cell("XFD1048576", "x")}</row>'
    )
    return write_workbook(
        path,
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet {_NS}><dimension ref="A1:B2"/>'
        f"<sheetData>{rows}</sheetData></worksheet>",
    )


def wide_workbook(path: Path) -> Path:
    """Cells A1 and XFD1: a 1 x 16,384 box, allowed by the pre-check, heavy for the reader."""
    rows = f'<row r="1">{_cell("A1", "a")}{_cell("XFD1", "b")}</row>'
    return write_workbook(
        path, f'<?xml version="1.0"?><worksheet {_NS}><sheetData>{rows}</sheetData></worksheet>'
    )


def zip_bomb_workbook(path: Path, megabytes: int = 20) -> Path:
    """A sheet of ``megabytes`` MB of spaces: a few KB zipped (ratio about 1000)."""
    head = f'<?xml version="1.0"?><worksheet {_NS}><sheetData>'.encode()
    tail = b"</sheetData></worksheet>"
    return write_workbook(path, head + b" " * (megabytes << 20) + tail)


def write_dbf(path: Path, fields: list[tuple[str, int]], records: int, row: list[bytes]) -> Path:
    """A dBASE III table of ``records`` copies of ``row`` (character fields), streamed to disk."""
    length = 1 + sum(size for _, size in fields)
    header_len = 32 + 32 * len(fields) + 1
    with path.open("wb") as out:
        out.write(struct.pack("<BBBBIHH20x", 3, 124, 1, 1, records, header_len, length))
        for name, size in fields:
            out.write(struct.pack("<11sc4xBB14x", name.encode(), b"C", size, 0))
        out.write(b"\r")
        record = b" " + b"".join(
            value.ljust(size)[:size] for value, (_, size) in zip(row, fields, strict=True)
        )
        block = record * 10_000
        for _ in range(records // 10_000):
            out.write(block)
        out.write(record * (records % 10_000))
        out.write(b"\x1a")
    return path
