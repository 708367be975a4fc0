"""Digit rules of Vietnam's 12-digit personal identification number (PIN).

Digits 1-3 are the birth province code, digit 4 encodes century and sex,
digits 5-6 are the last two digits of the birth year, digits 7-12 a serial
unique within the first six digits (Decree 137/2015 Art. 13, Circular
59/2021). The 12-digit citizen identity card number (CCCD) is the same
number, so the same rules read a CCCD written in a record.

Each rule has a Python form (one value) and a polars form (a column); the
serial itself is issued by ``pipelines.register.serials``.
"""

from __future__ import annotations

import polars as pl

from domain.reference import provinces

#: Birth years digit 4 can encode (centuries 20th to 24th).
FIRST_YEAR, LAST_YEAR = 1900, 2399


def century_sex_digit(sex: str, birth_year: int) -> int:
    """Return digit 4: 0/1 for males/females born 1900-1999, 2/3 for 2000-2099, ...

    Raises:
        ValueError: sex is not ``M``/``F`` or the year is outside 1900-2399.
    """
    if sex not in ("M", "F"):
        raise ValueError(f"sex must be M or F, not {sex!r}")
    century = birth_year // 100 - 19
    if not 0 <= century <= 4:
        raise ValueError(f"birth year {birth_year} is outside 1900-2399")
    return century * 2 + (1 if sex == "F" else 0)


def century_sex_digit_expr(sex: pl.Expr, birth_year: pl.Expr) -> pl.Expr:
    """Polars form of :func:`century_sex_digit` (an Int32 column; no range check)."""
    return ((birth_year // 100 - 19) * 2 + (sex == "F").cast(pl.Int32)).cast(pl.Int32)


def pin_prefix(province_code: str, sex: str, birth_year: int) -> str:
    """Return the first six digits of a PIN."""
    if len(province_code) != 3 or not province_code.isdigit():
        raise ValueError(f"province code must be 3 digits, not {province_code!r}")
    return f"{province_code}{century_sex_digit(sex, birth_year)}{birth_year % 100:02d}"


def pin_prefix_expr(province_code: pl.Expr, sex: pl.Expr, birth_year: pl.Expr) -> pl.Expr:
    """Polars form of :func:`pin_prefix`: null unless sex is M/F and the year is encodable."""
    known = sex.is_in(["M", "F"]) & birth_year.is_between(FIRST_YEAR, LAST_YEAR)
    return pl.when(known).then(
        pl.concat_str(
            province_code,
            century_sex_digit_expr(sex, birth_year).cast(pl.String),
            (birth_year % 100).cast(pl.String).str.zfill(2),
        )
    )


def decode_prefix(pin: str) -> tuple[str, str, int]:
    """Return (province code, sex, birth year) encoded in a PIN."""
    digit = int(pin[3])
    year = (digit // 2 + 19) * 100 + int(pin[4:6])
    return pin[:3], ("F" if digit % 2 else "M"), year


def sex_from_digit_expr(digit: pl.Expr) -> pl.Expr:
    """Polars form of the sex digit 4 spells: ``F`` when odd, ``M`` when even, else null."""
    return pl.when(digit % 2 == 1).then(pl.lit("F")).when(digit.is_not_null()).then(pl.lit("M"))


def birth_year_from_pin_expr(pin: pl.Expr) -> pl.Expr:
    """Polars form of the birth year digits 4-6 of a PIN spell (Int32)."""
    digit = pin.str.slice(3, 1).cast(pl.Int32)
    return ((digit // 2 + 19) * 100 + pin.str.slice(4, 2).cast(pl.Int32)).cast(pl.Int32)


def cccd_parts_expr(id_number: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Birth province and sex a 12-digit CCCD spells (digits 1-3 and 4), else null."""
    cccd = id_number.str.len_chars() == 12
    digit4 = id_number.str.slice(3, 1).cast(pl.Int32, strict=False)
    head = id_number.str.head(3)
    province = pl.when(cccd & head.is_in(sorted(provinces()))).then(head)
    sex = pl.when(cccd & (digit4 <= 9)).then(sex_from_digit_expr(digit4))
    return province, sex


def is_valid_pin(pin: str, province_codes: set[str] | frozenset[str]) -> bool:
    """Structural check: 12 digits, known province, century digit 0-9."""
    return len(pin) == 12 and pin.isdigit() and pin[:3] in province_codes
