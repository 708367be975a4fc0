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


def parse_dates(text: pl.Series, reference: dt.date) -> pl.DataFrame:
    """Parse a column of birth-date texts.

    Args:
        text: the raw date texts (null when empty).
        reference: the date the data describes (the batch date): later birth
            dates are flawed, and two-digit years above its year are 19xx.

    Returns:
        A frame of the columns of :data:`DATE_PARTS_SCHEMA`, row for row.
    """
    frame = pl.DataFrame({"t": text.cast(pl.String).str.strip_chars()})
    parts: dict[str, list[pl.Expr]] = {"d": [], "m": [], "y": []}
    for regex, order in _PATTERNS:
        for group, which in enumerate(order, start=1):
            if which:
                parts[which].append(pl.col("t").str.extract(regex, group))
    frame = frame.with_columns(
        pl.coalesce(parts["y"]).alias("y_raw"),
        pl.coalesce(parts["m"]).cast(pl.Int32, strict=False).alias("m"),
        pl.coalesce(parts["d"]).cast(pl.Int32, strict=False).alias("d"),
        pl.col("t").str.extract(r"^(\d{5})(?:\.0+)?$", 1).cast(pl.Int64).alias("serial"),
    ).with_columns(
        (pl.lit(_EXCEL_EPOCH) + pl.duration(days=pl.col("serial"))).alias("serial_date"),
    )
    frame = frame.with_columns(
        pl.when(pl.col("serial").is_not_null())
        .then(pl.col("serial_date").dt.year())
        .otherwise(_full_year(pl.col("y_raw"), reference))
        .cast(pl.Int32)
        .alias("y"),
        pl.when(pl.col("serial").is_not_null())
        .then(pl.col("serial_date").dt.month().cast(pl.Int32))
        .otherwise(pl.col("m"))
        .alias("m"),
        pl.when(pl.col("serial").is_not_null())
        .then(pl.col("serial_date").dt.day().cast(pl.Int32))
        .otherwise(pl.col("d"))
        .alias("d"),
    )
    return _finish(frame, reference)


def parse_date_parts(
    day: pl.Series, month: pl.Series, year: pl.Series, reference: dt.date
) -> pl.DataFrame:
    """Like :func:`parse_dates`, for separate day, month and year text columns."""
    number = r"^(\d{1,4})(?:\.0+)?$"
    frame = pl.DataFrame(
        {"d": day.cast(pl.String), "m": month.cast(pl.String), "y": year.cast(pl.String)}
    ).with_columns(pl.all().str.strip_chars())
    frame = frame.with_columns(
        pl.concat_str(["d", "m", "y"], separator="/", ignore_nulls=True)
        .replace("", None)
        .alias("t"),
        _full_year(pl.col("y").str.extract(r"^(\d{2}|\d{4})(?:\.0+)?$", 1), reference)
        .cast(pl.Int32)
        .alias("y"),
        pl.col("m").str.extract(number, 1).cast(pl.Int32, strict=False).alias("m"),
        pl.col("d").str.extract(number, 1).cast(pl.Int32, strict=False).alias("d"),
    )
    return _finish(frame, reference)


def _full_year(raw: pl.Expr, reference: dt.date) -> pl.Expr:
    """Four-digit year from 2 or 4 digits: two-digit years above the reference's are 19xx."""
    number = raw.cast(pl.Int32, strict=False)
    two_digit = raw.str.len_chars() == 2
    pivot = reference.year % 100
    return (
        pl.when(two_digit & (number > pivot))
        .then(number + 1900)
        .when(two_digit)
        .then(number + 2000)
        .otherwise(number)
    )


def _finish(frame: pl.DataFrame, reference: dt.date) -> pl.DataFrame:
    """Validate parsed parts (columns t, y, m, d) into the date-part columns."""
    y, m, d = pl.col("y"), pl.col("m"), pl.col("d")
    frame = frame.with_columns(
        pl.when(m == 0).then(None).otherwise(m).alias("m"),
    ).with_columns(
        pl.when((d == 0) | m.is_null()).then(None).otherwise(d).alias("d"),
    )
    frame = (
        frame.with_columns(
            pl.format(
                "{}-{}-{}",
                y.cast(pl.String).str.zfill(4),
                m.cast(pl.String).str.zfill(2),
                d.cast(pl.String).str.zfill(2),
            )
            .str.to_date("%Y-%m-%d", strict=False)
            .alias("full"),
            (m.is_not_null() & ~m.is_between(1, 12)).alias("bad_month"),
        )
        .with_columns(
            (d.is_not_null() & ~pl.col("bad_month") & pl.col("full").is_null()).alias("impossible"),
            (y.is_not_null() & (y < reference.year - 130)).alias("too_old"),
            ((y > reference.year) | (pl.col("full") > pl.lit(reference)))
            .fill_null(False)
            .alias("future"),
            (pl.col("t").is_not_null() & y.is_null()).alias("unparsed"),
        )
        .with_columns(
            (pl.col("unparsed") | pl.col("future") | pl.col("too_old")).alias("drop_all"),
        )
    )
    frame = frame.with_columns(
        pl.when("drop_all").then(None).otherwise(y).alias("birth_year"),
        pl.when(pl.col("drop_all") | pl.col("bad_month"))
        .then(None)
        .otherwise(m)
        .alias("birth_month"),
        pl.when(pl.col("drop_all") | pl.col("bad_month") | pl.col("impossible"))
        .then(None)
        .otherwise(d)
        .alias("birth_day"),
        pl.when("drop_all").then(None).otherwise(pl.col("full")).alias("date_of_birth"),
        pl.when("unparsed")
        .then(pl.lit("unparseable_date"))
        .when("future")
        .then(pl.lit("future_birth_date"))
        .when("too_old")
        .then(pl.lit("implausible_birth_year"))
        .when("bad_month")
        .then(pl.lit("invalid_month"))
        .when("impossible")
        .then(pl.lit("impossible_date"))
        .alias("dob_flaw"),
    )
    frame = frame.with_columns(
        pl.when(pl.col("date_of_birth").is_not_null())
        .then(pl.lit("day"))
        .when(pl.col("birth_month").is_not_null() & pl.col("birth_year").is_not_null())
        .then(pl.lit("month"))
        .when(pl.col("birth_year").is_not_null())
        .then(pl.lit("year"))
        .otherwise(pl.lit("unknown"))
        .alias("dob_precision"),
        (
            pl.col("date_of_birth").is_not_null()
            & (pl.col("birth_day") == 1)
            & (pl.col("birth_month") == 1)
        )
        .fill_null(False)
        .alias("dob_placeholder"),
    )
    return frame.select(list(DATE_PARTS_SCHEMA)).cast(DATE_PARTS_SCHEMA)  # type: ignore[arg-type]
