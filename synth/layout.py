"""Physical layout of a file: title block, header, data rows, junk rows and footers.

The layout decides what stands on each physical row, and keeps for every row
its truth: ``person`` / ``flawed`` rows carry a person, ``junk`` rows (titles,
headers, blank rows, rows without a name, totals, signatures) carry none.
Row numbers are 1-based physical rows of the sheet (CSV line, XLSX row, DBF
record), so the truth can point at any row a reader sees.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from synth.profiles import Profile
from synth.render import Cell
from synth.systems import LegacySystem

_TITLES = ["SỔ ĐĂNG KÝ THƯỜNG TRÚ", "DANH SÁCH NHÂN KHẨU", "SỔ HỘ KHẨU - DANH SÁCH NHÂN KHẨU"]


@dataclass
class Sheet:
    """One sheet (or the whole file for CSV and DBF) and the truth of its rows.

    Attributes:
        name: XLSX sheet name, ``None`` for CSV and DBF.
        rows: Physical rows; ``rows[0]`` is row 1.
        truth: Per physical row ``(row_kind, local_id, person_id, note)``.
        header_row: 1-based row of the (first) person header, 0 when there is
            none (DBF, a sheet without persons).
        title_rows: 1-based rows holding a title to merge across the columns.
        kind: ``persons``, or ``summary`` / ``notes`` for a workbook's sheet
            that holds no person (and no person header).
    """

    name: str | None
    rows: list[list[Cell]] = field(default_factory=list)
    truth: list[tuple[str, str, str, str]] = field(default_factory=list)
    header_row: int = 0
    title_rows: list[int] = field(default_factory=list)
    kind: str = "persons"

    def add(
        self, row: list[Cell], kind: str, note: str, local_id: str = "", person: str = ""
    ) -> None:
        """Append a physical row with its truth."""
        self.rows.append(row)
        self.truth.append((kind, local_id, person, note))


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def lay_out_sheet(
    name: str | None,
    system: LegacySystem,
    rows: list[list[Cell]],
    people: list[tuple[str, str, str, str]],
    rng: np.random.Generator,
    profile: Profile,
    context: tuple[str, dt.date],
) -> Sheet:
    """Place rendered records on a sheet among titles, headers and junk.

    Args:
        name: Sheet name (XLSX) or ``None``.
        system: The legacy system; decides titles, header repeats and footers.
        rows: Rendered records, in order.
        people: Per record ``(row_kind, local_id, person_id, note)``.
        rng: Seeded generator (where junk rows fall).
        profile: Junk rates.
        context: Issuing unit (``Công an ...``) and report date for the title block.

    Returns:
        The sheet with every physical row and its truth.
    """
    width = len(system.columns)
    labels = [label for _, label in system.columns]
    stt = system.fields.index("stt") if "stt" in system.fields else -1
    sheet = Sheet(name=name)
    text_row = (lambda t: [t]) if system.fmt == "xlsx" else (lambda t: [t] + [""] * (width - 1))
    if system.title_rows:
        unit, report = context
        sheet.add(text_row(_TITLES[int(rng.integers(len(_TITLES)))]), "junk", "title")
        sheet.add(text_row(unit), "junk", "title")
        sheet.add(text_row(f"Ngày báo cáo: {report:%d/%m/%Y}"), "junk", "report_date")
        sheet.add([] if system.fmt == "xlsx" else [""] * width, "junk", "blank")
        sheet.title_rows = [1, 2]
    if system.fmt != "dbf":
        sheet.add(list(labels), "junk", "header")
        sheet.header_row = len(sheet.rows)
    blank = [] if system.fmt == "xlsx" else [""] * width
    p_blank = rng.random(len(rows)) < profile.junk_blank
    p_no_name = rng.random(len(rows)) < profile.junk_no_name
    keep = {
        system.fields.index(f) for f in ("household_id", "relation_to_head") if f in system.fields
    }
    count = 0
    for i, (row, truth) in enumerate(zip(rows, people, strict=True)):
        if system.repeat_header_every and i and i % system.repeat_header_every == 0:
            sheet.add(list(labels), "junk", "repeated_header")
        count += 1
        if stt >= 0:
            row[stt] = count if system.fmt == "xlsx" else str(count)
        kind, local_id, person, note = truth
        sheet.add(row, kind, note, local_id, person)
        if p_blank[i]:
            sheet.add(list(blank), "junk", "blank")
        if p_no_name[i]:
            sheet.add([row[j] if j in keep else "" for j in range(width)], "junk", "no_name")
    if system.footer:
        form = int(rng.integers(3))
        if form == 2:  # the label in the first column, the count in the last
            last: Cell = count if system.fmt == "xlsx" else str(count)
            total: list[Cell] = ["TỔNG CỘNG", *[""] * (width - 2), last]
        else:
            label = "Tổng cộng" if form == 0 else "Cộng"
            total = text_row(f"{label}: {_thousands(count)} nhân khẩu")
        sheet.add(total, "junk", "total")
        if system.fmt == "xlsx":
            sheet.add(text_row("Người lập biểu"), "junk", "signature")
    while system.fmt == "xlsx" and not any(v not in (None, "") for v in sheet.rows[-1]):
        # A sheet ends at its last cell: a blank row after it is not a physical row.
        sheet.rows.pop()
        sheet.truth.pop()
    return sheet


#: Column labels of a summary sheet: what is counted per unit (a commune field,
#: but never a name: not a person header).
_SUMMARY_HEADERS = (
    ["Đơn vị", "Số nhân khẩu"],
    ["STT", "Xã/Phường", "Số nhân khẩu"],
    ["Đơn vị", "Số hộ", "Số nhân khẩu"],
)
SUMMARY_NAMES = ("TongHop", "Tong hop", "ThongKe", "BaoCao")
NOTES_NAMES = ("GhiChu", "Ghi chu", "HuongDan")


def summary_sheet(name: str, sheets: list[Sheet], rng: np.random.Generator) -> Sheet:
    """A workbook's summary sheet: persons per sheet and their total, no person header.

    Its first row names the columns (``Đơn vị | Số nhân khẩu`` and the like):
    a header, but not a person header. Every row is junk (note ``summary_sheet``).
    """
    labels = _SUMMARY_HEADERS[int(rng.integers(len(_SUMMARY_HEADERS)))]
    sheet = Sheet(name=name, kind="summary")
    sheet.add(list(labels), "junk", "summary_sheet")
    counts = [(s.name or "", sum(t[0] != "junk" for t in s.truth)) for s in sheets]
    households = [len({t[1] for t in s.truth if t[0] != "junk"}) // 3 + 1 for s in sheets]
    for i, ((unit, count), n_hh) in enumerate(zip(counts, households, strict=True), start=1):
        lead: list[Cell] = [i] if labels[0] == "STT" else []
        middle: list[Cell] = [n_hh] if "Số hộ" in labels else []
        sheet.add([*lead, unit, *middle, count], "junk", "summary_sheet")
    total: list[Cell] = ["Tổng cộng", *[""] * (len(labels) - 2), sum(c for _, c in counts)]
    sheet.add(total, "junk", "summary_sheet")
    return sheet


def notes_sheet(name: str, context: tuple[str, dt.date]) -> Sheet:
    """A workbook's notes sheet: a few lines of free text, one blank, no person header."""
    unit, report = context
    sheet = Sheet(name=name, kind="notes")
    sheet.add(["Ghi chú"], "junk", "notes_sheet")
    sheet.add(
        [f"Số liệu trích xuất ngày {report:%d/%m/%Y} từ phần mềm quản lý hộ khẩu."],
        "junk",
        "notes_sheet",
    )
    sheet.add([f"Đơn vị: {unit}"], "junk", "notes_sheet")
    sheet.add([], "junk", "notes_sheet")
    sheet.add(["Người lập biểu", "", "Thủ trưởng đơn vị"], "junk", "notes_sheet")
    return sheet
