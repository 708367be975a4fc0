"""The PIN register: issue, keep, merge, split, cancel, pending."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from domain.identity import decode_prefix
from domain.schema import RECORD_SCHEMA
from pipelines.register.update import PreviousRegister, RegisterUpdate, update_register

pytestmark = pytest.mark.unit
KEY = bytes(range(32))


def _records(rows: list[dict[str, Any]]) -> pl.DataFrame:
    base = {c: None for c in RECORD_SCHEMA}
    filled = []
    for row in rows:
        record = {**base, "dob_precision": "year", "dob_placeholder": False, **row}
        record["record_key"] = f"{record['province_code']}:{record['local_id']}"
        filled.append(record)
    return pl.DataFrame(filled, schema=RECORD_SCHEMA)


def _person(
    local_id: str, sex: str | None = "M", year: int | None = 1970, batch: str = "2021-01-01"
) -> dict[str, Any]:
    return {
        "province_code": "001",
        "local_id": local_id,
        "batch_id": batch,
        "full_name": "Nguyễn Văn Hùng",
        "family_name": "Nguyễn",
        "middle_name": "Văn",
        "given_name": "Hùng",
        "sex": sex,
        "birth_year": year,
    }


def _clusters(groups: list[list[str]]) -> pl.DataFrame:
    rows = [(f"001:{k}", f"001:{g[0]}") for g in groups for k in g]
    return pl.DataFrame(
        rows, schema={"record_key": pl.String, "cluster_id": pl.String}, orient="row"
    )


def _previous(update: RegisterUpdate, events_before: int = 0) -> PreviousRegister:
    issued = update.events.with_row_index("event_id", offset=events_before).filter(
        pl.col("event") == "issued"
    )
    first = issued.group_by("pin").agg(
        pl.col("event_id").min().cast(pl.Int64).alias("first_issued")
    )
    persons = update.persons.select("person_id", "pin", "status", "merged_into_pin").join(
        first, on="pin", how="left"
    )
    return PreviousRegister(
        record_person=update.record_person.select("record_key", "person_id"),
        persons=persons,
        serials_issued=update.serials_issued,
    )


def _pin_of(update: RegisterUpdate, record_key: str) -> str | None:
    return update.record_person.filter(pl.col("record_key") == record_key)["pin"].item()


def test_new_persons_get_pins_that_encode_sex_year_and_province() -> None:
    records = _records([_person("a"), _person("b", sex="F", year=2003)])
    update = update_register(
        records, _clusters([["a"], ["b"]]), PreviousRegister.empty(), "b1", KEY
    )
    assert decode_prefix(_pin_of(update, "001:a") or "") == ("001", "M", 1970)
    assert decode_prefix(_pin_of(update, "001:b") or "") == ("001", "F", 2003)
    assert update.events["event"].to_list() == ["issued", "issued"]
    assert update.persons_new == 2


def test_the_same_clusters_again_change_nothing() -> None:
    records = _records([_person("a"), _person("b"), _person("c")])
    clusters = _clusters([["a", "b"], ["c"]])
    first = update_register(records, clusters, PreviousRegister.empty(), "b1", KEY)
    again = update_register(records, clusters, _previous(first), "b1", KEY)
    assert again.events.height == 0
    assert again.record_person.equals(first.record_person)
    assert again.persons.equals(first.persons)


def test_a_merge_keeps_the_older_pin_and_retires_the_other() -> None:
    records = _records([_person("a"), _person("b")])
    first = update_register(records, _clusters([["a"], ["b"]]), PreviousRegister.empty(), "b1", KEY)
    older = first.events.filter(pl.col("event") == "issued")["pin"][0]
    merged = update_register(records, _clusters([["a", "b"]]), _previous(first), "b2", KEY)
    assert {_pin_of(merged, "001:a"), _pin_of(merged, "001:b")} == {older}
    retired = merged.persons.filter(pl.col("status") == "retired")
    assert retired.height == 1 and retired["merged_into_pin"].item() == older
    event = merged.events.filter(pl.col("event") == "merged").row(0, named=True)
    assert event["other_pin"] == older and event["pin"] == retired["pin"].item()


def test_a_split_keeps_the_pin_with_the_larger_part() -> None:
    records = _records([_person("a"), _person("b"), _person("c")])
    first = update_register(
        records, _clusters([["a", "b", "c"]]), PreviousRegister.empty(), "b1", KEY
    )
    pin = _pin_of(first, "001:a")
    split = update_register(records, _clusters([["a", "b"], ["c"]]), _previous(first), "b2", KEY)
    assert _pin_of(split, "001:a") == _pin_of(split, "001:b") == pin
    new_pin = _pin_of(split, "001:c")
    assert new_pin not in (None, pin)
    event = split.events.filter(pl.col("event") == "split").row(0, named=True)
    assert (event["pin"], event["other_pin"]) == (new_pin, pin)


def test_a_part_split_off_without_sex_or_year_takes_them_from_the_pin_it_left() -> None:
    records = _records([_person("a"), _person("b"), _person("c", sex=None, year=None)])
    first = update_register(
        records, _clusters([["a", "b", "c"]]), PreviousRegister.empty(), "b1", KEY
    )
    pin = _pin_of(first, "001:a")
    split = update_register(records, _clusters([["a", "b"], ["c"]]), _previous(first), "b2", KEY)
    new_pin = _pin_of(split, "001:c")
    assert new_pin is not None and new_pin != pin
    assert decode_prefix(new_pin)[1:] == decode_prefix(pin)[1:] == ("M", 1970)


def test_a_corrected_sex_cancels_the_pin_and_issues_a_new_one() -> None:
    first_records = _records([_person("a", sex="M")])
    first = update_register(first_records, _clusters([["a"]]), PreviousRegister.empty(), "b1", KEY)
    old = _pin_of(first, "001:a")
    corrected = _records(
        [_person("a", sex="F", batch="2021-02-01"), _person("b", sex="F", batch="2021-02-01")]
    )
    update = update_register(corrected, _clusters([["a", "b"]]), _previous(first), "b2", KEY)
    new = _pin_of(update, "001:a")
    assert new != old and decode_prefix(new or "")[1] == "F"
    cancel = update.events.filter(pl.col("event") == "cancelled").row(0, named=True)
    assert (cancel["pin"], cancel["other_pin"]) == (old, new)


def test_unknown_sex_or_year_waits_for_verification() -> None:
    records = _records([_person("a", sex=None), _person("b", year=None)])
    update = update_register(
        records, _clusters([["a"], ["b"]]), PreviousRegister.empty(), "b1", KEY
    )
    assert update.record_person["pin"].to_list() == [None, None]
    reasons = update.persons.sort("pending_reason")["pending_reason"].to_list()
    assert reasons == ["sex unknown", "year of birth unknown"]
    assert update.events.height == 0


def test_serials_are_never_reused_after_retirement() -> None:
    records = _records([_person("a"), _person("b")])
    first = update_register(records, _clusters([["a"], ["b"]]), PreviousRegister.empty(), "b1", KEY)
    merged = update_register(records, _clusters([["a", "b"]]), _previous(first), "b2", KEY)
    more = _records([_person("a"), _person("b"), _person("c")])
    third = update_register(
        more, _clusters([["a", "b"], ["c"]]), _previous(merged, first.events.height), "b3", KEY
    )
    every_pin = set(first.events["pin"]) | set(merged.events["pin"])
    assert _pin_of(third, "001:c") not in every_pin


def test_a_resent_record_that_lost_sex_and_year_keeps_the_pin_and_its_values() -> None:
    first = update_register(
        _records([_person("a", sex="F", year=1980)]),
        _clusters([["a"]]),
        PreviousRegister.empty(),
        "b1",
        KEY,
    )
    pin = _pin_of(first, "001:a")
    resent = _records([_person("a", sex=None, year=None, batch="2021-02-01")])
    update = update_register(resent, _clusters([["a"]]), _previous(first), "b2", KEY)
    assert _pin_of(update, "001:a") == pin
    person = update.persons.row(0, named=True)
    assert (person["sex"], person["birth_year"], person["status"]) == ("F", 1980, "active")
    assert update.events.height == 0


def test_a_later_record_naming_another_birth_province_keeps_the_pin() -> None:
    first = update_register(
        _records([_person("a") | {"birth_province_code": "001"}]),
        _clusters([["a"]]),
        PreviousRegister.empty(),
        "b1",
        KEY,
    )
    pin = _pin_of(first, "001:a")
    later = _records(
        [
            _person("a") | {"birth_province_code": "079"},
            _person("b", batch="2021-02-01") | {"birth_province_code": "079"},
        ]
    )
    update = update_register(later, _clusters([["a", "b"]]), _previous(first), "b2", KEY)
    assert _pin_of(update, "001:a") == pin
    assert update.persons.row(0, named=True)["birth_province_code"] == "001"
    assert update.events.height == 0


def test_the_golden_address_is_the_most_recent_one_and_names_its_record() -> None:
    old = {**_person("1"), "address": "Hà Nội", "registered_on": dt.date(1999, 5, 1)}
    moved = {
        **_person("2"),
        "province_code": "079",
        "address": "TP. Hồ Chí Minh",
        "registered_on": dt.date(2015, 3, 2),
    }
    undated = {**_person("3", batch="2021-09-30"), "address": "Đà Nẵng"}
    records = _records([old, moved, undated])
    clusters = pl.DataFrame({"record_key": records["record_key"], "cluster_id": "c"})
    update = update_register(records, clusters, PreviousRegister.empty(), "2021-01-01", KEY)
    person = update.persons.row(0, named=True)
    assert (person["address"], person["address_province_code"], person["address_source"]) == (
        "TP. Hồ Chí Minh",
        "079",
        "079:2",
    )
