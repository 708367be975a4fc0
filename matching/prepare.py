"""Derived matching columns for standardised records.

``prepare_records`` sorts the records by ``record_key``, numbers them
(``rid``, so ``rid_l < rid_r`` exactly when ``record_key_l < record_key_r``)
and adds the folded and phonetic keys that blocking and comparisons read.
Derived columns are named ``<field>__<kind>``, so the schema field a key
comes from is the part before ``__`` (used to know which comparisons a
training blocking rule fixes).
"""

from __future__ import annotations

import polars as pl

from matching._text import family_variant_expr, fold_expr, phonetic_expr
from pipelines.schema import RECORD_SCHEMA

#: Fields folded to ``<field>__fold``.
_FOLDED: tuple[str, ...] = (
    "family_name",
    "middle_name",
    "given_name",
    "father_name",
    "mother_name",
    "address",
    "birth_place",
    "native_place",
)


def source_field(column: str) -> str:
    """Return the schema field a prepared column derives from."""
    return column.split("__", 1)[0]


def prepare_records(records: pl.DataFrame) -> pl.DataFrame:
    """Add ``rid`` and the derived keys used by blocking and comparisons.

    Args:
        records: Frame with the columns of ``pipelines.schema.RECORD_SCHEMA``
            (missing columns are treated as all-null); ``record_key`` unique.

    Returns:
        The records sorted by ``record_key`` with ``rid`` (0..n-1) and derived
        columns: ``<name>__fold`` for the name and address fields,
        ``given_name__phon``, ``family_name__variant``, ``family_name__phon``,
        ``date_of_birth__full`` (the date only when known to the day and not a
        01/01 placeholder) and ``dob_precision`` filled in when null.

    Raises:
        ValueError: If ``record_key`` is null or not unique.
    """
    missing = [c for c in RECORD_SCHEMA if c not in records.columns]
    frame = records.with_columns(
        pl.lit(None, dtype=RECORD_SCHEMA[c]).alias(c) for c in missing
    ).select(
        [pl.col(c).cast(t) for c, t in RECORD_SCHEMA.items()],
    )
    if frame["record_key"].null_count() or frame["record_key"].n_unique() != frame.height:
        raise ValueError("record_key must be non-null and unique")
    precision = pl.coalesce(
        pl.col("dob_precision"),
        pl.when(pl.col("birth_day").is_not_null())
        .then(pl.lit("day"))
        .when(pl.col("birth_month").is_not_null())
        .then(pl.lit("month"))
        .when(pl.col("birth_year").is_not_null())
        .then(pl.lit("year"))
        .otherwise(pl.lit("unknown")),
    )
    frame = (
        frame.sort("record_key")
        .with_row_index("rid")
        .with_columns(pl.col("rid").cast(pl.Int64))
        .with_columns(
            *(fold_expr(pl.col(c)).alias(f"{c}__fold") for c in _FOLDED),
            dob_precision=precision,
            dob_placeholder=pl.col("dob_placeholder").fill_null(False),
            sex=pl.when(pl.col("sex").is_in(["M", "F"])).then(pl.col("sex")),
            id_number=pl.when(pl.col("id_number").str.len_chars() > 0).then(pl.col("id_number")),
        )
        .with_columns(
            given_name__phon=phonetic_expr(pl.col("given_name__fold")),
            family_name__variant=family_variant_expr(pl.col("family_name__fold")),
            family_name__phon=phonetic_expr(pl.col("family_name__fold")),
            date_of_birth__full=pl.when(
                (pl.col("dob_precision") == "day") & ~pl.col("dob_placeholder")
            ).then(pl.date(pl.col("birth_year"), pl.col("birth_month"), pl.col("birth_day"))),
        )
    )
    return frame
