"""Parse the birth-date forms of the legacy exports into parts with a precision.

Every form of the input contract is recognised: ``dd/mm/yyyy`` and its ``-``
and ``.`` variants, ``yyyy-mm-dd``, ``yyyymmdd``, ``mm/yyyy``, ``yyyy`` alone,
``00/00/yyyy`` and ``../../yyyy``, two-digit years and Excel serial numbers.
The result keeps what is known (year, month, day), how precisely, whether the
date is the ``01/01`` placeholder, and a flaw code when the text is not a
possible birth date.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

_EXCEL_EPOCH = dt.date(1899, 12, 30)
_UNKNOWN_PART = r"(\d{1,2}|\.{1,2}|0{1,2}|_{1,2}|x{1,2}|X{1,2})"
_PATTERNS: list[tuple[str, tuple[str, str, str]]] = [
    # (regex, order of the captured groups as d/m/y)
    (r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00:00(?:\.0+)?)?$", ("y", "m", "d")),
    (rf"^{_UNKNOWN_PART}[/\-.]{_UNKNOWN_PART}[/\-.](\d{{4}}|\d{{2}})$", ("d", "m", "y")),
    (r"^(\d{4})(\d{2})(\d{2})$", ("y", "m", "d")),
    (r"^(\d{1,2})[/\-.](\d{4})$", ("m", "y", "")),
    (r"^(\d{4})(?:\.0+)?$", ("y", "", "")),
]

DATE_PARTS_SCHEMA = {
    "birth_year": pl.Int32,
    "birth_month": pl.Int8,
    "birth_day": pl.Int8,
    "date_of_birth": pl.Date,
    "dob_precision": pl.String,
    "dob_placeholder": pl.Boolean,
    "dob_flaw": pl.String,
}


def _part(text: pl.Expr, which: str) -> pl.Expr:
    """Coalesce the digits of one part (d, m or y) over all patterns."""
    candidates = []
    for regex, order in _PATTERNS:
        if which in order:
            group = order.index(which) + 1
            candidates.append(text.str.extract(regex, group))
    return pl.coalesce(candidates)


def parse_dates(text: pl.Expr, reference: dt.date) -> list[pl.Expr]:
    """Return expressions for the parsed parts of a birth-date text column.

    Args:
        text: the raw date text (already stripped; null when empty).
        reference: the date the data describes (the batch date): later birth
            dates are flawed, and two-digit years above its year are 19xx.

    Returns:
        Expressions aliased as the columns of :data:`DATE_PARTS_SCHEMA`.
    """
    t = text.str.strip_chars()
    serial = t.str.extract(r"^(\d{5})(?:\.0+)?$", 1).cast(pl.Int64)
    serial_date = pl.lit(_EXCEL_EPOCH) + pl.duration(days=serial)
    y_raw = _part(t, "y")
    y_num = y_raw.cast(pl.Int32, strict=False)
    two_digit = y_raw.str.len_chars() == 2
    pivot = reference.year % 100
    year = (
        pl.when(serial.is_not_null())
        .then(serial_date.dt.year())
        .when(two_digit & (y_num > pivot))
        .then(y_num + 1900)
        .when(two_digit)
        .then(y_num + 2000)
        .otherwise(y_num)
        .cast(pl.Int32)
    )
    month = (
        pl.when(serial.is_not_null())
        .then(serial_date.dt.month())
        .otherwise(_part(t, "m").cast(pl.Int32, strict=False))
    )
    day = (
        pl.when(serial.is_not_null())
        .then(serial_date.dt.day())
        .otherwise(_part(t, "d").cast(pl.Int32, strict=False))
    )
    month = pl.when(month == 0).then(None).otherwise(month)
    day = pl.when((day == 0) | month.is_null()).then(None).otherwise(day)
    return _finish(t, year, month, day, reference)


def parse_date_parts(
    day: pl.Expr, month: pl.Expr, year: pl.Expr, reference: dt.date
) -> list[pl.Expr]:
    """Like :func:`parse_dates`, for separate day, month and year text columns."""
    y_raw = year.str.strip_chars().str.extract(r"^(\d{2}|\d{4})(?:\.0+)?$", 1)
    y_num = y_raw.cast(pl.Int32, strict=False)
    pivot = reference.year % 100
    y = (
        pl.when((y_raw.str.len_chars() == 2) & (y_num > pivot))
        .then(y_num + 1900)
        .when(y_raw.str.len_chars() == 2)
        .then(y_num + 2000)
        .otherwise(y_num)
    )
    m = month.str.strip_chars().str.extract(r"^(\d{1,2})(?:\.0+)?$", 1).cast(pl.Int32)
    d = day.str.strip_chars().str.extract(r"^(\d{1,2})(?:\.0+)?$", 1).cast(pl.Int32)
    m = pl.when(m == 0).then(None).otherwise(m)
    d = pl.when((d == 0) | m.is_null()).then(None).otherwise(d)
    text = pl.concat_str([day, month, year], separator="/", ignore_nulls=True)
    text = pl.when(text.str.len_chars() == 0).then(None).otherwise(text)
    return _finish(text, y.cast(pl.Int32), m, d, reference)


def _finish(
    text: pl.Expr, year: pl.Expr, month: pl.Expr, day: pl.Expr, reference: dt.date
) -> list[pl.Expr]:
    """Validate parsed parts and derive the date, precision, placeholder and flaw."""
    iso = pl.format(
        "{}-{}-{}",
        year.cast(pl.String).str.zfill(4),
        month.cast(pl.String).str.zfill(2),
        day.cast(pl.String).str.zfill(2),
    )
    full = iso.str.to_date("%Y-%m-%d", strict=False)
    bad_month = month.is_not_null() & ~month.is_between(1, 12)
    impossible = day.is_not_null() & ~bad_month & full.is_null()
    too_old = year.is_not_null() & (year < reference.year - 130)
    future = (year > reference.year) | (full > pl.lit(reference))
    unparsed = text.is_not_null() & year.is_null()
    flaw = (
        pl.when(unparsed)
        .then(pl.lit("unparseable_date"))
        .when(future)
        .then(pl.lit("future_birth_date"))
        .when(too_old)
        .then(pl.lit("implausible_birth_year"))
        .when(bad_month)
        .then(pl.lit("invalid_month"))
        .when(impossible)
        .then(pl.lit("impossible_date"))
    )
    drop_all = unparsed | future | too_old
    year_out = pl.when(drop_all).then(None).otherwise(year)
    month_out = pl.when(drop_all | bad_month).then(None).otherwise(month)
    day_out = pl.when(drop_all | bad_month | impossible).then(None).otherwise(day)
    date_out = pl.when(drop_all).then(None).otherwise(full)
    precision = (
        pl.when(date_out.is_not_null())
        .then(pl.lit("day"))
        .when(month_out.is_not_null() & year_out.is_not_null())
        .then(pl.lit("month"))
        .when(year_out.is_not_null())
        .then(pl.lit("year"))
        .otherwise(pl.lit("unknown"))
    )
    placeholder = (date_out.is_not_null() & (day_out == 1) & (month_out == 1)).fill_null(False)
    return [
        year_out.cast(pl.Int32).alias("birth_year"),
        month_out.cast(pl.Int8).alias("birth_month"),
        day_out.cast(pl.Int8).alias("birth_day"),
        date_out.alias("date_of_birth"),
        precision.alias("dob_precision"),
        placeholder.alias("dob_placeholder"),
        flaw.alias("dob_flaw"),
    ]
