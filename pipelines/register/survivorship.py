"""Survivorship: choose each person's canonical fields from its source records.

Rules (each value keeps the key of the record it came from):

- name: a record with diacritics over one without; then the latest batch;
- birth date: known to the day (not the 01/01 placeholder) over month-only,
  over the placeholder, over year-only; then the latest batch;
- sex: the value most records give; ties go to the latest batch;
- birth province: the code most records give; when none says, the province
  that first registered the person (the contract's rule for the PIN);
- address: the most recent one: latest registration date (records without
  one last), then the latest batch; ``address_province_code`` is the
  province whose register holds that address;
- ties always end on the smallest ``record_key``, so the result is deterministic.
"""

from __future__ import annotations

import polars as pl

from domain.vntext import fold_expr

GOLDEN_COLUMNS = (
    "person_id",
    "family_name",
    "middle_name",
    "given_name",
    "full_name",
    "name_source",
    "date_of_birth",
    "birth_year",
    "birth_month",
    "birth_day",
    "dob_precision",
    "dob_source",
    "sex",
    "birth_province_code",
    "ethnicity",
    "address",
    "address_province_code",
    "address_source",
    "record_count",
    "first_batch_id",
    "last_batch_id",
)

_PRECISION_RANK = (
    pl.when((pl.col("dob_precision") == "day") & ~pl.col("dob_placeholder").fill_null(False))
    .then(4)
    .when(pl.col("dob_precision") == "month")
    .then(3)
    .when(pl.col("dob_precision") == "day")
    .then(2)
    .when(pl.col("dob_precision") == "year")
    .then(1)
    .otherwise(0)
)


def _best(column: str, keys: list[pl.Expr], descending: list[bool]) -> pl.Expr:
    order = [*keys, pl.col("record_key")]
    return pl.col(column).sort_by(order, descending=[*descending, False]).first()


def golden_records(records: pl.DataFrame) -> pl.DataFrame:
    """Return one canonical row per ``person_id`` of ``records``."""
    scored = records.with_columns(
        (pl.col("full_name") != fold_expr(pl.col("full_name"))).fill_null(False).alias("_accents"),
        pl.col("full_name").is_not_null().alias("_named"),
        _PRECISION_RANK.alias("_dob_rank"),
    ).with_columns(
        pl.col("sex").count().over("person_id", "sex").alias("_sex_n"),
        pl.col("birth_province_code")
        .count()
        .over("person_id", "birth_province_code")
        .alias("_prov_n"),
        pl.col("ethnicity").count().over("person_id", "ethnicity").alias("_eth_n"),
    )
    name_keys = [pl.col("_named"), pl.col("_accents"), pl.col("batch_id")]
    dob_keys = [pl.col("_dob_rank"), pl.col("batch_id")]
    first_keys = [pl.col("batch_id")]
    address_keys = [
        pl.col("address").is_not_null(),
        pl.col("registered_on").is_not_null(),
        pl.col("registered_on"),
        pl.col("batch_id"),
    ]
    golden = scored.group_by("person_id").agg(
        *(
            _best(c, name_keys, [True, True, True])
            for c in ("family_name", "middle_name", "given_name", "full_name")
        ),
        _best("record_key", name_keys, [True, True, True]).alias("name_source"),
        *(
            _best(c, dob_keys, [True, True])
            for c in ("date_of_birth", "birth_year", "birth_month", "birth_day", "dob_precision")
        ),
        _best("record_key", dob_keys, [True, True]).alias("dob_source"),
        _best(
            "sex",
            [pl.col("sex").is_not_null(), pl.col("_sex_n"), pl.col("batch_id")],
            [True, True, True],
        ),
        _best(
            "birth_province_code",
            [pl.col("birth_province_code").is_not_null(), pl.col("_prov_n"), pl.col("batch_id")],
            [True, True, True],
        ).alias("_stated_province"),
        _best("province_code", first_keys, [False]).alias("_first_province"),
        _best("ethnicity", [pl.col("ethnicity").is_not_null(), pl.col("_eth_n")], [True, True]),
        _best("address", address_keys, [True, True, True, True]),
        _best("province_code", address_keys, [True, True, True, True]).alias(
            "address_province_code"
        ),
        _best("record_key", address_keys, [True, True, True, True]).alias("address_source"),
        pl.len().cast(pl.Int32).alias("record_count"),
        pl.col("batch_id").min().alias("first_batch_id"),
        pl.col("batch_id").max().alias("last_batch_id"),
    )
    golden = golden.with_columns(
        pl.coalesce("_stated_province", "_first_province").alias("birth_province_code")
    )
    return golden.select(GOLDEN_COLUMNS).sort("person_id")
