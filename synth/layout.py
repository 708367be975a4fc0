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
        header_row: 1-based row of the (first) header, 0 when there is none (DBF).
        title_rows: 1-based rows holding a title to merge across the columns.
    """

    name: str | None
    rows: list[list[Cell]] = field(default_factory=list)
    truth: list[tuple[str, str, str, str]] = field(default_factory=list)
    header_row: int = 0
    title_rows: list[int] = field(default_factory=list)

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
        sheet.add(text_row(f"Tổng cộng: {_thousands(count)} nhân khẩu"), "junk", "total")
        if system.fmt == "xlsx":
            sheet.add(text_row("Người lập biểu"), "junk", "signature")
    return sheet
