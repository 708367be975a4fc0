"""Derived matching columns for standardised records.

``prepare_records`` sorts the records by ``record_key``, numbers them
(``rid``, so ``rid_l < rid_r`` exactly when ``record_key_l < record_key_r``)
and adds the folded and phonetic keys that blocking and comparisons read.
A 12-digit CCCD number spells its holder's birth province and sex (Circular
59/2021): they fill ``birth_province_code`` and ``sex`` where those are missing.
Derived columns are named ``<field>__<kind>``, so the schema field a key
comes from is the part before ``__`` (used to know which comparisons a
training blocking rule fixes).
"""

from __future__ import annotations

import polars as pl

from domain.identity import cccd_parts_expr
from domain.schema import RECORD_SCHEMA
from matching._text import family_variant_expr, name_fold_expr, phonetic_expr

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
    "ethnicity",
    "religion",
    "occupation",
)


def source_field(column: str) -> str:
    """Return the schema field a prepared column derives from."""
    return column.split("__", 1)[0]


def _per_value(frame: pl.DataFrame, source: str, **derived: pl.Expr) -> pl.DataFrame:
    """Add ``derived`` columns (functions of ``source`` alone), each computed once per value.

    Names and places repeat a lot (a million records hold about five thousand
    given names), so folding the distinct values and joining them back costs
    a fraction of folding every row; the result is the same.
    """
    values = frame.select(pl.col(source).unique()).with_columns(**derived)
    return frame.join(values, on=source, how="left", maintain_order="left", nulls_equal=True)


def _name_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the folded, toned, phonetic, variant and initial keys of the name fields."""
    for column in _FOLDED:
        folded = name_fold_expr(pl.col(column))
        derived = {f"{column}__fold": folded}
        if column == "given_name":
            derived |= {
                "given_name__tone": pl.when(folded.is_not_null()).then(
                    pl.col(column)
                    .str.normalize("NFC")
                    .str.to_lowercase()
                    .str.replace_all(r"\s+", " ")
                    .str.strip_chars()
                ),
                "given_name__phon": phonetic_expr(folded),
                "given_name__initial": folded.str.head(1),
            }
        elif column == "family_name":
            derived |= {
                "family_name__initial": folded.str.head(1),
                "family_name__variant": family_variant_expr(folded),
                "family_name__phon": phonetic_expr(folded),
            }
        frame = _per_value(frame, column, **derived)
    full_name = pl.coalesce(
        "full_name",
        pl.concat_str("family_name", "middle_name", "given_name", separator=" ", ignore_nulls=True),
    )
    frame = _per_value(
        frame.with_columns(full_name__raw=full_name),
        "full_name__raw",
        full_name__fold=name_fold_expr(pl.col("full_name__raw")),
    ).drop("full_name__raw")
    for column, phrase in (("residence_type", "tam tru"), ("relation_to_head", "o nho")):
        frame = _per_value(
            frame,
            column,
            **{f"{column}__says_elsewhere": name_fold_expr(pl.col(column)).str.contains(phrase)},
        )
    return frame


def prepare_records(records: pl.DataFrame) -> pl.DataFrame:
    """Add ``rid`` and the derived keys used by blocking and comparisons.

    Args:
        records: Frame with the columns of ``domain.schema.RECORD_SCHEMA``
            (missing columns are treated as all-null); ``record_key`` unique.

    Returns:
        The records sorted by ``record_key`` with ``rid`` (0..n-1) and derived
        columns: ``<name>__fold`` for the name and address fields,
        ``given_name__tone`` (lower case, tone marks kept), ``given_name__phon``,
        ``family_name__variant``, ``family_name__phon``,
        ``given_name__initial``, ``family_name__initial``, ``full_name__fold``,
        ``date_of_birth__unordered`` (year, then day and month in either order),
        ``household_id__key`` (province and household number, else province
        and address), ``name_marked`` (the name is written with diacritics),
        ``registered_elsewhere`` (temporary residence or lodger; null when unknown),
        ``id_number__length`` (in characters), ``id_number__tail``
        (length and last six digits) and ``id_number__head`` (the rest),
        ``date_of_birth__full`` (the date only when known to the day and not a
        01/01 placeholder), ``date_of_birth__day_month`` (its month and day),
        ``given_middle__words`` (the middle and given names' words, sorted),
        ``dob_precision`` filled in when null, and
        ``given_name__tone_n`` / ``given_name__fold_n`` (records of ``records``
        carrying the same given name, as written and folded).

    Raises:
        ValueError: If ``record_key`` is null or not unique.
    """
    return number_records(derive_keys(records))


def derive_keys(records: pl.DataFrame) -> pl.DataFrame:
    """The records with their derived keys (``prepare_records`` without ``rid`` and name counts).

    Row by row: a record's keys depend on that record alone, so they can be
    kept between runs (``matching.keystore``). Rows stay in their order.
    """
    missing = [c for c in RECORD_SCHEMA if c not in records.columns]
    frame = records.with_columns(
        pl.lit(None, dtype=RECORD_SCHEMA[c]).alias(c) for c in missing
    ).select(
        [pl.col(c).cast(t) for c, t in RECORD_SCHEMA.items()],
    )
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
    cccd_province, cccd_sex = cccd_parts_expr(pl.col("id_number"))
    return (
        _name_keys(frame)
        .with_columns(
            dob_precision=precision,
            dob_placeholder=pl.col("dob_placeholder").fill_null(False),
            sex=pl.when(pl.col("sex").is_in(["M", "F"])).then(pl.col("sex")),
            id_number=pl.when(pl.col("id_number").str.len_chars() > 0).then(pl.col("id_number")),
        )
        .with_columns(
            # A 12-digit CCCD spells the birth province and the sex: use them where missing.
            birth_province_code=pl.coalesce("birth_province_code", cccd_province),
            sex=pl.coalesce("sex", cccd_sex),
            # A system without household numbers still gives the address of the house.
            household_id__key=pl.when(pl.col("household_id").str.len_chars() > 0)
            .then(pl.concat_str("province_code", "household_id", separator=":"))
            .otherwise(pl.concat_str("province_code", "address__fold", separator=":@")),
            # A temporary resident or a lodger is registered permanently elsewhere.
            registered_elsewhere=pl.when(
                pl.col("residence_type").is_not_null() | pl.col("relation_to_head").is_not_null()
            ).then(
                pl.col("residence_type__says_elsewhere").fill_null(False)
                | pl.col("relation_to_head__says_elsewhere").fill_null(False)
            ),
            name_marked=pl.concat_str(
                "full_name", "family_name", "middle_name", "given_name", ignore_nulls=True
            )
            .str.contains(r"[^\x00-\x7F]")
            .fill_null(False),
            id_number__length=pl.col("id_number").str.len_chars(),
            id_number__tail=pl.when(pl.col("id_number").str.len_chars() >= 9).then(
                pl.concat_str(
                    pl.col("id_number").str.len_chars().cast(pl.String),
                    pl.col("id_number").str.slice(-6),
                    separator=":",
                )
            ),
            id_number__head=pl.when(pl.col("id_number").str.len_chars() >= 9).then(
                pl.col("id_number").str.head(-6)
            ),
        )
        .with_columns(
            date_of_birth__unordered=pl.when(pl.col("dob_precision") == "day").then(
                pl.format(
                    "{}-{}-{}",
                    "birth_year",
                    pl.min_horizontal("birth_month", "birth_day"),
                    pl.max_horizontal("birth_month", "birth_day"),
                )
            ),
            date_of_birth__full=pl.when(
                (pl.col("dob_precision") == "day") & ~pl.col("dob_placeholder")
            ).then(pl.date(pl.col("birth_year"), pl.col("birth_month"), pl.col("birth_day"))),
            # The words of the middle and given names in order: a given name
            # written where the middle name goes (Lệ Ngọc / Ngọc Lệ) keeps them.
            given_middle__words=pl.when(pl.col("given_name__fold").is_not_null()).then(
                pl.concat_str(
                    "middle_name__fold", "given_name__fold", separator=" ", ignore_nulls=True
                )
                .str.split(" ")
                .list.sort()
                .list.join(" ")
            ),
        )
        .with_columns(
            # Day and month of a real date: a mistyped year keeps them.
            date_of_birth__day_month=pl.when(pl.col("date_of_birth__full").is_not_null()).then(
                pl.format("{}-{}", "birth_month", "birth_day")
            ),
        )
        .drop("residence_type__says_elsewhere", "relation_to_head__says_elsewhere")
    )


def number_records(derived: pl.DataFrame) -> pl.DataFrame:
    """Sort records with their derived keys by ``record_key``, number them, count their names.

    Raises:
        ValueError: If ``record_key`` is null or not unique.
    """
    keys = derived["record_key"]
    if keys.null_count() or keys.n_unique() != derived.height:
        raise ValueError("record_key must be non-null and unique")
    numbered = (
        derived.sort("record_key").with_row_index("rid").with_columns(pl.col("rid").cast(pl.Int64))
    )
    return _name_counts(numbered)


def _name_counts(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``given_name__tone_n`` and ``given_name__fold_n``: records carrying the same given name.

    Counted over the records given (a registry and its new batch together),
    as written (tone marks kept) and folded; null where the name is. A name
    no other record carries is likelier a slip than a name.
    """
    for column in ("given_name__tone", "given_name__fold"):
        counts = frame.group_by(column).len(f"{column}_n").drop_nulls(column)
        frame = frame.join(counts, on=column, how="left", maintain_order="left").with_columns(
            pl.col(f"{column}_n").cast(pl.Int64)
        )
    return frame
