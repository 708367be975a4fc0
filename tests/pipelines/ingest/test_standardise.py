"""Standardisation of raw values: dates, sex, names, places, ethnicity."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pipelines.ingest.dates import parse_dates
from pipelines.ingest.standardise import clean_name, ethnicity, province_code, sex_code, standardise

pytestmark = pytest.mark.unit
REF = dt.date(2021, 6, 15)


@pytest.mark.parametrize(
    ("text", "year", "month", "day", "precision", "flaw"),
    [
        ("12/05/1968", 1968, 5, 12, "day", None),
        ("1/2/1970", 1970, 2, 1, "day", None),
        ("12-05-1968", 1968, 5, 12, "day", None),
        ("12.05.1968", 1968, 5, 12, "day", None),
        ("1968-05-12", 1968, 5, 12, "day", None),
        ("19680512", 1968, 5, 12, "day", None),
        ("05/1968", 1968, 5, None, "month", None),
        ("1968", 1968, None, None, "year", None),
        ("00/00/1968", 1968, None, None, "year", None),
        ("../../1968", 1968, None, None, "year", None),
        ("12/05/68", 1968, 5, 12, "day", None),
        ("12/05/05", 2005, 5, 12, "day", None),
        ("25000", 1968, 6, 11, "day", None),  # Excel serial
        ("31/02/1990", 1990, 2, None, "month", "impossible_date"),
        ("12/05/2030", None, None, None, "unknown", "future_birth_date"),
        ("hôm qua", None, None, None, "unknown", "unparseable_date"),
    ],
)
def test_every_date_form_of_the_contract(
    text: str,
    year: int | None,
    month: int | None,
    day: int | None,
    precision: str,
    flaw: str | None,
) -> None:
    out = parse_dates(pl.Series([text]), REF).row(0, named=True)
    assert (out["birth_year"], out["birth_month"], out["birth_day"]) == (year, month, day)
    assert out["dob_precision"] == precision
    assert out["dob_flaw"] == flaw


def test_01_01_is_flagged_as_a_placeholder() -> None:
    out = parse_dates(pl.Series(["01/01/1950", "02/01/1950"]), REF)
    assert out["dob_placeholder"].to_list() == [True, False]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Nam", "M"),
        ("NỮ", "F"),
        ("nu", "F"),
        ("M", "M"),
        ("f", "F"),
        ("1", "M"),
        ("2", "F"),
        ("?", None),
    ],
)
def test_sex_codes(text: str, code: str | None) -> None:
    assert sex_code(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("TP. Hồ Chí Minh", "079"),
        ("Tp HCM", "079"),
        ("HCM", "079"),
        ("Ho Chi Minh", "079"),
        ("Hà Nội", "001"),
        ("HN", "001"),
        ("Thành phố Hà Nội", "001"),
        ("Tỉnh Thanh Hóa", "038"),
        ("thanh hoa", "038"),
        ("Huyện Gia Lâm, Hà Nội", "001"),
        ("Khánh Hoà", "056"),
        ("Atlantis", None),
    ],
)
def test_places_resolve_to_province_codes(text: str, code: str | None) -> None:
    assert province_code(text) == code


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("Kinh", "Kinh"), ("Việt", "Kinh"), ("Khmer", "Khơ-me"), ("HMông", "Mông")],
)
def test_ethnicity_spellings(text: str, canonical: str) -> None:
    assert ethnicity(text) == canonical


def test_names_are_nfc_title_case_with_one_tone_convention() -> None:
    assert clean_name("  nguyễn   văn  HÙNG ") == "Nguyễn Văn Hùng"
    assert clean_name("LÊ THỊ HOÀ") == "Lê Thị Hòa"
    assert clean_name("Nguye\u0302\u0303n Va\u0306n A") == "Nguyễn Văn A"  # NFD input


def test_standardise_splits_names_and_combines_split_dates_and_keeps_extras() -> None:
    raw = pl.DataFrame(
        {
            "_row": [2, 3],
            "local_id": ["1", "2"],
            "family_name": ["Trần", "Lê"],
            "middle_name": ["Thị Thu", None],
            "given_name": ["Hà", "Nam"],
            "birth_day": ["5", None],
            "birth_month": ["7", None],
            "birth_year": ["1990", "1985"],
            "sex": ["Nữ", "X"],
            "extra:Ghi chú": ["a", None],
        }
    )
    out = standardise(raw, REF)
    first, second = out.row(0, named=True), out.row(1, named=True)
    assert first["full_name"] == "Trần Thị Thu Hà"
    assert (first["family_name"], first["middle_name"], first["given_name"]) == (
        "Trần",
        "Thị Thu",
        "Hà",
    )
    assert first["date_of_birth"] == dt.date(1990, 7, 5)
    assert first["extras"] == '{"Ghi chú":"a"}'
    assert second["dob_precision"] == "year" and second["birth_year"] == 1985
    assert second["sex"] is None and second["flaws"] == "unknown_sex_code"
    assert out["_row"].to_list() == [2, 3]


def test_a_flawed_date_in_split_columns_keeps_its_flaw() -> None:
    raw = pl.DataFrame(
        {
            "_row": [2, 3, 4, 5],
            "local_id": ["1", "2", "3", "4"],
            "full_name": ["Trần Thị Hà", "Lê Văn Nam", "Lê Văn Tám", "Lê Thị Hoa"],
            "date_of_birth": [None, None, None, "31/02/1990"],
            "birth_day": ["18", "31", None, None],
            "birth_month": ["2", "2", None, None],
            "birth_year": ["2062", "1990", "1890", "1990"],
        }
    )
    out = standardise(raw, REF)
    assert out["flaws"].to_list() == [
        "future_birth_date",
        "impossible_date",
        "implausible_birth_year",
        "impossible_date",
    ]
    assert out["birth_year"].to_list() == [None, 1990, None, 1990]
