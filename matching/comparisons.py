"""Comparisons: for each pair of records, which agreement level each field reaches.

A comparison lists its levels in order, strongest first, as polars
expressions over a pair frame whose columns are ``<column>_l`` and
``<column>_r`` (and any similarity scores it asks for). The first level that
holds wins; a pair where the null expression holds gets level -1 (no
information); a pair that meets no level gets 0 (``else``). Level values
follow Splink's comparison vector convention: -1 null, 0 else, and the
strongest level the highest number.

A new comparison is a new entry built from these pieces, not a new branch.
Levels only compare values (equality, nulls, a literal) and scores, never
call string functions: the pair frame holds string columns as integer codes
(``matching.pair_values``), and a string function of one value is a
prepared column (``given_name__initial``, ``id_number__length``), one of two
values a ``Similarity`` scored once per distinct pair of values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from matching.pair_values import (
    ScoreCache,
    Similarity,
    encode_strings,
    pair_frame,
    similarity_scores,
)


@dataclass(frozen=True, eq=False)
class Level:
    """One agreement level: a label and the condition on the pair frame."""

    label: str
    when: pl.Expr


@dataclass(frozen=True, eq=False)
class Comparison:
    """An ordered list of agreement levels for one aspect of a record.

    Attributes:
        name: Short name; output columns are ``gamma_<name>`` and ``w_<name>``.
        fields: Schema fields the comparison reads (a training blocking rule
            on any of them fixes it, so EM does not estimate it there).
        columns: Prepared columns needed on both sides.
        null: Condition under which the pair carries no information.
        levels: Levels, strongest first; ``else`` is implicit.
        similarities: Scores to compute before evaluating the levels.
        tf_column: Prepared column whose value frequency adjusts the weight
            of the ``tf_levels`` (term-frequency adjustment), or None.
        tf_levels: Labels of the levels at which both sides share that value.
        tf_minimum: Smallest share used (None: ``MatchSettings.tf_minimum``).
    """

    name: str
    fields: tuple[str, ...]
    columns: tuple[str, ...]
    null: pl.Expr
    levels: tuple[Level, ...]
    similarities: tuple[Similarity, ...] = ()
    tf_column: str | None = None
    tf_levels: tuple[str, ...] = ()
    tf_minimum: float | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """Level labels indexed by level value (0 = ``else``)."""
        return ("else", *(level.label for level in reversed(self.levels)))

    @property
    def tf_level_values(self) -> tuple[int, ...]:
        """Level values whose weight is term-frequency adjusted."""
        return tuple(self.labels.index(label) for label in self.tf_levels)

    def gamma_expr(self) -> pl.Expr:
        """Return the expression giving this comparison's level (Int8)."""
        top = len(self.levels)
        chain: Any = pl.when(self.null).then(pl.lit(-1, pl.Int8))
        for i, level in enumerate(self.levels):
            chain = chain.when(level.when).then(pl.lit(top - i, pl.Int8))
        return chain.otherwise(pl.lit(0, pl.Int8)).alias(f"gamma_{self.name}")


def _l(column: str) -> pl.Expr:
    return pl.col(f"{column}_l")


def _r(column: str) -> pl.Expr:
    return pl.col(f"{column}_r")


def _either_null(column: str) -> pl.Expr:
    return _l(column).is_null() | _r(column).is_null()


def _eq(column: str) -> pl.Expr:
    return (_l(column) == _r(column)).fill_null(False)


def _at_least(sim: Similarity, threshold: float) -> pl.Expr:
    return pl.col(sim.name) >= threshold


def given_name_comparison() -> Comparison:
    """Given name: exact, folded, tones differ, phonetic, swapped, one edit, JW ≥ 0.92, else.

    ``exact`` compares the lower-case name with its tone marks; ``folded``
    agrees without them where a side has none; ``tones_differ`` agrees folded
    though both sides are marked differently (Hùng and Hưng: two names). A
    typo leaves the name one edit away however short it is, and keeps its
    first letter, so ``else`` means another name: among records of one
    person that is rare. ``swapped_with_middle``: the given name written
    where the middle name goes (the same words of the two names).
    """
    jw = Similarity("given_name__fold", "jaro_winkler")
    osa = Similarity("given_name__fold", "osa")
    marked_l = _l("given_name__tone") != _l("given_name__fold")
    marked_r = _r("given_name__tone") != _r("given_name__fold")
    return Comparison(
        name="given_name",
        fields=("given_name",),
        columns=(
            "given_name__tone",
            "given_name__fold",
            "given_name__phon",
            "given_name__initial",
            "given_middle__words",
        ),
        null=_either_null("given_name__fold"),
        levels=(
            Level("exact", _eq("given_name__tone")),
            Level("folded", _eq("given_name__fold") & ~(marked_l & marked_r)),
            Level("tones_differ", _eq("given_name__fold")),
            Level("phonetic", _eq("given_name__phon")),
            Level("swapped_with_middle", _eq("given_middle__words")),
            Level(
                "one_edit",
                (pl.col(osa.name) <= 1) & (_l("given_name__initial") == _r("given_name__initial")),
            ),
            Level("jaro_winkler_0.92", _at_least(jw, 0.92)),
        ),
        similarities=(jw, osa),
        tf_column="given_name__fold",
        tf_levels=("exact", "folded"),
    )


def family_name_comparison() -> Comparison:
    """Family name: folded, Hoàng~Huỳnh / Vũ~Võ, one edit or Jaro-Winkler ≥ 0.92, else."""
    jw = Similarity("family_name__fold", "jaro_winkler")
    osa = Similarity("family_name__fold", "osa")
    return Comparison(
        name="family_name",
        fields=("family_name",),
        columns=("family_name__fold", "family_name__variant"),
        null=_either_null("family_name__fold"),
        levels=(
            Level("folded", _eq("family_name__fold")),
            Level("variant", _eq("family_name__variant")),
            Level("typo", (pl.col(osa.name) <= 1) | _at_least(jw, 0.92)),
        ),
        similarities=(jw, osa),
        tf_column="family_name__variant",
        tf_levels=("folded", "variant"),
    )


def middle_name_comparison() -> Comparison:
    """Middle name: exact, swapped with the given name, one side missing, one within the other
    (Thị vs Thị Thu), JW, else."""
    jw = Similarity("middle_name__fold", "jaro_winkler")
    within = Similarity("middle_name__fold", "words_within")
    left_null = _l("middle_name__fold").is_null()
    right_null = _r("middle_name__fold").is_null()
    return Comparison(
        name="middle_name",
        fields=("middle_name",),
        columns=("middle_name__fold", "given_middle__words", "given_name__fold"),
        null=left_null & right_null,
        levels=(
            Level("folded", _eq("middle_name__fold")),
            Level(
                "swapped_with_given",
                _eq("given_middle__words") & (_l("given_name__fold") != _r("given_name__fold")),
            ),
            Level("one_side_missing", left_null | right_null),
            Level("contained", _at_least(within, 1.0)),
            Level("jaro_winkler_0.88", _at_least(jw, 0.88)),
        ),
        similarities=(jw, within),
        tf_column="middle_name__fold",
        tf_levels=("folded",),
    )


def date_of_birth_comparison() -> Comparison:
    """Date of birth, from the year, month and day with their precision.

    A *real* date is known to the day and is not a 01/01 placeholder. Levels:
    the same real date; day and month swapped; the same year where one side
    is a 01/01 placeholder; the same year where one side is known only to the
    year or month (months not contradicting); years one apart where a side is
    not a real date; other dates at most a year apart (two real dates that
    differ, months that contradict); else (years two or more apart). Null
    when a year is missing.
    """
    real_l = _l("date_of_birth__full").is_not_null()
    real_r = _r("date_of_birth__full").is_not_null()
    not_both_real = ~(real_l & real_r)
    same_year = _eq("birth_year")
    placeholder = _l("dob_placeholder") | _r("dob_placeholder")
    months_compatible = (
        _either_null("birth_month")
        | placeholder
        | (_l("dob_precision") == "year")
        | (_r("dob_precision") == "year")
        | _eq("birth_month")
    )
    swapped = (
        real_l
        & real_r
        & same_year
        & (_l("birth_day") == _r("birth_month"))
        & (_l("birth_month") == _r("birth_day"))
    ).fill_null(False)
    return Comparison(
        name="date_of_birth",
        fields=("date_of_birth", "birth_year", "birth_month", "birth_day"),
        columns=(
            "date_of_birth__full",
            "birth_year",
            "birth_month",
            "birth_day",
            "dob_precision",
            "dob_placeholder",
        ),
        null=_either_null("birth_year"),
        levels=(
            Level("exact", _eq("date_of_birth__full")),
            Level("day_month_swapped", swapped),
            Level("same_year_placeholder", same_year & placeholder),
            Level("same_year_partial", same_year & not_both_real & months_compatible),
            Level(
                "year_within_1",
                not_both_real & ((_l("birth_year") - _r("birth_year")).abs() <= 1),
            ),
            Level("dates_differ", (_l("birth_year") - _r("birth_year")).abs() <= 1),
        ),
    )


def kin_comparison() -> Comparison:
    """The person's household and parents, as one comparison.

    Household, address and parents' names all say "the same family": kept as
    separate comparisons their weights would add up for siblings, who share
    all of them. Levels: the same household (one province) with a parent's
    name agreeing; the same household; both parents' names; one parent's
    name (folded); a parent's name with Jaro-Winkler ≥ 0.92 (a typo, but
    also many "Nguyễn Văn ..." of one village); the same address; a parent's
    name known on both sides and different (Jaro-Winkler < 0.8); another
    household of the same province; else. A person's records in one province
    (a clerk's double entry, a re-registration) keep the household, so two
    households of one province say "two people"; records in two provinces
    (a move, a temporary residence) cannot share a household, and fall to
    ``else`` without that penalty.
    """
    father = Similarity("father_name__fold", "jaro_winkler")
    mother = Similarity("mother_name__fold", "jaro_winkler")
    one_parent = _eq("father_name__fold") | _eq("mother_name__fold")
    parent_similar = (~_either_null("father_name__fold") & _at_least(father, 0.92)) | (
        ~_either_null("mother_name__fold") & _at_least(mother, 0.92)
    )
    parent_differs = (~_either_null("father_name__fold") & (pl.col(father.name) < 0.8)) | (
        ~_either_null("mother_name__fold") & (pl.col(mother.name) < 0.8)
    )
    return Comparison(
        name="kin",
        fields=("household_id", "address", "father_name", "mother_name"),
        columns=(
            "household_id__key",
            "address__fold",
            "father_name__fold",
            "mother_name__fold",
            "province_code",
        ),
        null=_either_null("household_id__key")
        & _either_null("address__fold")
        & _either_null("father_name__fold")
        & _either_null("mother_name__fold"),
        levels=(
            Level(
                "same_household_parent",
                _eq("household_id__key") & (_eq("father_name__fold") | _eq("mother_name__fold")),
            ),
            Level("same_household", _eq("household_id__key")),
            Level("both_parents", _eq("father_name__fold") & _eq("mother_name__fold")),
            Level("one_parent", one_parent),
            Level("parent_similar", parent_similar),
            Level("same_address", _eq("address__fold")),
            Level("parent_differs", parent_differs.fill_null(False)),
            Level(
                "other_household_same_province",
                _eq("province_code") & ~_either_null("household_id__key"),
            ),
        ),
        similarities=(father, mother),
    )


def exact_comparison(name: str, column: str) -> Comparison:
    """Agree / disagree on one column; null when either side is missing."""
    return Comparison(
        name=name,
        fields=(column.split("__", 1)[0],),
        columns=(column,),
        null=_either_null(column),
        levels=(Level("exact", _eq(column)),),
    )


def id_number_comparison() -> Comparison:
    """ID number: exact, one edit apart (OSA ≤ 1), else.

    Numbers of different lengths (9-digit CMND vs 12-digit CCCD) are not
    comparable, so such pairs are null rather than a disagreement.
    """
    osa = Similarity("id_number", "osa")
    return Comparison(
        name="id_number",
        fields=("id_number",),
        columns=("id_number", "id_number__length"),
        null=_either_null("id_number") | (_l("id_number__length") != _r("id_number__length")),
        levels=(
            Level("exact", _eq("id_number")),
            Level("one_edit", pl.col(osa.name) <= 1),
        ),
        similarities=(osa,),
    )


def fuzzy_text_comparison(name: str, field: str, thresholds: Sequence[float]) -> Comparison:
    """Folded text: folded exact, then Jaro-Winkler at each threshold, else."""
    column = f"{field}__fold"
    jw = Similarity(column, "jaro_winkler")
    return Comparison(
        name=name,
        fields=(field,),
        columns=(column,),
        null=_either_null(column),
        levels=(
            Level("folded", _eq(column)),
            *(Level(f"jaro_winkler_{t:g}", _at_least(jw, t)) for t in thresholds),
        ),
        similarities=(jw,) if thresholds else (),
    )


def category_comparison(name: str, field: str) -> Comparison:
    """Agree / disagree on a folded category (ethnicity, religion, occupation).

    Term-frequency adjusted: agreeing on a minority ethnicity or a rare
    occupation weighs more than agreeing on the most common value.
    """
    column = f"{field}__fold"
    return Comparison(
        name=name,
        fields=(field,),
        columns=(column,),
        null=_either_null(column),
        levels=(Level("folded", _eq(column)),),
        tf_column=column,
        tf_levels=("folded",),
    )


def residence_comparison() -> Comparison:
    """Whether a side is registered elsewhere (a temporary resident or a lodger).

    Such a record has a permanent registration in another place, so a pair
    holding one is likelier than others to be one person. Null when neither
    side says how it resides.
    """
    return Comparison(
        name="residence",
        fields=("residence_type", "relation_to_head"),
        columns=("registered_elsewhere",),
        null=_l("registered_elsewhere").is_null() & _r("registered_elsewhere").is_null(),
        levels=(
            Level(
                "one_elsewhere",
                _l("registered_elsewhere").fill_null(False)
                | _r("registered_elsewhere").fill_null(False),
            ),
        ),
    )


def default_comparisons() -> tuple[Comparison, ...]:
    """Return the comparisons for Vietnamese person records."""
    return (
        given_name_comparison(),
        family_name_comparison(),
        middle_name_comparison(),
        date_of_birth_comparison(),
        exact_comparison("sex", "sex"),
        exact_comparison("birth_province", "birth_province_code"),
        id_number_comparison(),
        kin_comparison(),
        category_comparison("ethnicity", "ethnicity"),
        category_comparison("religion", "religion"),
        category_comparison("occupation", "occupation"),
        residence_comparison(),
    )


def term_frequencies(prepared: pl.DataFrame, column: str) -> pl.Series:
    """Share of the records (with a value) holding each record's value of ``column``.

    Null where the record has no value. Splink's term-frequency adjustment
    uses this share as the chance that a random record agrees on that value.
    """
    values = prepared[column]
    counts = values.value_counts(name="n").drop_nulls(column)
    share = counts["n"].cast(pl.Float64) / max(int(counts["n"].sum()), 1)
    lookup = counts.select(column, tf=share)
    return (
        pl.DataFrame({column: values})
        .join(lookup, on=column, how="left", maintain_order="left")["tf"]
        .alias(f"tf__{column}")
    )


def _slice_vectors(
    records: pl.DataFrame,
    pairs: pl.DataFrame,
    comparisons: Sequence[Comparison],
    frequencies: dict[str, pl.Series] | None,
    cache: ScoreCache,
) -> pl.DataFrame:
    columns = [c for comp in comparisons for c in comp.columns]
    frame = pair_frame(records, pairs.select("rid_l", "rid_r"), columns)
    sims = [s for comp in comparisons for s in comp.similarities]
    frame = frame.with_columns(similarity_scores(frame, sims, cache))
    gammas = frame.select(comp.gamma_expr() for comp in comparisons)
    tfs = [
        frequencies[comp.tf_column].gather(pairs["rid_l"]).alias(f"tf_{comp.name}")
        for comp in comparisons
        if frequencies and comp.tf_column in frequencies
    ]
    return pairs.with_columns(*gammas.get_columns(), *tfs)


def comparison_vectors(
    prepared: pl.DataFrame,
    pairs: pl.DataFrame,
    comparisons: Sequence[Comparison],
    frequencies: dict[str, pl.Series] | None = None,
    cache: ScoreCache | None = None,
    slice_size: int = 2_000_000,
) -> pl.DataFrame:
    """Return ``pairs`` with one ``gamma_<name>`` column (Int8) per comparison.

    The pairs are compared a slice at a time (bounding the memory of the
    gathered values), on string columns encoded once for all the slices,
    and each distinct pair of values is scored once.

    Args:
        prepared: Output of ``prepare_records``, or its columns the
            comparisons read, possibly as ``encode_strings`` gives them (to
            encode once for several calls).
        pairs: Frame with ``rid_l`` and ``rid_r`` (other columns are kept).
        comparisons: The comparisons to evaluate.
        frequencies: ``term_frequencies`` per column, indexed by ``rid``:
            with them, also ``tf_<name>`` (Float64), the left record's value
            share, for each comparison that has a ``tf_column`` among them.
        cache: Scores of pairs of values met before, for calls on one
            ``encode_strings`` frame (a new cache by default).
        slice_size: Pairs compared at a time (a memory limit).
    """
    columns = [c for comp in comparisons for c in comp.columns]
    records = prepared if 2 * pairs.height < prepared.height else encode_strings(prepared, columns)
    cache = ScoreCache() if cache is None else cache
    slices = (
        pairs.slice(start, slice_size) for start in range(0, max(pairs.height, 1), slice_size)
    )
    return pl.concat([_slice_vectors(records, s, comparisons, frequencies, cache) for s in slices])
