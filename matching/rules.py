"""Deterministic pair rules that override the model.

Merging two people under one number is worse than missing a duplicate, so a
few rules constrain the model's decision:

* ``cannot_link`` rules (twins, in one household or apart; two members of
  one household, told apart by their given names or birth dates) force
  ``non_link`` and also forbid the two records from ending in one cluster
  through other links;
* ``keep_apart`` rules (two given names that are both names people carry,
  a tone or a letter apart, on one birth date; two real birth dates that
  are not one date slipped) send a pair the model would link or review to review, and forbid
  its records from one cluster as a cannot-link does, until a reviewer
  says they are one person: the pair is most likely two people, but a
  clerk can tell, so it stays in the queue;
* ``at_most_review`` rules (a sex conflict without a shared ID number) keep
  a pair the model would link for a human to review instead.

Rules are polars expressions over a pair frame (``<column>_l``/``_r``), so
they apply alike to candidate pairs and to pairs found inside clusters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from matching.pair_values import Similarity, pair_frame, similarity_scores

Effect = Literal["cannot_link", "keep_apart", "at_most_review"]

#: Effects that keep two records out of one cluster (see ``cannot_link_pairs``).
APART: tuple[Effect, ...] = ("cannot_link", "keep_apart")


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


_GIVEN_JW = Similarity("given_name__fold", "jaro_winkler")
_GIVEN_OSA = Similarity("given_name__fold", "osa")
_TONED_OSA = Similarity("given_name__tone", "osa")
_GIVEN_COLUMNS = (
    "given_middle__words",
    "given_name__fold",
    "given_name__phon",
    "given_name__tone",
    "given_name__initial",
    "name_marked",
)
_GIVEN_SIMILARITIES = (_GIVEN_JW, _GIVEN_OSA, _TONED_OSA)


def _names_swapped() -> pl.Expr:
    """The given name written where the middle name goes: the same words, another given name."""
    return (_eq("given_middle__words") & _differ("given_name__fold")).fill_null(False)


def _clearly_different_given() -> pl.Expr:
    """Given names that are two names, not one name and a slip.

    When both records are written with diacritics the names are compared as
    written: more than one edit apart is another name (Trường and Trung, two
    edits, fold to one edit apart; Tuấn and Toàn likewise). Otherwise
    folded: another first letter (a typo keeps the initial: Huy and Duy), or
    more than one edit apart and not alike by Jaro-Winkler; and in both
    cases they must also differ in sound (a regional spelling is one name).
    """
    as_written = _l("name_marked") & _r("name_marked") & (pl.col(_TONED_OSA.name) > 1)
    initial_differs = _l("given_name__initial") != _r("given_name__initial")
    folded = initial_differs | ((pl.col(_GIVEN_OSA.name) > 1) & (pl.col(_GIVEN_JW.name) < 0.92))
    return (
        (_differ("given_name__fold") | _differ("given_name__tone"))
        & _differ("given_name__phon")
        & (as_written | folded)
    ).fill_null(False)


def twins_rule() -> PairRule:
    """Same household, same birth date, different given names, no shared ID: twins.

    Given names are different when clearly so, or when they differ at all
    (folded, even if they sound alike) and the middle names, known on both
    sides, differ too: a clerk's double entry with a slip in the given name
    keeps the middle name.
    """
    different_given_and_middle = _differ("given_name__fold") & _differ("middle_name__fold")
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
            "household_id__key",
            "dob_precision",
            "birth_year",
            "birth_month",
            "birth_day",
            *_GIVEN_COLUMNS,
            "middle_name__fold",
            "id_number",
        ),
        when=_eq("household_id__key")
        & same_date
        & (_clearly_different_given() | different_given_and_middle)
        & ~_names_swapped()
        & ~_eq("id_number"),
        similarities=_GIVEN_SIMILARITIES,
    )


def twins_elsewhere_rule() -> PairRule:
    """Twins now in different households: same real birth date, surname and a parent's name.

    A twin who moved has another household; what still marks the pair is
    the shared date (known to the day), surname and parent, with clearly
    different given names and no shared ID. Given and middle names written
    in each other's places are one name, as in ``twins_rule``.
    """
    return PairRule(
        name="twins_elsewhere",
        effect="cannot_link",
        columns=(
            "date_of_birth__full",
            "family_name__variant",
            "father_name__fold",
            "mother_name__fold",
            *_GIVEN_COLUMNS,
            "id_number",
        ),
        when=_eq("date_of_birth__full")
        & _eq("family_name__variant")
        & (_eq("father_name__fold") | _eq("mother_name__fold"))
        & _clearly_different_given()
        & ~_names_swapped()
        & ~_eq("id_number"),
        similarities=_GIVEN_SIMILARITIES,
    )


def household_names_rule() -> PairRule:
    """Same household, clearly different given names, no shared ID: two members of it.

    Records of one person sent twice from the same household (a clerk's
    double entry, a correction) keep the given name up to a typo.
    """
    return PairRule(
        name="household_names",
        effect="cannot_link",
        columns=("household_id__key", *_GIVEN_COLUMNS, "id_number"),
        when=_eq("household_id__key")
        & _clearly_different_given()
        & ~_names_swapped()
        & ~_eq("id_number"),
        similarities=_GIVEN_SIMILARITIES,
    )


def household_dates_rule() -> PairRule:
    """Same household, birth dates that differ, no shared ID: two members of it.

    Dates differ when both are real (known to the day, not 01/01) and differ
    other than by a day-month swap or a year mistyped by one (day and month
    kept), or when the years are two or more apart.
    Such records of one household are two of its members (siblings even with
    the same name, a father and a son named alike), never one person: a
    clerk's double entry or a re-sent record keeps the household, and its
    date loses precision or swaps day and month, but does not change.
    """
    both_real = _l("date_of_birth__full").is_not_null() & _r("date_of_birth__full").is_not_null()
    swapped = (
        _eq("birth_year")
        & (_l("birth_day") == _r("birth_month"))
        & (_l("birth_month") == _r("birth_day"))
    )
    year_slipped = (
        _eq("birth_month") & _eq("birth_day") & ((_l("birth_year") - _r("birth_year")).abs() == 1)
    )
    real_dates_differ = (
        both_real
        & _differ("date_of_birth__full")
        & ~swapped.fill_null(False)
        & ~year_slipped.fill_null(False)
    )
    years_apart = ((_l("birth_year") - _r("birth_year")).abs() >= 2).fill_null(False)
    return PairRule(
        name="household_dates",
        effect="cannot_link",
        columns=(
            "household_id__key",
            "date_of_birth__full",
            "birth_year",
            "birth_day",
            "birth_month",
            "id_number",
        ),
        when=_eq("household_id__key") & (real_dates_differ | years_apart) & ~_eq("id_number"),
    )


def parent_of_rule() -> PairRule:
    """One record names the other as its father or mother: a parent and a child.

    A son often bears his father's name; the child's record then lists that
    name as its father's (folded full names compared). A parent and a child
    do not have the same parents, so two records that name the same father
    and mother (either missing on one record counts as the same) are not
    parent and child: they are one person named after a parent, written twice.
    """
    names_parent = (
        (_l("father_name__fold") == _r("full_name__fold"))
        | (_l("mother_name__fold") == _r("full_name__fold"))
        | (_r("father_name__fold") == _l("full_name__fold"))
        | (_r("mother_name__fold") == _l("full_name__fold"))
    )

    def _same_or_missing(column: str) -> pl.Expr:
        return _eq(column) | _l(column).is_null() | _r(column).is_null()

    same_parents = (
        (_eq("father_name__fold") | _eq("mother_name__fold"))
        & _same_or_missing("father_name__fold")
        & _same_or_missing("mother_name__fold")
    )
    return PairRule(
        name="parent_of",
        effect="cannot_link",
        columns=("father_name__fold", "mother_name__fold", "full_name__fold", "id_number"),
        when=names_parent.fill_null(False) & ~same_parents & ~_eq("id_number"),
    )


#: Records carrying a given name before it counts as a name people have,
#: rather than a slip: a typo makes a name few other records carry, twins
#: are given two real names.
ATTESTED_NAME_RECORDS = 3

#: ... and the rarer of two names must be carried by at least this share of
#: the records carrying the commoner: a slip of a common name recurs (at a
#: million records "Hungg" is written many times), but far less often than
#: the name. Tuned on the hard generated profile (20,000 persons, seed 7:
#: pairs under 0.05 were 196 one person and 2 two; above, 2 and 22).
ATTESTED_NAME_SHARE = 0.05


def _attested_given(records: int, share: float) -> pl.Expr:
    """Both given names are names people carry (as written when both records are marked).

    The rarer is carried by at least ``records`` records and at least
    ``share`` of the records carrying the commoner.
    """
    both_marked = _l("name_marked") & _r("name_marked")
    counts = {
        kind: (_l(f"given_name__{kind}_n"), _r(f"given_name__{kind}_n"))
        for kind in ("tone", "fold")
    }
    rarer = (
        pl.when(both_marked)
        .then(pl.min_horizontal(*counts["tone"]))
        .otherwise(pl.min_horizontal(*counts["fold"]))
    )
    commoner = (
        pl.when(both_marked)
        .then(pl.max_horizontal(*counts["tone"]))
        .otherwise(pl.max_horizontal(*counts["fold"]))
    )
    return ((rarer >= records) & (rarer >= share * commoner)).fill_null(False)


def named_alike_rule(
    records: int = ATTESTED_NAME_RECORDS, share: float = ATTESTED_NAME_SHARE
) -> PairRule:
    """One birth, one family, two given names people carry: keep apart, review.

    Twins are often named a tone mark or a letter apart (Hà and Hạ, Thúy and
    Thủy, Khang and Khanh), closer than the twins rules' "clearly different
    names". A clerk's slip gives a name as close, but one that few other
    records carry; when both names are carried by at least ``records``
    records of the run, the rarer by at least ``share`` of the records
    carrying the commoner, and the records share a real birth date (or a year,
    where one knows no more: a moved twin's record often has the year alone)
    and a household or surname with no shared ID number, they are kept apart
    and reviewed. When both records are written with diacritics the names are
    compared as written (Hà and Hạ differ); else folded.
    """
    both_marked = _l("name_marked") & _r("name_marked")
    given_differ = (
        pl.when(both_marked)
        .then(_differ("given_name__tone"))
        .otherwise(_differ("given_name__fold"))
        .fill_null(False)
    )
    real_l = _l("date_of_birth__full").is_not_null()
    real_r = _r("date_of_birth__full").is_not_null()
    one_birth = _eq("date_of_birth__full") | (_eq("birth_year") & ~(real_l & real_r))
    return PairRule(
        name="named_alike",
        effect="keep_apart",
        columns=(
            "date_of_birth__full",
            "birth_year",
            "household_id__key",
            "family_name__variant",
            "given_name__tone",
            "given_name__fold",
            "given_name__tone_n",
            "given_name__fold_n",
            "given_middle__words",
            "name_marked",
            "id_number",
        ),
        when=one_birth
        & (_eq("household_id__key") | _eq("family_name__variant"))
        & given_differ
        & ~_names_swapped()
        & _attested_given(records, share)
        & ~_eq("id_number"),
    )


def dates_conflict_rule() -> PairRule:
    """Two real birth dates that are not one date slipped: keep apart, review.

    A person's records lose precision (a year, a 01/01 placeholder), swap
    day and month, or mistype the year and keep the day and month. Two real
    dates that differ otherwise (another day or month) are most often two
    people of one name (namesakes are common at the scale of a country),
    and a slip of the day is for a clerk to confirm.
    """
    both_real = _l("date_of_birth__full").is_not_null() & _r("date_of_birth__full").is_not_null()
    swapped = (
        _eq("birth_year")
        & (_l("birth_day") == _r("birth_month"))
        & (_l("birth_month") == _r("birth_day"))
    )
    year_slipped = _eq("birth_month") & _eq("birth_day")
    return PairRule(
        name="dates_conflict",
        effect="keep_apart",
        columns=("date_of_birth__full", "birth_year", "birth_month", "birth_day", "id_number"),
        when=(
            both_real
            & _differ("date_of_birth__full")
            & ~swapped.fill_null(False)
            & ~year_slipped
            & ~_eq("id_number")
        ).fill_null(False),
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
    return (
        twins_rule(),
        twins_elsewhere_rule(),
        household_names_rule(),
        household_dates_rule(),
        parent_of_rule(),
        named_alike_rule(),
        dates_conflict_rule(),
        sex_conflict_rule(),
    )


def rule_flags(
    prepared: pl.DataFrame, pairs: pl.DataFrame, rules: Sequence[PairRule]
) -> pl.DataFrame:
    """Return one Boolean column ``rule_<name>`` per rule for ``pairs`` (``rid_l``, ``rid_r``).

    ``prepared`` is the output of ``prepare_records`` or the columns the
    rules read, strings possibly encoded once by ``encode_strings``.
    """
    columns = [c for rule in rules for c in rule.columns]
    frame = pair_frame(prepared, pairs.select("rid_l", "rid_r"), columns)
    sims = [s for rule in rules for s in rule.similarities]
    frame = frame.with_columns(similarity_scores(frame, sims))
    return frame.select(rule.when.fill_null(False).alias(f"rule_{rule.name}") for rule in rules)


def cannot_link_pairs(
    prepared: pl.DataFrame, pairs: pl.DataFrame, rules: Sequence[PairRule]
) -> pl.Series:
    """Return a Boolean per pair: does a rule keep its records apart.

    The rules that do are those of effect ``cannot_link`` or ``keep_apart``.
    """
    cannot = [r for r in rules if r.effect in APART]
    if not cannot or pairs.height == 0:
        return pl.Series("cannot_link", [False] * pairs.height, dtype=pl.Boolean)
    flags = rule_flags(prepared, pairs, cannot)
    return flags.select(pl.any_horizontal(flags.columns).alias("cannot_link")).to_series()
