"""Comparison levels on inline pairs: Hoàng/Huỳnh, day-month swap, year-only, IDs, middle names."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from matching.comparisons import (
    Comparison,
    comparison_vectors,
    date_of_birth_comparison,
    family_name_comparison,
    given_name_comparison,
    id_number_comparison,
    kin_comparison,
    middle_name_comparison,
)
from matching.prepare import prepare_records
from synth.records import records_frame

pytestmark = pytest.mark.unit


def _labels(
    comparison: Comparison, pairs: list[tuple[dict[str, Any], dict[str, Any]]]
) -> list[str]:
    """Level label of each (left, right) record pair; 'null' for level -1."""
    rows = []
    for i, (left, right) in enumerate(pairs):
        rows.append({"record_key": f"{i:03d}a", **left})
        rows.append({"record_key": f"{i:03d}b", **right})
    prepared = prepare_records(records_frame(rows))
    index = pl.DataFrame({"rid_l": range(0, len(rows), 2), "rid_r": range(1, len(rows), 2)})
    gammas = comparison_vectors(prepared, index.cast(pl.Int64), [comparison])
    return ["null" if g < 0 else comparison.labels[g] for g in gammas[f"gamma_{comparison.name}"]]


def test_given_name_levels() -> None:
    def g(a: str | None, b: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"given_name": a}, {"given_name": b}

    assert _labels(
        given_name_comparison(),
        [
            g("Hùng", "Hùng"),
            g("Hùng", "HÙNG"),  # case is not a difference
            g("Hùng", "HUNG"),
            g("Khánh", "Khanh"),
            g("Hùng", "Hưng"),  # two names, one when folded
            g("Giang", "Dang"),
            g("Dương", "Duongg"),  # a typo: one edit
            g("Tuấn", "Tuaan"),
            g("Nguyên", "Nguyễn Anh"),  # a shared start
            g("Lan", "Hùng"),
            g(None, "Hùng"),
        ],
    ) == [
        "exact",
        "exact",
        "folded",
        "folded",
        "tones_differ",
        "phonetic",
        "one_edit",
        "one_edit",
        "jaro_winkler_0.92",
        "else",
        "null",
    ]


def test_family_name_hoang_huynh_vu_vo() -> None:
    def f(a: str, b: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"family_name": a}, {"family_name": b}

    assert _labels(
        family_name_comparison(),
        [
            f("Hoàng", "Huỳnh"),
            f("Vũ", "Vo"),
            f("Nguyễn", "Nguyen"),
            f("Nguyễn", "Nguyen n"),
            f("Nguyễn", "Ngyuen"),
            f("Lê", "Trần"),
        ],
    ) == ["variant", "variant", "folded", "typo", "typo", "else"]


def test_middle_name_levels() -> None:
    def m(a: str | None, b: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"middle_name": a}, {"middle_name": b}

    assert _labels(
        middle_name_comparison(),
        [
            m("Thị", "Thi"),
            m("Thị", None),
            m("Thị", "Thị Thu"),
            m("Văn Minh", "Minh"),
            m("Văn", "Hữu"),
            m(None, None),
        ],
    ) == ["folded", "one_side_missing", "contained", "contained", "else", "null"]


def _dob(y: int | None, m: int | None = None, d: int | None = None, **extra: Any) -> dict[str, Any]:
    precision = "day" if d else "month" if m else "year" if y else "unknown"
    return {"birth_year": y, "birth_month": m, "birth_day": d, "dob_precision": precision, **extra}


def test_date_of_birth_levels() -> None:
    placeholder = _dob(1970, 1, 1, dob_placeholder=True)
    assert _labels(
        date_of_birth_comparison(),
        [
            (_dob(1970, 5, 12), _dob(1970, 5, 12)),
            (_dob(1970, 5, 12), _dob(1970, 12, 5)),  # day and month swapped
            (_dob(1970, 5, 12), _dob(1970)),  # one side year only
            (_dob(1970, 5, 12), _dob(1970, 5)),  # one side month only
            (_dob(1970, 5, 12), _dob(1970, 6)),  # months contradict, one side partial
            (_dob(1970, 5, 12), placeholder),  # 01/01 placeholder
            (placeholder, placeholder),  # equal placeholders are not an exact date
            (_dob(1970, 5, 12), _dob(1970, 5, 21)),  # two real dates that differ
            (_dob(1970, 5, 12), _dob(1971, 5, 12)),
            (_dob(1970, 5, 12), _dob(1971)),  # a year apart, one side year only
            (_dob(1970, 5, 12), _dob(1975)),
            (_dob(1970, 5, 12), _dob(None)),
        ],
    ) == [
        "exact",
        "day_month_swapped",
        "same_year_partial",
        "same_year_partial",
        "year_within_1",
        "same_year_placeholder",
        "same_year_placeholder",
        "dates_differ",
        "dates_differ",
        "year_within_1",
        "else",
        "null",
    ]


def test_id_number_levels_and_lengths() -> None:
    def i(a: str | None, b: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"id_number": a}, {"id_number": b}

    assert _labels(
        id_number_comparison(),
        [
            i("001080012345", "001080012345"),
            i("001080012345", "001080012355"),  # one digit off
            i("001080012345", "001080021345"),  # adjacent digits swapped
            i("001080012345", "079191000001"),
            i("001080012345", "012345678"),  # 12-digit CCCD vs 9-digit CMND: not comparable
            i(None, "012345678"),
        ],
    ) == ["exact", "one_edit", "one_edit", "else", "null", "null"]


def test_kin_other_household_of_one_province() -> None:
    """Two households of one province say "two people"; two provinces say nothing."""

    def k(a: tuple[str, str], b: tuple[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            {"province_code": a[0], "household_id": a[1]},
            {"province_code": b[0], "household_id": b[1]},
        )

    assert _labels(
        kin_comparison(),
        [
            k(("001", "HK1"), ("001", "HK1")),
            k(("001", "HK1"), ("001", "HK2")),
            k(("001", "HK1"), ("079", "HK1")),  # a move: the household cannot be shared
        ],
    ) == ["same_household", "other_household_same_province", "else"]
