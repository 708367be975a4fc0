"""Sorting the rows below a header: persons, quarantine and non-person rows.

Each test writes a small delimited file to ``tmp_path``, runs
``ingest_province`` and reads back what was loaded, quarantined and skipped.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from domain.schema import FILE_COUNT_SCHEMA, QUARANTINE_SCHEMA, RECORD_SCHEMA
from pipelines.ingest import ingest_province
from pipelines.warehouse.parquet import read_staged

pytestmark = pytest.mark.unit

BATCH = "2021-06-15"


def _ingest(tmp_path: Path, name: str, text: str) -> dict[str, pl.DataFrame]:
    folder = tmp_path / "inbox" / BATCH / "001"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(text.encode())
    staging = tmp_path / "warehouse" / "staging"
    ingest_province(folder.parent, "001", staging)
    return {
        "records": read_staged(staging, BATCH, "records", RECORD_SCHEMA),
        "quarantine": read_staged(staging, BATCH, "quarantine", QUARANTINE_SCHEMA),
        "files": read_staged(staging, BATCH, "files", FILE_COUNT_SCHEMA),
    }


def _counts(tables: dict[str, pl.DataFrame]) -> tuple[int, int, int, int]:
    row = tables["files"].row(0, named=True)
    return row["rows_read"], row["rows_loaded"], row["rows_quarantined"], row["rows_skipped"]


def test_a_surname_written_tong_is_a_person_not_a_totals_row(tmp_path: Path) -> None:
    text = (
        "Mã NK,Họ và tên,Ngày sinh,Giới tính\n"
        "1,Tong Van Tung,05/11/1994,1\n"  # Tòng / Tống without diacritics
        "2,TONG THI MAI,1970,2\n"
        "3,Tòng Minh Thảo,25/11/2022,Nữ\n"
        "4,Tống Công Minh,1988,Nam\n"
        "5,Cong Van Tong,1988,Nam\n"
        "Tổng cộng: 5 nhân khẩu,,,\n"
    )
    tables = _ingest(tmp_path, "ds.csv", text)
    assert tables["records"].sort("local_id")["full_name"].to_list() == [
        "Tong Van Tung",
        "Tong Thi Mai",
        "Tòng Minh Thảo",
        "Tống Công Minh",
        "Cong Van Tong",
    ]
    assert _counts(tables) == (6, 5, 0, 1)


def test_a_split_surname_tong_is_a_person(tmp_path: Path) -> None:
    text = (
        "MA_NK;HO;DEM;TEN;NGAYSINH\n"
        "1;Tong;Van;Tung;05/11/1994\n"
        "2;TONG;;CONG;1970\n"  # even with a given name that reads as "cộng"
        "3;Nguyen;Van;Cong;1970\n"
        "Cộng: 3 nhân khẩu;;;;\n"
    )
    tables = _ingest(tmp_path, "ds.csv", text)
    assert tables["records"].sort("local_id")["full_name"].to_list() == [
        "Tong Van Tung",
        "Tong Cong",
        "Nguyen Van Cong",
    ]
    assert _counts(tables) == (4, 3, 0, 1)


@pytest.mark.parametrize(
    "total",
    [
        "Tổng cộng: 1.234 nhân khẩu,,,",
        "TỔNG CỘNG,,,1.234",
        "TONG CONG: 1234,,,",
        "Tong so nhan khau,,,1234",
        "Tổng số nhân khẩu: 12,,,",
        "Cộng: 956 nhân khẩu,,,",  # in the id column: skipped, not quarantined for its name
        ",Tổng,,12",
        "3,Tổng cộng,,3",  # a running number beside the label
        "Tổng cộng có 73 nhân khẩu trong 20 hộ,,,",
    ],
)
def test_totals_rows_are_skipped(tmp_path: Path, total: str) -> None:
    text = (
        "Mã NK,Họ và tên,Ngày sinh,Giới tính\n"
        "1,Nguyễn Văn Hùng,12/05/1968,Nam\n"
        "2,Trần Thị Bích Ngọc,03/11/1990,Nữ\n"
        f"{total}\n"
    )
    tables = _ingest(tmp_path, "ds.csv", text)
    assert _counts(tables) == (3, 2, 0, 1)
