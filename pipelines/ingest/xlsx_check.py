"""Check an XLSX workbook before the spreadsheet reader sees it (standard library only).

The reader (fastexcel, on calamine) allocates a dense grid over the bounding
box of the cells present in a sheet: 32 bytes x rows x columns. One cell at A1
and one at XFD1048576 make it ask for 512 GiB and abort the process, whatever
the sheet's ``<dimension>`` says. So ``check_workbook`` computes that box from
the cells themselves, streaming each sheet's XML (never held whole), and
refuses, with a message that becomes the file's quarantine reason:

1. not a zip, more than ``MAX_ENTRIES`` entries, or encrypted entries;
2. more than ``MAX_UNCOMPRESSED`` bytes uncompressed, or an entry past 1 MiB
   whose uncompressed/compressed ratio is above ``MAX_RATIO`` (a zip bomb);
3. a workbook that names no sheet, more than ``MAX_SHEETS``, a missing sheet
   part, or a DTD / entity declaration;
4. a sheet whose cells' bounding box is above ``MAX_CELLS`` or past the
   format's own limits (1,048,576 rows, 16,384 columns).

The file still goes to the reader in a child process with a memory limit
(``isolation.py``): this check removes the known bombs cheaply, the child
contains whatever is left.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

MAX_ENTRIES = 2_000
MAX_UNCOMPRESSED = 1 << 30  # 1 GiB of XML in all
MAX_RATIO = 100  # deflate of real sheet XML is 5-20x; 1000x+ is padding
MAX_SHEETS = 100
MAX_CELLS = 50_000_000  # 32 B each in calamine's grid: 1.6 GB at most
MAX_ROWS, MAX_COLS = 1_048_576, 16_384
CHUNK = 1 << 20

_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c|dimension)(?=[\s/>])([^>]*)>")
_R = re.compile(rb"""\br\s*=\s*["']([^"']*)["']""")
_REF = re.compile(rb"""\bref\s*=\s*["']([^"']*)["']""")
_CELL = re.compile(rb"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")
_P = rb"<(?:[A-Za-z_][\w.-]*:)?"
_C_FAST = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"')
_C_ALL = re.compile(_P + rb"c(?=[\s/>])")
_C_REF = re.compile(_P + rb"""c\s[^>]*?\br\s*=\s*["']\$?([A-Za-z]{1,3})\$?([0-9]{1,7})["']""")
_C_TWO_R = re.compile(_P + rb"""c\s[^>]*\br\s*=[^>]*\br\s*=""")
_ROW_ALL = re.compile(_P + rb"row(?=[\s/>])")
_ROW_REF = re.compile(_P + rb"""row\s[^>]*?\br\s*=\s*["']([0-9]{1,7})["']""")
_DIM = re.compile(_P + rb"""dimension\s[^>]*?\bref\s*=\s*["']([^"']*)["']""")
_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"


class HostileWorkbookError(ValueError):
    """The workbook is quarantined with this message before any reader sees it."""


@dataclass
class SheetBox:
    """The bounding box of the cells of one sheet."""

    name: str
    part: str
    rows: int
    cols: int
    cells: int  # cells present
    dimension: str | None
    lying: bool  # cells outside the declared dimension

    @property
    def area(self) -> int:
        """Cells of the box (what the reader allocates, 32 bytes each)."""
        return self.rows * self.cols


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ch - 64)
    return n


def _cell(ref: bytes) -> tuple[int, int] | None:
    m = _CELL.match(ref.strip())
    return (int(m.group(2)), _col_number(m.group(1))) if m else None


def _xml(z: zipfile.ZipFile, name: str, limit: int = 8 << 20) -> ElementTree.Element:
    info = z.getinfo(name)
    if info.file_size > limit:
        raise HostileWorkbookError(f"{name} is {info.file_size:,} bytes (limit {limit:,})")
    data = z.read(name)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise HostileWorkbookError(f"{name} declares a DTD or entities")
    return ElementTree.fromstring(data)


def _sheet_parts(z: zipfile.ZipFile) -> list[tuple[str, str]]:
    names = set(z.namelist())
    if "xl/workbook.xml" not in names:
        raise HostileWorkbookError("no xl/workbook.xml: not a workbook")
    wb = _xml(z, "xl/workbook.xml")
    targets: dict[str, str] = {}
    if "xl/_rels/workbook.xml.rels" in names:
        for rel in _xml(z, "xl/_rels/workbook.xml.rels").iter(f"{_NS_PKG}Relationship"):
            target = rel.get("Target", "")
            path = (
                target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
            )
            targets[rel.get("Id", "")] = path
    sheets = []
    for s in wb.iter(f"{_NS_MAIN}sheet"):
        part = targets.get(s.get(f"{_NS_REL}id", ""), "")
        if part not in names:
            raise HostileWorkbookError(f"sheet {s.get('name')!r} points at a missing part {part!r}")
        sheets.append((s.get("name", "?"), part))
    if not sheets:
        raise HostileWorkbookError("the workbook lists no sheet")
    if len(sheets) > MAX_SHEETS:
        raise HostileWorkbookError(f"{len(sheets)} sheets (limit {MAX_SHEETS})")
    return sheets


def _chunks(z: zipfile.ZipFile, name: str, part: str) -> Iterator[bytes]:
    """The sheet XML in pieces of about CHUNK bytes, each ending at a tag boundary."""
    tail = b""
    with z.open(part) as handle:
        while True:
            data = handle.read(CHUNK)
            if not data:
                if tail:
                    yield tail
                return
            buf = tail + data
            cut = buf.rfind(b"<")  # a tag may straddle the chunk boundary
            if cut == -1 or buf.find(b">", cut) != -1:
                cut = len(buf)
            buf, tail = buf[:cut], buf[cut:]
            if len(tail) > 1 << 16:
                raise HostileWorkbookError(f"sheet {name!r}: a tag longer than 64 KiB")
            yield buf


def _box(
    name: str,
    part: str,
    rows: tuple[int, int],
    cols: tuple[int, int],
    cells: int,
    dimension: bytes | None,
) -> SheetBox:
    """Check a sheet's bounding box ((min, max) rows and columns) against the limits."""
    declared = dimension.decode(errors="replace") if dimension else None
    if not cells:
        return SheetBox(name, part, 0, 0, 0, declared, False)
    (min_r, max_r), (min_c, max_c) = rows, cols
    if max_r > MAX_ROWS or max_c > MAX_COLS:
        raise HostileWorkbookError(
            f"sheet {name!r}: a cell at row {max_r:,}, column {max_c:,} is past the format's limits"
        )
    lying = False
    if dimension:
        corners = [_cell(x) for x in dimension.split(b":")]
        first, last = corners[0], corners[-1]
        if first is not None and last is not None and all(corners):
            (r1, c1), (r2, c2) = first, last
            lying = not (r1 <= min_r and max_r <= r2 and c1 <= min_c and max_c <= c2)
    box = SheetBox(
        name,
        part,
        max_r - min_r + 1,
        max_c - min_c + 1,
        cells,
        declared,
        lying,
    )
    if box.area > MAX_CELLS:
        raise HostileWorkbookError(
            f"sheet {name!r} spans {box.rows:,} rows x {box.cols:,} columns = {box.area:,} cells "
            f"for {cells:,} cells present (limit {MAX_CELLS:,}; the reader would allocate "
            f"{box.area * 32 / 2**30:,.0f} GiB)"
            + (f"; its dimension {box.dimension} lies" if lying else "")
        )
    return box


def _scan_sheet(z: zipfile.ZipFile, name: str, part: str) -> SheetBox:
    """Fast path for the way Excel, LibreOffice, xlsxwriter and openpyxl write sheets: every
    cell is ``<c r="A1" ...>`` (no prefix, r first) and no other r= attribute than the
    cells' and rows' own. Byte counts and one literal-prefix regex pass, all in C.
    Anything else (prefixes, cells without r=, odd attributes) takes the tag-by-tag scan."""
    min_r = min_c = 10**9
    max_r = max_c = cells = 0
    dimension = None
    for buf in _chunks(z, name, part):
        refs = _C_FAST.findall(buf)
        n_tags = buf.count(b"<c ") + buf.count(b"<c>") + buf.count(b"<c/>")
        n_r = buf.count(b' r="') + buf.count(b" r='")
        if n_tags != len(refs) or n_r != len(refs) + buf.count(b'<row r="') or b":c " in buf:
            return _scan_sheet_tags(z, name, part)
        if dimension is None and (d := _DIM.search(buf)):
            dimension = d.group(1)
        if refs:
            cells += len(refs)
            rows = list(map(int, (d for _, d in refs)))
            min_r, max_r = min(min_r, min(rows)), max(max_r, max(rows))
            cols = [_col_number(c) for c in {c for c, _ in refs}]
            min_c, max_c = min(min_c, min(cols)), max(max_c, max(cols))
    return _box(name, part, (min_r, max_r), (min_c, max_c), cells, dimension)


def _scan_sheet_tags(z: zipfile.ZipFile, name: str, part: str) -> SheetBox:
    """Bounding box of the cells of one sheet, tag by tag, streaming its XML (never held whole)."""
    row = col = 0
    min_r = min_c = 10**9
    max_r = max_c = cells = 0
    dimension: bytes | None = None
    for buf in _chunks(z, name, part):
        for m in _TAG.finditer(buf):
            tag, attrs = m.group(1), m.group(2)
            if tag == b"c":
                if len(_R.findall(attrs)) > 1:
                    raise HostileWorkbookError(f"sheet {name!r}: a cell with two r= attributes")
                r = _R.search(attrs)
                if r:
                    pos = _cell(r.group(1))
                    if pos is None:
                        raise HostileWorkbookError(
                            f"sheet {name!r}: bad cell reference {r.group(1)[:20]!r}"
                        )
                    row, col = pos
                else:
                    col += 1
                cells += 1
                min_r, max_r = min(min_r, row), max(max_r, row)
                min_c, max_c = min(min_c, col), max(max_c, col)
            elif tag == b"row":
                r = _R.search(attrs)
                row = int(r.group(1)) if r and r.group(1).isdigit() else row + 1
                col = 0
            else:
                ref = _REF.search(attrs)
                dimension = ref.group(1) if ref else None
    return _box(name, part, (min_r, max_r), (min_c, max_c), cells, dimension)


def check_workbook(path: Path) -> list[SheetBox]:
    """Raise HostileWorkbook when the workbook must not reach the reader; else its sheets' boxes."""
    if not zipfile.is_zipfile(path):
        raise HostileWorkbookError("not a zip archive: not an XLSX workbook")
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > MAX_ENTRIES:
                raise HostileWorkbookError(f"{len(infos):,} zip entries (limit {MAX_ENTRIES:,})")
            if any(i.flag_bits & 0x1 for i in infos):
                raise HostileWorkbookError("encrypted zip entries")
            total = sum(i.file_size for i in infos)
            if total > MAX_UNCOMPRESSED:
                raise HostileWorkbookError(
                    f"{total:,} bytes uncompressed (limit {MAX_UNCOMPRESSED:,})"
                )
            for i in infos:
                if i.file_size > 1 << 20 and i.file_size > MAX_RATIO * max(i.compress_size, 1):
                    raise HostileWorkbookError(
                        f"{i.filename}: {i.file_size:,} bytes from {i.compress_size:,} "
                        f"(ratio {i.file_size / max(i.compress_size, 1):,.0f}, "
                        f"limit {MAX_RATIO}): a zip bomb"
                    )
            return [_scan_sheet(z, name, part) for name, part in _sheet_parts(z)]
    except (zipfile.BadZipFile, ElementTree.ParseError, KeyError, EOFError) as err:
        raise HostileWorkbookError(f"broken workbook: {err}") from err
