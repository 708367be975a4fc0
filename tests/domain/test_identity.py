"""PIN structure: century/sex digit, year digits, prefix; the Python and polars forms agree."""

from __future__ import annotations

import polars as pl
import pytest

from domain.identity import (
    birth_year_from_pin_expr,
    century_sex_digit,
    decode_prefix,
    pin_prefix,
    pin_prefix_expr,
    sex_from_digit_expr,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("sex", "year", "digit"),
    [
        ("M", 1900, 0),
        ("F", 1999, 1),
        ("M", 2000, 2),
        ("F", 2099, 3),
        ("M", 2100, 4),
        ("F", 2150, 5),
        ("M", 2200, 6),
        ("F", 2300, 9),
    ],
)
def test_century_sex_digit_follows_the_decree_table(sex: str, year: int, digit: int) -> None:
    assert century_sex_digit(sex, year) == digit


@pytest.mark.parametrize(("sex", "year"), [("M", 1899), ("F", 2400), ("X", 1990), ("", 1990)])
def test_century_sex_digit_rejects_what_it_cannot_encode(sex: str, year: int) -> None:
    with pytest.raises(ValueError):
        century_sex_digit(sex, year)


def test_prefix_is_province_then_century_sex_then_two_year_digits() -> None:
    assert pin_prefix("079", "F", 2005) == "079305"
    assert pin_prefix("001", "M", 1968) == "001068"
    assert decode_prefix("079305123456") == ("079", "F", 2005)
    with pytest.raises(ValueError):
        pin_prefix("79", "M", 1968)


def test_the_polars_forms_agree_with_the_python_forms() -> None:
    rows = [
        (code, sex, year)
        for code in ("001", "079")
        for sex in ("M", "F")
        for year in (1900, 1968, 1999, 2000, 2005, 2150, 2399)
    ]
    frame = pl.DataFrame(rows, schema=["code", "sex", "year"], orient="row").with_columns(
        pl.col("year").cast(pl.Int32)
    )
    out = frame.select(
        pin_prefix_expr(pl.col("code"), pl.col("sex"), pl.col("year")).alias("prefix")
    ).with_columns(
        sex_from_digit_expr(pl.col("prefix").str.slice(3, 1).cast(pl.Int32)).alias("sex"),
        birth_year_from_pin_expr(pl.col("prefix") + "000000").alias("year"),
    )
    assert out["prefix"].to_list() == [pin_prefix(c, s, y) for c, s, y in rows]
    assert list(zip(out["sex"], out["year"], strict=True)) == [
        decode_prefix(pin_prefix(c, s, y) + "000000")[1:] for c, s, y in rows
    ]


def test_the_polars_prefix_is_null_where_python_refuses() -> None:
    frame = pl.DataFrame(
        {"code": ["001", "001", "001"], "sex": ["X", "M", None], "year": [1990, 2400, 1990]}
    ).with_columns(pl.col("year").cast(pl.Int32))
    out = frame.select(pin_prefix_expr(pl.col("code"), pl.col("sex"), pl.col("year")))
    assert out.to_series().null_count() == 3
