"""Blocking: the expected pairs on a tiny frame, the union of rules, the cap on block size."""

from __future__ import annotations

import polars as pl
import pytest

from matching.blocking import candidate_pairs
from matching.prepare import prepare_records
from matching.settings import BlockingRule, MatchSettings
from synth.records import records_frame, synthetic_records

pytestmark = pytest.mark.unit


def _records() -> pl.DataFrame:
    rows = [
        ("a", "Nguyễn", "Hùng", 1980, "111111111"),
        ("b", "NGUYEN", "hung", 1980, None),  # folded equal to a
        ("c", "Nguyễn", "Hùng", 1981, "111111111"),  # a's ID, another year
        ("d", "Trần", "Giang", 1980, None),
        ("e", "Trần", "Dang", 1980, None),  # phonetic: gi/d, final ng/n -> zan
        ("f", "Lê", "Lan", None, None),  # no year: in no name/year block
    ]
    return records_frame(
        [
            {"record_key": k, "family_name": f, "given_name": g, "birth_year": y, "id_number": i}
            for k, f, g, y, i in rows
        ]
    )


def _pairs(frame: pl.DataFrame, prepared: pl.DataFrame) -> set[tuple[str, str, str]]:
    keys = prepared["record_key"]
    return {
        (keys[a], keys[b], rule)
        for a, b, rule in frame.select("rid_l", "rid_r", "blocked_by").iter_rows()
    }


def test_rules_union_with_first_rule_named() -> None:
    prepared = prepare_records(_records())
    rules = [
        BlockingRule("name_year", ("family_name__fold", "given_name__fold", "birth_year")),
        BlockingRule("id", ("id_number",)),
        BlockingRule("phon_year", ("given_name__phon", "birth_year")),
    ]
    pairs, reports = candidate_pairs(prepared, rules, max_block_size=100)
    assert _pairs(pairs, prepared) == {
        ("a", "b", "name_year"),
        ("a", "c", "id"),
        ("d", "e", "phon_year"),
    }
    assert [r.pairs for r in reports] == [1, 1, 2]  # phon_year also finds a-b
    assert pairs["rid_l"].to_list() == sorted(pairs["rid_l"].to_list())


def test_year_window_joins_neighbouring_years() -> None:
    prepared = prepare_records(_records())
    rule = BlockingRule(
        "name_near_year", ("family_name__fold", "given_name__fold", "birth_year"), 1
    )
    pairs, _ = candidate_pairs(prepared, [rule], max_block_size=100)
    assert {(a, b) for a, b, _ in _pairs(pairs, prepared)} == {("a", "b"), ("a", "c"), ("b", "c")}


def test_oversized_blocks_are_split_or_skipped_and_counted() -> None:
    rows = [
        {"record_key": f"r{i}", "family_name": "Nguyễn", "birth_year": 1980, "birth_month": m}
        for i, m in enumerate([1, 1, 2, 2, 2, None])
    ]
    prepared = prepare_records(records_frame(rows))
    plain = BlockingRule("family_year", ("family_name__fold", "birth_year"))
    pairs, (report,) = candidate_pairs(prepared, [plain], max_block_size=5)
    assert pairs.height == 0
    assert (report.skipped_blocks, report.skipped_records, report.skipped_pairs) == (1, 6, 15)

    split = BlockingRule(
        "family_year", ("family_name__fold", "birth_year"), split_keys=("birth_month",)
    )
    pairs, (report,) = candidate_pairs(prepared, [split], max_block_size=5)
    assert pairs.height == 1 + 3  # month 1: one pair, month 2: three pairs
    assert report.skipped_blocks == 0

    pairs, (report,) = candidate_pairs(prepared, [split], max_block_size=2)
    assert pairs.height == 1  # month 2 (3 records) still too large
    assert (report.skipped_blocks, report.skipped_records, report.skipped_pairs) == (1, 3, 3)


def test_lacking_keeps_only_pairs_where_one_record_lacks_the_column() -> None:
    rows = [
        {"record_key": k, "family_name": "Nguyễn", "birth_year": 1980, "id_number": i}
        for k, i in [("a", "111111111"), ("b", "222222222"), ("c", None), ("d", None)]
    ]
    prepared = prepare_records(records_frame(rows))
    rule = BlockingRule("family_year", ("family_name__fold", "birth_year"), lacking="id_number")
    pairs, (report,) = candidate_pairs(prepared, [rule], max_block_size=100)
    everyone = {("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")}  # not a-b
    assert {(a, b) for a, b, _ in _pairs(pairs, prepared)} == everyone
    assert report.pairs == 5
    assert pairs["rid_l"].to_list() == sorted(pairs["rid_l"].to_list())

    rid = dict(zip(prepared["record_key"], prepared["rid"], strict=True))
    for focus, expected in [
        ("a", {("a", "c"), ("a", "d")}),
        ("c", {("a", "c"), ("b", "c"), ("c", "d")}),
    ]:
        pairs, _ = candidate_pairs(
            prepared, [rule], max_block_size=100, focus=pl.Series([rid[focus]])
        )
        assert {(a, b) for a, b, _ in _pairs(pairs, prepared)} == expected


def test_a_rule_joined_in_parts_gives_the_same_pairs() -> None:
    records, _ = synthetic_records(1500, seed=4)
    prepared = prepare_records(records)
    settings = MatchSettings()
    whole, whole_reports = candidate_pairs(
        prepared, settings.blocking.rules, settings.blocking.max_block_size
    )
    parts, part_reports = candidate_pairs(
        prepared,
        settings.blocking.rules,
        settings.blocking.max_block_size,
        records_per_part=97,  # many parts per rule
    )
    assert whole.height > 500
    assert parts.equals(whole)
    assert part_reports == whole_reports


def test_default_rules_find_a_missing_year_a_mistyped_year_and_swapped_names() -> None:
    base = {"family_name": "Bùi", "middle_name": "Lệ", "given_name": "Ngọc", "sex": "F",
            "birth_year": 1990, "birth_month": 5, "birth_day": 8, "dob_precision": "day",
            "birth_province_code": "033"}  # fmt: skip
    rows = [
        {**base, "record_key": "a"},
        # No birth year at all, no province: only the names pair it.
        {**base, "record_key": "b", "birth_year": None, "birth_month": None, "birth_day": None,
         "dob_precision": None, "birth_province_code": None},
        # The year mistyped, day and month kept, another province.
        {**base, "record_key": "c", "birth_year": 1991, "birth_province_code": "001"},
        # The given name written where the middle name goes, the year alone, another province.
        {**base, "record_key": "d", "middle_name": "Ngọc", "given_name": "Lệ",
         "birth_month": None, "birth_day": None, "dob_precision": "year",
         "birth_province_code": "001"},
    ]  # fmt: skip
    prepared = prepare_records(records_frame(rows))
    pairs, _ = candidate_pairs(prepared, MatchSettings().blocking.rules, 1_000)
    found = {(a, b): rule for a, b, rule in _pairs(pairs, prepared)}
    assert found[("a", "b")] == "name_no_year"
    assert found[("a", "c")] == "name_day_month"
    assert found[("a", "d")] == "name_words_year"
