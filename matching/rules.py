"""Deterministic pair rules that override the model.

Merging two people under one number is worse than missing a duplicate, so a
few rules constrain the model's decision:

* ``cannot_link`` rules (twins) force ``non_link`` and also forbid the two
  records from ending in one cluster through other links;
* ``at_most_review`` rules (a sex conflict without a shared ID number) keep
  a pair the model would link for a human to review instead.

Rules are polars expressions over a pair frame (``<column>_l``/``_r``), so
they apply alike to candidate pairs and to pairs found inside clusters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

from matching.comparisons import Similarity

Effect = Literal["cannot_link", "at_most_review"]


@dataclass(frozen=True, eq=False)
class PairRule:
    """A named deterministic rule on a pair of records."""

    name: str
    effect: Effect
    columns: tuple[str, ...]
    when: pl.Expr
    similarities: tuple[Similarity, ...] = ()


def _l(column: str) -> pl.Expr:
    return pl.col(f"{column}_l")


def _r(column: str) -> pl.Expr:
    return pl.col(f"{column}_r")


def _eq(column: str) -> pl.Expr:
    return (_l(column) == _r(column)).fill_null(False)


def _differ(column: str) -> pl.Expr:
    return (_l(column) != _r(column)).fill_null(False)


def twins_rule() -> PairRule:
    """Same household, same birth date, clearly different given names, no shared ID: twins.

    Given names are "clearly different" when they differ after folding, in
    their phonetic key, and by Jaro-Winkler (< 0.92), so a typo is not taken
    for a twin.
    """
    jw = Similarity("given_name__fold", "jaro_winkler")
    different_given = (
        _differ("given_name__fold") & _differ("given_name__phon") & (pl.col(jw.name) < 0.92)
    )
    same_date = (
        (_l("dob_precision") == "day")
        & (_r("dob_precision") == "day")
        & _eq("birth_year")
        & _eq("birth_month")
        & _eq("birth_day")
    )
    return PairRule(
        name="twins",
        effect="cannot_link",
        columns=(
            "province_code",
            "household_id",
            "dob_precision",
            "birth_year",
            "birth_month",
            "birth_day",
            "given_name__fold",
            "given_name__phon",
            "id_number",
        ),
        when=_eq("province_code")
        & _eq("household_id")
        & same_date
        & different_given
        & ~_eq("id_number"),
        similarities=(jw,),
    )


def sex_conflict_rule() -> PairRule:
    """Different recorded sex and no shared ID number: never linked automatically."""
    return PairRule(
        name="sex_conflict",
        effect="at_most_review",
        columns=("sex", "id_number"),
        when=_differ("sex") & ~_eq("id_number"),
    )


def default_rules() -> tuple[PairRule, ...]:
    """Return the rules applied by default."""
    return (twins_rule(), sex_conflict_rule())
