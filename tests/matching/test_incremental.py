"""Incremental linking: new records against a registry, prior clusters, reviewers' decisions."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from matching import LinkResult, MatchSettings, link_records
from matching.blocking import candidate_pairs
from matching.prepare import prepare_records
from matching.settings import BlockingRule
from synth.records import records_frame, synthetic_records

pytestmark = pytest.mark.unit

_PERSON: dict[str, Any] = {
    "province_code": "001",
    "household_id": "HK-INC",
    "family_name": "Nguyễn",
    "middle_name": "Văn",
    "birth_year": 1990,
    "birth_month": 3,
    "birth_day": 14,
    "dob_precision": "day",
    "dob_placeholder": False,
    "sex": "M",
    "birth_province_code": "001",
    "father_name": "Nguyễn Văn Bình",
    "mother_name": "Trần Thị Lan",
    "address": "Thôn 1, Xã Phú Mỹ",
}


def _with(rows: list[dict[str, Any]], seed: int = 9) -> pl.DataFrame:
    records, _ = synthetic_records(1200, seed=seed)
    return pl.concat([records, records_frame(rows)])


def _pair(result: LinkResult, left: str, right: str) -> dict[str, Any]:
    rows = result.pairs.filter(
        (pl.col("record_key_l") == left) & (pl.col("record_key_r") == right)
    ).to_dicts()
    assert len(rows) == 1, (left, right)
    return rows[0]


def _cluster(result: LinkResult, key: str) -> str:
    return result.clusters.filter(pl.col("record_key") == key)["cluster_id"].item()


def _pair_set(frame: pl.DataFrame) -> set[tuple[str, str]]:
    return set(frame.select("record_key_l", "record_key_r").iter_rows())


@pytest.fixture(scope="module")
def split_run() -> tuple[pl.DataFrame, pl.Series, LinkResult, LinkResult]:
    """Synthetic records, a fifth of them new; a full run and an incremental run."""
    records, _ = synthetic_records(1500, seed=21)
    new_keys = records["record_key"].sort().gather_every(5).alias("record_key")
    return records, new_keys, link_records(records), link_records(records, new_keys=new_keys)


def test_new_keys_give_exactly_the_full_runs_pairs_that_touch_a_new_record(
    split_run: tuple[pl.DataFrame, pl.Series, LinkResult, LinkResult],
) -> None:
    records, new_keys, full, incremental = split_run
    new = set(new_keys.to_list())
    found = _pair_set(incremental.pairs)
    assert found, "an incremental run on a fifth of the records finds pairs"
    assert all(a in new or b in new for a, b in found)
    expected = {(a, b) for a, b in _pair_set(full.pairs) if a in new or b in new}
    assert found == expected
    assert len(found) < full.pairs.height
    # u comes from random pairs over all the records, as in the full run.
    for inc, ful in zip(incremental.model.comparisons, full.model.comparisons, strict=True):
        assert inc.u == ful.u
    assert sorted(incremental.clusters["record_key"]) == sorted(records["record_key"])
    assert incremental.stats["new_records"] == new_keys.len()


@pytest.mark.parametrize("cap", [1_000, 3])
def test_focused_blocking_joins_only_the_focus_records(cap: int) -> None:
    """The same pairs as the full run's with a focus record, also where blocks are capped."""
    records, _ = synthetic_records(800, seed=4)
    prepared = prepare_records(records)
    # The defaults, and a rule with a year window (a focus record pairs across years).
    window = BlockingRule("given_year", ("given_name__fold", "birth_year"), year_window=2)
    rules = (*MatchSettings().blocking.rules, window)
    everything, reports = candidate_pairs(prepared, rules, cap)
    focus = pl.Series("rid", [3, 10, 11, 500, *range(600, 640)], dtype=pl.Int64)
    focused, _ = candidate_pairs(prepared, rules, cap, focus)
    touching = everything.filter(
        pl.col("rid_l").is_in(focus.implode()) | pl.col("rid_r").is_in(focus.implode())
    )
    assert focused.sort("rid_l", "rid_r").equals(touching.sort("rid_l", "rid_r"))
    assert focused.height > 10
    if cap < 1_000:  # blocks were skipped over the cap: the focus must not revive them
        assert sum(r.skipped_blocks for r in reports) > 0


def test_unknown_new_key_is_an_error() -> None:
    records, _ = synthetic_records(300, seed=4)
    with pytest.raises(ValueError, match="new_keys"):
        link_records(records, new_keys=pl.Series(["999:nobody"]))


def test_prior_cluster_holds_records_the_model_would_not_link() -> None:
    rows = [
        {**_PERSON, "record_key": "001:OLD-A", "given_name": "Phúc"},
        # Registered earlier as the same person, though nothing but the birth date agrees.
        {"record_key": "048:OLD-B", "province_code": "048", "family_name": "Lê",
         "given_name": "Hoa", "birth_year": 1990, "birth_month": 3, "birth_day": 14,
         "dob_precision": "day", "sex": "F"},
        {**_PERSON, "record_key": "079:NEW-A", "given_name": "Phúc", "province_code": "079",
         "household_id": "HK-NEW"},
    ]  # fmt: skip
    records = _with(rows)
    prior = pl.DataFrame({"record_key": ["001:OLD-A", "048:OLD-B"], "cluster_id": ["P-1", "P-1"]})
    plain = link_records(records)
    assert _cluster(plain, "001:OLD-A") != _cluster(plain, "048:OLD-B")
    result = link_records(records, new_keys=pl.Series(["079:NEW-A"]), prior_clusters=prior)
    assert _cluster(result, "001:OLD-A") == _cluster(result, "048:OLD-B")
    assert _cluster(result, "079:NEW-A") == _cluster(result, "001:OLD-A")
    assert _pair(result, "001:OLD-A", "079:NEW-A")["decision"] == "link"
    assert result.stats["clusters"]["split_prior_groups"] == 0
    assert sorted(result.clusters["record_key"]) == sorted(records["record_key"])


def test_prior_cluster_holding_twins_is_split() -> None:
    rows = [
        {**_PERSON, "record_key": "001:TWIN-A", "given_name": "Phúc"},
        {**_PERSON, "record_key": "001:TWIN-B", "given_name": "Lộc"},
        {**_PERSON, "record_key": "079:TWIN-A2", "given_name": "Phúc", "province_code": "079",
         "household_id": "HK-ELSEWHERE"},
    ]  # fmt: skip
    records = _with(rows)
    # A wrong earlier merge put both twins (and A's second record) under one person.
    prior = pl.DataFrame(
        {"record_key": ["001:TWIN-A", "001:TWIN-B", "079:TWIN-A2"], "cluster_id": ["P-9"] * 3}
    )
    result = link_records(records, new_keys=pl.Series(["001:TWIN-B"]), prior_clusters=prior)
    assert _cluster(result, "001:TWIN-A") == _cluster(result, "079:TWIN-A2")
    assert _cluster(result, "001:TWIN-A") != _cluster(result, "001:TWIN-B")
    assert result.stats["clusters"]["split_prior_groups"] == 1


def test_reviewer_not_same_overrides_model_and_prior_cluster() -> None:
    rows = [
        {**_PERSON, "record_key": "001:R-A", "given_name": "Phúc"},
        {**_PERSON, "record_key": "079:R-A2", "given_name": "Phúc", "province_code": "079",
         "household_id": "HK-R2"},
        {**_PERSON, "record_key": "048:R-A3", "given_name": "Phúc", "province_code": "048",
         "household_id": "HK-R3", "id_number": "001090123456"},
    ]  # fmt: skip
    records = _with(rows)
    plain = link_records(records)
    assert _pair(plain, "001:R-A", "079:R-A2")["decision"] == "link"
    decisions = pl.DataFrame(
        {"record_key_l": ["079:R-A2"], "record_key_r": ["001:R-A"], "same": [False]}
    )
    prior = pl.DataFrame({"record_key": ["001:R-A", "079:R-A2"], "cluster_id": ["P-5", "P-5"]})
    result = link_records(records, prior_clusters=prior, decisions=decisions)
    pair = _pair(result, "001:R-A", "079:R-A2")
    assert (pair["decision"], pair["decided_by"]) == ("non_link", "reviewer")
    assert _cluster(result, "001:R-A") != _cluster(result, "079:R-A2")
    # The third record agrees with both: it fits two people kept apart, so it
    # joins neither and its pairs go to review.
    third = _cluster(result, "048:R-A3")
    assert third not in {_cluster(result, "001:R-A"), _cluster(result, "079:R-A2")}
    for other in ("001:R-A", "079:R-A2"):
        left, right = sorted((other, "048:R-A3"))
        assert _pair(result, left, right)["decision"] == "review"
    assert result.stats["reviewer_decisions"] == 1


def test_reviewer_same_links_a_pair_no_blocking_rule_found() -> None:
    rows = [
        {**_PERSON, "record_key": "001:S-A", "given_name": "Phúc"},
        # A different name and date: no blocking rule pairs it with S-A.
        {"record_key": "092:S-B", "province_code": "092", "family_name": "Trần",
         "given_name": "Tâm", "birth_year": 1971, "dob_precision": "year"},
    ]  # fmt: skip
    records = _with(rows)
    assert ("001:S-A", "092:S-B") not in _pair_set(link_records(records).pairs)
    decisions = pl.DataFrame(
        {"record_key_l": ["001:S-A"], "record_key_r": ["092:S-B"], "same": [True]}
    )
    result = link_records(records, new_keys=pl.Series(["092:S-B"]), decisions=decisions)
    pair = _pair(result, "001:S-A", "092:S-B")
    assert (pair["decision"], pair["decided_by"], pair["blocked_by"]) == (
        "link",
        "reviewer",
        "reviewer",
    )
    assert _cluster(result, "001:S-A") == _cluster(result, "092:S-B")


def test_reviewer_same_outranks_the_twins_rule() -> None:
    rows = [
        {**_PERSON, "record_key": "001:T-A", "given_name": "Phúc"},
        {**_PERSON, "record_key": "001:T-B", "given_name": "Lộc"},
    ]
    records = _with(rows)
    plain = link_records(records)
    assert _pair(plain, "001:T-A", "001:T-B")["decided_by"] == "rule:twins"
    decisions = pl.DataFrame(
        {"record_key_l": ["001:T-A"], "record_key_r": ["001:T-B"], "same": [True]}
    )
    result = link_records(records, decisions=decisions)
    pair = _pair(result, "001:T-A", "001:T-B")
    assert (pair["decision"], pair["decided_by"]) == ("link", "reviewer")
    assert _cluster(result, "001:T-A") == _cluster(result, "001:T-B")
