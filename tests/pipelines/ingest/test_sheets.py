"""Workbook sheets are independent, and conservation counts physical rows.

A sheet without a person header (a summary sheet, a notes sheet) is
quarantined on its own, row by row, and never takes the other sheets of its
workbook down; a table without a header counts every physical row it holds.
Each test writes real files to ``tmp_path`` and runs ``ingest_province``, in
memory and piece by piece (streamed), and reads the staged Parquet back.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from domain.schema import FILE_COUNT_SCHEMA, QUARANTINE_SCHEMA, RECORD_SCHEMA
from pipelines.ingest import ReadLimits, ingest_province
from pipelines.warehouse.parquet import read_staged

pytestmark = pytest.mark.unit

BATCH = "2021-06-15"
HEADER = ["Mã NK", "Họ và tên", "Ngày sinh", "Giới tính"]
NO_HEADER = "without a person header: no header row with a name column found in the first rows"

Rows = list[list[object]]


def _workbook(path: Path, sheets: dict[str, Rows]) -> bytes:
    book = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    sheet.write(r, c, value)
    book.close()
    return path.read_bytes()


def _people(first_id: int, n: int) -> Rows:
    names = ["Nguyễn Văn Hùng", "Trần Thị Bích Ngọc", "Lê Văn Tám", "Phạm Thị Hường"]
    return [
        [str(first_id + i), names[i % 4], f"{i % 28 + 1:02d}/05/1968", "Nam" if i % 2 else "Nữ"]
        for i in range(n)
    ]


SUMMARY: Rows = [["Đơn vị", "Số nhân khẩu"], ["Xã An Phú", 3], ["Xã Bình Minh", 2], [], ["", 5]]
NOTES: Rows = [["Ghi chú"], ["Số liệu xuất từ phần mềm quản lý hộ khẩu."], ["Người lập biểu"]]


def _ingest(tmp_path: Path, files: dict[str, bytes], streamed: bool = False) -> dict:
    folder = tmp_path / "inbox" / BATCH / "001"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    staging = tmp_path / "warehouse" / "staging"
    # Streamed: text read in small blocks, so a table comes in many pieces.
    limits = ReadLimits(stream_above_bytes=64, block_bytes=128) if streamed else None
    summary = ingest_province(folder.parent, "001", staging, limits)
    tables = {
        "records": read_staged(staging, BATCH, "records", RECORD_SCHEMA),
        "quarantine": read_staged(staging, BATCH, "quarantine", QUARANTINE_SCHEMA),
        "files": read_staged(staging, BATCH, "files", FILE_COUNT_SCHEMA),
    }
    files_ = tables["files"]
    assert (
        files_["rows_read"]
        == files_["rows_loaded"] + files_["rows_quarantined"] + files_["rows_skipped"]
    ).all()
    s = summary
    assert s.rows_read == s.rows_loaded + s.rows_quarantined + s.rows_skipped
    assert summary.rows_quarantined == tables["quarantine"].height
    return tables


def _counts(tables: dict, name: str) -> tuple[int, int, int, int]:
    row = tables["files"].filter(pl.col("source_file") == f"001/{name}").row(0, named=True)
    return row["rows_read"], row["rows_loaded"], row["rows_quarantined"], row["rows_skipped"]


@pytest.mark.parametrize("streamed", [False, True])
def test_a_summary_sheet_does_not_take_the_person_sheets_down(
    tmp_path: Path, streamed: bool
) -> None:
    data = _workbook(
        tmp_path / "book.xlsx",
        {
            "Xa An Phu": [["SỔ ĐĂNG KÝ THƯỜNG TRÚ"], [], HEADER, *_people(1, 3)],
            "Xa Binh Minh": [HEADER, *_people(11, 2), ["Tổng cộng: 2 nhân khẩu"]],
            "TongHop": SUMMARY,
            "Ghi chu": NOTES,
            "Trong": [],
        },
    )
    tables = _ingest(tmp_path, {"book.xlsx": data}, streamed)
    records = tables["records"].sort("local_id")
    assert records["local_id"].to_list() == ["1", "11", "12", "2", "3"]
    assert set(records["source_sheet"]) == {"Xa An Phu", "Xa Binh Minh"}
    bad = tables["quarantine"].sort("source_sheet", "source_row")
    # Every non-blank row of the two sheets without persons, with its text; the blank row skipped.
    assert bad.select("source_sheet", "source_row").rows() == [
        ("Ghi chu", 1),
        ("Ghi chu", 2),
        ("Ghi chu", 3),
        ("TongHop", 1),
        ("TongHop", 2),
        ("TongHop", 3),
        ("TongHop", 5),
    ]
    assert (bad["reason"] == f"sheet {NO_HEADER}").all()
    assert bad.filter(pl.col("source_sheet") == "TongHop")["original_text"][1] == (
        '["Xã An Phú", "3"]'
    )
    # Rows below the headers (3 + 3, the totals row skipped) and every row of the others.
    assert _counts(tables, "book.xlsx") == (6 + 8, 5, 7, 2)


@pytest.mark.parametrize("streamed", [False, True])
def test_a_workbook_with_no_person_header_counts_every_physical_row(
    tmp_path: Path, streamed: bool
) -> None:
    rows = [["Danh sách"], *_people(1, 2500)]  # persons, but no header row to read them by
    data = _workbook(tmp_path / "book.xlsx", {"Sheet1": rows, "TongHop": SUMMARY})
    good = "\n".join(",".join(map(str, r)) for r in [HEADER, *_people(9001, 2)]) + "\n"
    tables = _ingest(tmp_path, {"book.xlsx": data, "good.csv": good.encode()}, streamed)
    assert _counts(tables, "book.xlsx") == (2501 + 5, 0, 2501 + 4, 1)
    assert _counts(tables, "good.csv") == (2, 2, 0, 0)
    bad = tables["quarantine"].filter(pl.col("source_sheet") == "Sheet1")
    assert bad.height == 2501 and bad["source_row"].to_list() == list(range(1, 2502))


@pytest.mark.parametrize("streamed", [False, True])
def test_a_text_file_without_a_person_header_is_quarantined_row_by_row(
    tmp_path: Path, streamed: bool
) -> None:
    text = "Đơn vị;Số nhân khẩu\nXã An Phú;3\n;\nXã Bình Minh;2\n"
    tables = _ingest(tmp_path, {"tong_hop.csv": text.encode()}, streamed)
    assert _counts(tables, "tong_hop.csv") == (4, 0, 3, 1)
    bad = tables["quarantine"]
    assert bad["source_row"].to_list() == [1, 2, 4]
    assert (bad["reason"] == f"file {NO_HEADER}").all()
    assert bad["source_sheet"].is_null().all()


def test_a_workbook_of_empty_sheets_is_quarantined_whole(tmp_path: Path) -> None:
    data = _workbook(tmp_path / "book.xlsx", {"Sheet1": [], "Sheet2": []})
    tables = _ingest(tmp_path, {"empty.xlsx": data})
    bad = tables["quarantine"]
    assert bad["reason"].to_list() == ["unreadable file: empty workbook: no sheet holds a cell"]
    assert _counts(tables, "empty.xlsx") == (1, 0, 1, 0)


def test_a_dbf_without_a_name_field_counts_its_records_not_its_field_row(tmp_path: Path) -> None:
    import dataclasses
    import datetime as dt

    import numpy as np

    from synth.layout import Sheet
    from synth.systems import build_system_pool
    from synth.writers import write_dbf

    base = next(s for s in build_system_pool(np.random.default_rng(0)) if s.fmt == "dbf")
    system = dataclasses.replace(
        base, encoding="ascii", columns=(("extra", "DONVI"), ("extra", "SONK"))
    )
    rows: Rows = [["Xa An Phu", "3"], ["", ""], ["Xa Binh Minh", "2"]]
    write_dbf(tmp_path / "tong_hop.dbf", system, Sheet(name=None, rows=rows), dt.date(2021, 6, 15))
    tables = _ingest(tmp_path, {"tong_hop.dbf": (tmp_path / "tong_hop.dbf").read_bytes()})
    assert _counts(tables, "tong_hop.dbf") == (3, 0, 2, 1)
    assert tables["quarantine"]["source_row"].to_list() == [1, 3]


def test_a_workbook_typed_in_decomposed_unicode_reads_like_nfc(tmp_path: Path) -> None:
    import unicodedata

    def nfd(rows: Rows) -> Rows:
        return [
            [unicodedata.normalize("NFD", v) if isinstance(v, str) else v for v in r] for r in rows
        ]

    rows = [
        ["DANH SÁCH NHÂN KHẨU"],
        HEADER,
        *_people(1, 3),
        ["Tổng cộng: 3 nhân khẩu"],
    ]
    data = _workbook(tmp_path / "book.xlsx", {"DanhSach": nfd(rows)})
    tables = _ingest(tmp_path, {"book.xlsx": data})
    names = tables["records"].sort("local_id")["full_name"].to_list()
    assert names == ["Nguyễn Văn Hùng", "Trần Thị Bích Ngọc", "Lê Văn Tám"]
    assert all(unicodedata.is_normalized("NFC", n) for n in names)
    # The totals row is skipped as totals (not quarantined as a row with an id and no name).
    assert _counts(tables, "book.xlsx") == (4, 3, 0, 1)
