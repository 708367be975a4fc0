"""The keep-apart rules: twins named a tone or a letter apart, namesakes with two real dates."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from matching.prepare import prepare_records
from matching.rules import cannot_link_pairs, dates_conflict_rule, named_alike_rule, rule_flags
from synth.records import records_frame

pytestmark = pytest.mark.unit

_BASE: dict[str, Any] = {
    "province_code": "001",
    "household_id": "HK-1",
    "family_name": "Lê",
    "middle_name": "Thị",
    "birth_year": 2003,
    "birth_month": 10,
    "birth_day": 4,
    "dob_precision": "day",
    "dob_placeholder": False,
    "sex": "F",
}


def _flags(
    given: list[str | None], others: list[str], plain: bool = False, **extra: Any
) -> dict[str, bool]:
    """Flag the pair (0, 1) of two records named ``given``, with ``others`` filling the register.

    With ``plain``, the second record is written without diacritics.
    """
    rows = [{**_BASE, "record_key": f"0{i}", "given_name": g, **extra} for i, g in enumerate(given)]
    if plain:
        rows[1] |= {"family_name": "Le", "middle_name": "Thi"}
    rows += [
        {**_BASE, "record_key": f"9{i:03d}", "given_name": g, "household_id": f"HK-{i + 9}"}
        for i, g in enumerate(others)
    ]
    prepared = prepare_records(records_frame(rows))
    pairs = pl.DataFrame({"rid_l": [0], "rid_r": [1]})
    flags = rule_flags(prepared, pairs, [named_alike_rule(), dates_conflict_rule()])
    return {k.removeprefix("rule_"): bool(v[0]) for k, v in flags.to_dict().items()}


def test_twins_named_a_tone_apart_are_kept_apart_when_both_names_are_names() -> None:
    # Thủy and Thúy are both carried by other records: two names, twins.
    register = ["Thủy", "Thủy", "Thúy", "Thúy", "Lan"]
    assert _flags(["Thủy", "Thúy"], register)["named_alike"]
    # One letter apart (Khang / Khanh), both real names.
    assert _flags(["Khang", "Khanh"], ["Khang", "Khang", "Khanh", "Khanh"])["named_alike"]


def test_a_slip_in_the_given_name_is_not_kept_apart() -> None:
    # Thủy and Thùy: the second is carried by no other record, a slip.
    assert not _flags(["Thủy", "Thùy"], ["Thủy", "Thủy", "Lan"])["named_alike"]
    # One side written without diacritics folds to the other: it fits, not kept apart.
    assert not _flags(["Thủy", "Thuy"], ["Thủy", "Thủy", "Thuy", "Thuy"], plain=True)["named_alike"]
    # But in a record written with diacritics, Thuy is a name as written.
    assert _flags(["Thủy", "Thuy"], ["Thủy", "Thủy", "Thuy", "Thuy"])["named_alike"]


def test_twins_rule_needs_one_birth_and_no_shared_id() -> None:
    register = ["Thủy", "Thủy", "Thúy", "Thúy"]
    # A placeholder date or a year alone still gives one birth year.
    assert _flags(["Thủy", "Thúy"], register, dob_placeholder=True)["named_alike"]
    assert _flags(["Thủy", "Thúy"], register, dob_precision="year")["named_alike"]
    assert not _flags(["Thủy", "Thúy"], register, id_number="001303012345")["named_alike"]


def test_two_real_dates_are_kept_apart_unless_one_slipped() -> None:
    rows = [
        {**_BASE, "record_key": "a", "given_name": "Trang"},
        {**_BASE, "record_key": "b", "given_name": "Trang", "birth_month": 7, "birth_day": 12},
        {**_BASE, "record_key": "c", "given_name": "Trang", "birth_month": 4, "birth_day": 10},
        {**_BASE, "record_key": "d", "given_name": "Trang", "birth_year": 2004},
        {**_BASE, "record_key": "e", "given_name": "Trang", "birth_year": 2004, "birth_day": 5},
        {**_BASE, "record_key": "f", "given_name": "Trang", "dob_precision": "year"},
    ]
    # a=0; b=1 another day and month; c=2 a's swap; d=3 a's year slipped; e=4 both; f=5 a year
    prepared = prepare_records(records_frame(rows))
    pairs = pl.DataFrame({"rid_l": [0] * 5, "rid_r": [1, 2, 3, 4, 5]})
    flags = rule_flags(prepared, pairs, [dates_conflict_rule()])["rule_dates_conflict"]
    assert flags.to_list() == [True, False, False, True, False]
    apart = cannot_link_pairs(prepared, pairs, [dates_conflict_rule()])
    assert apart.to_list() == flags.to_list()


def test_given_and_middle_names_swapped_are_one_name_not_twins() -> None:
    from matching.comparisons import given_name_comparison, middle_name_comparison
    from matching.rules import household_names_rule, twins_rule

    rows = [
        {**_BASE, "record_key": "a", "middle_name": "Lệ", "given_name": "Ngọc"},
        {**_BASE, "record_key": "b", "middle_name": "Ngọc", "given_name": "Lệ"},
        {**_BASE, "record_key": "c", "middle_name": "Lệ", "given_name": "Hoa"},
    ]
    prepared = prepare_records(records_frame(rows))
    pairs = pl.DataFrame({"rid_l": [0, 0], "rid_r": [1, 2]})
    flags = rule_flags(prepared, pairs, [twins_rule(), household_names_rule()])
    assert flags["rule_twins"].to_list() == [False, True]
    assert flags["rule_household_names"].to_list() == [False, True]
    from matching.comparisons import comparison_vectors

    gammas = comparison_vectors(
        prepared, pairs, [given_name_comparison(), middle_name_comparison()]
    )
    given, middle = given_name_comparison(), middle_name_comparison()
    assert given.labels[gammas["gamma_given_name"][0]] == "swapped_with_middle"
    assert middle.labels[gammas["gamma_middle_name"][0]] == "swapped_with_given"
    assert given.labels[gammas["gamma_given_name"][1]] == "else"


def test_a_year_mistyped_by_one_is_not_two_members_of_a_household() -> None:
    from matching.rules import household_dates_rule

    rows = [
        {**_BASE, "record_key": "a", "given_name": "Lan"},
        {**_BASE, "record_key": "b", "given_name": "Lan", "birth_year": 2004},
        {**_BASE, "record_key": "c", "given_name": "Lan", "birth_year": 2004, "birth_day": 9},
    ]
    prepared = prepare_records(records_frame(rows))
    pairs = pl.DataFrame({"rid_l": [0, 0], "rid_r": [1, 2]})
    flags = rule_flags(prepared, pairs, [household_dates_rule()])["rule_household_dates"]
    assert flags.to_list() == [False, True]


def test_swapped_given_and_middle_names_in_another_household_are_not_twins() -> None:
    from matching.rules import twins_elsewhere_rule

    parents = {"father_name": "Lê Văn Tiến", "mother_name": "Nguyễn Thị Nhi"}
    rows = [
        {**_BASE, **parents, "record_key": "a", "middle_name": "Thị", "given_name": "Yến"},
        {**_BASE, **parents, "record_key": "b", "middle_name": "Yến", "given_name": "Thị",
         "household_id": "HK-2"},
        {**_BASE, **parents, "record_key": "c", "middle_name": "Thị", "given_name": "Hoa",
         "household_id": "HK-3"},
    ]  # fmt: skip
    prepared = prepare_records(records_frame(rows))
    pairs = pl.DataFrame({"rid_l": [0, 0], "rid_r": [1, 2]})
    flags = rule_flags(prepared, pairs, [twins_elsewhere_rule()])
    assert flags["rule_twins_elsewhere"].to_list() == [False, True]


def test_a_person_named_after_the_father_is_not_the_fathers_parent_or_child() -> None:
    from matching.rules import parent_of_rule

    base = {**_BASE, "family_name": "Đinh", "middle_name": "Hoàng", "given_name": "Hùng",
            "sex": "M"}  # fmt: skip
    son = {**base, "father_name": "Đinh Hoàng Hùng", "mother_name": "Trần Thị Lan"}
    rows = [
        {**son, "record_key": "a"},
        {**son, "record_key": "b"},  # the son written twice: the same parents
        {**base, "record_key": "c", "birth_year": 1975,  # the father: other parents
         "father_name": "Đinh Văn Tám", "mother_name": "Lê Thị Hoa"},
        {**son, "record_key": "d", "mother_name": None},  # a parent missing: still the same
    ]  # fmt: skip
    prepared = prepare_records(records_frame(rows))
    pairs = pl.DataFrame({"rid_l": [0, 0, 0], "rid_r": [1, 2, 3]})
    flags = rule_flags(prepared, pairs, [parent_of_rule()])
    assert flags["rule_parent_of"].to_list() == [False, True, False]


def test_twins_with_other_middle_names_are_kept_apart_even_when_the_given_names_sound_alike() -> (
    None
):
    from matching.rules import twins_rule

    base = {**_BASE, "family_name": "Vũ", "sex": "M"}
    rows = [
        {**base, "record_key": "a", "middle_name": "Hữu", "given_name": "Hưn"},  # Hưng, cut short
        {**base, "record_key": "b", "middle_name": "Hoàng", "given_name": "Hùng"},  # the twin
        {**base, "record_key": "c", "middle_name": "Hữu", "given_name": "Hưng"},  # a's double entry
    ]
    prepared = prepare_records(records_frame(rows))
    pairs = pl.DataFrame({"rid_l": [0, 0], "rid_r": [1, 2]})
    flags = rule_flags(prepared, pairs, [twins_rule()])
    assert flags["rule_twins"].to_list() == [True, False]
