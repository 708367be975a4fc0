"""Settings for other data sets than Vietnamese registers: FEBRL.

FEBRL's records (``synth.febrl`` maps them onto the record columns) have no
sex, middle or parents' names: ``febrl_settings`` adapts blocking, training
rules and comparisons to the fields they have.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from matching.comparisons import (
    Comparison,
    date_of_birth_comparison,
    exact_comparison,
    family_name_comparison,
    fuzzy_text_comparison,
    given_name_comparison,
    id_number_comparison,
)
from matching.rules import PairRule
from matching.settings import BlockingRule, MatchSettings


def febrl_comparisons() -> tuple[Comparison, ...]:
    """Comparisons for the FEBRL fields."""
    return (
        given_name_comparison(),
        family_name_comparison(),
        date_of_birth_comparison(),
        id_number_comparison(),
        exact_comparison("state", "birth_province_code"),
        fuzzy_text_comparison("address", "address", (0.92, 0.80)),
        fuzzy_text_comparison("suburb", "birth_place", (0.92, 0.80)),
        fuzzy_text_comparison("postcode", "native_place", (0.92,)),
    )


def same_file_rule() -> PairRule:
    """Linkage of two files free of duplicates: two records of one file are two people."""
    return PairRule(
        name="same_file",
        effect="cannot_link",
        columns=("province_code",),
        when=pl.col("province_code_l") == pl.col("province_code_r"),
    )


def febrl_settings(base: MatchSettings | None = None, *, linkage: bool = False) -> MatchSettings:
    """Settings for FEBRL: blocking and training rules without sex, FEBRL comparisons.

    With ``linkage`` (FEBRL 4), pairs inside one file cannot link.
    """
    base = base or MatchSettings()
    return replace(
        base,
        blocking=replace(
            base.blocking,
            rules=(
                BlockingRule("id_number", ("id_number",)),
                BlockingRule("names", ("family_name__fold", "given_name__fold")),
                BlockingRule("given_year", ("given_name__fold", "birth_year")),
                BlockingRule("family_year", ("family_name__fold", "birth_year")),
                BlockingRule("dob", ("date_of_birth__full",)),
                BlockingRule("postcode_given_phon", ("native_place__fold", "given_name__phon")),
                BlockingRule("address", ("address__fold",)),
            ),
        ),
        training=replace(
            base.training,
            rules=(
                BlockingRule("dob", ("date_of_birth__full",)),
                BlockingRule("names", ("family_name__fold", "given_name__fold")),
                BlockingRule("id_number", ("id_number",)),
            ),
        ),
        comparisons=febrl_comparisons(),
        rules=(same_file_rule(),) if linkage else (),
    )
