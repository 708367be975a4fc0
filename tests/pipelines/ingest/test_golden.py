"""Golden files: one small export per format and encoding, and exactly what ingest stages.

``tests/golden/<format>-<encoding>.<ext>`` is the input; ``<same name>.json``
holds the expected staged output of ingesting it alone as province ``001`` of
batch ``2021-06-15``: the per-file counts, the quarantined rows and every
column of the standardised records. The test compares them exactly.

The inputs are written by the generator's own writers (``synth.writers``)
from the rows in this module. After a deliberate change to ingest or to the
rows, regenerate both inputs and expected outputs, then review the diff:

    .venv/bin/python tests/test_ingest_golden.py
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
BATCH, PROVINCE = "2021-06-15", "001"

#: (format, encoding) of every golden input: each encoding the generator writes per format.
CASES = [
    ("csv", "utf-8"),
    ("csv", "utf-8-sig"),
    ("csv", "utf-8-nfd"),
    ("csv", "utf-16"),
    ("csv", "cp1258"),
    ("csv", "tcvn3"),
    ("csv", "vni"),
    ("csv", "ascii"),
    ("xlsx", "unicode"),
    ("xlsx", "tcvn3"),
    ("xlsx", "vni"),
    ("xlsx", "ascii"),
    ("dbf", "tcvn3"),
    ("dbf", "vni"),
]

_COLUMNS = [
    ("local_id", "Mã NK"),
    ("full_name", "Họ và tên"),
    ("date_of_birth", "Ngày sinh"),
    ("sex", "Giới tính"),
    ("birth_place", "Nơi sinh"),
    ("ethnicity", "Dân tộc"),
    ("address", "Địa chỉ thường trú"),
]
_DBF_LABELS = ["MA_NK", "HOTEN", "NGAYSINH", "GIOITINH", "NOISINH", "DANTOC", "DIACHI"]
_PEOPLE = [
    ["NK0001", "NGUYỄN VĂN HÙNG", "12/05/1968", "Nam", "TP. Hồ Chí Minh", "Kinh", "Số 12, Tổ 3"],
    ["NK0002", "Trần Thị Bích Ngọc", "01/01/1990", "Nữ", "Tp HCM", "Khơ-me", "Thôn Hòa Bình"],
    ["NK0003", "đặng quốc bảo", "1947", "1", "Thừa Thiên Huế", "Việt", "Xã Thuỷ Xuân"],
    ["NK0004", "Lê Thị Hoà", "31/02/2001", "F", "Hà Nội", "Tày", "Phường Đống Đa"],
    ["NK0005", "", "03/04/1985", "Nam", "Hà Nội", "Kinh", "Số 7"],
    ["NK0001", "Nguyễn Văn Hùng", "12/05/1968", "Nam", "Hà Nội", "Kinh", "Số 12"],
    ["NK0006", "Phạm  Thị   Hường", "00/00/1950", "X", "Tỉnh Khánh Hòa", "Chăm", "Ấp Mỹ Hòa"],
]


def _name(fmt: str, encoding: str) -> str:
    return f"{fmt}-{encoding}.{fmt}"


def _rows(fmt: str) -> list[list[str]]:
    """Physical rows: a title block and a totals row around the people (not in DBF)."""
    header = [label for _, label in _COLUMNS]
    if fmt == "dbf":
        return [list(p) for p in _PEOPLE]
    blank = [""] * len(header)
    title = ["DANH SÁCH NHÂN KHẨU", *blank[1:]]
    total = [f"Tổng cộng: {len(_PEOPLE)} nhân khẩu", *blank[1:]]
    return [title, blank, header, *(list(p) for p in _PEOPLE), blank, total]


def write_input(fmt: str, encoding: str, folder: Path) -> Path:
    """Write one golden input with the generator's writers."""
    from synth.layout import Sheet
    from synth.systems import build_system_pool
    from synth.writers import write_csv, write_dbf, write_xlsx

    base = next(s for s in build_system_pool(np.random.default_rng(0)) if s.fmt == fmt)
    system = dataclasses.replace(
        base,
        encoding=encoding,
        columns=tuple(
            zip([f for f, _ in _COLUMNS], _DBF_LABELS, strict=True) if fmt == "dbf" else _COLUMNS
        ),
        delimiter=",",
        quote_all=False,
        newline="\r\n",
    )
    rows: list[list[Any]] = [list(r) for r in _rows(fmt)]
    sheet = Sheet(name="DanhSach" if fmt == "xlsx" else None, rows=rows, header_row=3)
    path = folder / _name(fmt, encoding)
    if fmt == "csv":
        write_csv(path, system, sheet)
    elif fmt == "xlsx":
        write_xlsx(path, system, [sheet], dt.datetime(2021, 6, 15, 8, 0))
    else:
        write_dbf(path, system, sheet, dt.date(2021, 6, 15))
    return path


def staged_output(path: Path) -> dict[str, Any]:
    """Ingest one file alone as province 001 and return what was staged, as JSON data."""
    from domain.schema import FILE_COUNT_SCHEMA, QUARANTINE_SCHEMA, RECORD_SCHEMA
    from pipelines.ingest.province import ingest_province
    from pipelines.warehouse.parquet import read_staged

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "inbox" / BATCH / PROVINCE
        folder.mkdir(parents=True)
        shutil.copy(path, folder / path.name)
        staging = Path(tmp) / "staging"
        ingest_province(folder.parent, PROVINCE, staging)
        tables = {
            "files": read_staged(staging, BATCH, "files", FILE_COUNT_SCHEMA),
            "quarantine": read_staged(staging, BATCH, "quarantine", QUARANTINE_SCHEMA),
            "records": read_staged(staging, BATCH, "records", RECORD_SCHEMA),
        }
    return {
        name: json.loads(json.dumps(frame.to_dicts(), default=str, ensure_ascii=False))
        for name, frame in tables.items()
    }


@pytest.mark.unit
@pytest.mark.parametrize(("fmt", "encoding"), CASES, ids=[_name(f, e) for f, e in CASES])
def test_golden_file_stages_exactly_the_expected_output(fmt: str, encoding: str) -> None:
    path = GOLDEN / _name(fmt, encoding)
    expected = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))
    assert staged_output(path) == expected


@pytest.mark.unit
def test_golden_outputs_agree_across_encodings() -> None:
    """Every Unicode CSV gives the same names; the legacy ones only lose what they cannot hold."""
    names = {
        case: [
            r["full_name"]
            for r in json.loads((GOLDEN / (_name(*case) + ".json")).read_text(encoding="utf-8"))[
                "records"
            ]
        ]
        for case in CASES
    }
    reference = names[("csv", "utf-8")]
    assert reference == [
        "Nguyễn Văn Hùng",
        "Trần Thị Bích Ngọc",
        "Đặng Quốc Bảo",
        "Lê Thị Hòa",
        "Phạm Thị Hường",
    ]
    for case in CASES:
        if case[1] != "ascii":
            assert names[case] == reference, case


def main() -> None:
    """Regenerate every golden input and its expected output."""
    GOLDEN.mkdir(exist_ok=True)
    for fmt, encoding in CASES:
        path = write_input(fmt, encoding, GOLDEN)
        out = staged_output(path)
        path.with_name(path.name + ".json").write_text(
            json.dumps(out, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
        )
        print(f"{path.name}: {len(out['records'])} records, {len(out['quarantine'])} quarantined")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    main()
