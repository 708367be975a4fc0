"""The benchmark data generator (bench/data.py) writes valid records with a usable truth."""

from __future__ import annotations

import polars as pl
import pytest

from bench.data import CSV_COLUMNS, BenchData, generate_bench_data, read_records
from domain.schema import RECORD_SCHEMA

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> BenchData:
    return generate_bench_data(3_000, tmp_path_factory.mktemp("bench") / "d", seed=5)


def test_exact_count_and_schema(data: BenchData) -> None:
    records = read_records(data.records_csv)
    assert records.height == data.records == 3_000
    assert tuple(records.columns) == CSV_COLUMNS
    assert all(records.schema[c] == RECORD_SCHEMA[c] for c in records.columns)
    assert records["record_key"].n_unique() == records.height
    keys = records.select(pl.format("{}:{}", "province_code", "local_id")).to_series()
    assert (keys == records["record_key"]).all()
    assert records["full_name"].null_count() == 0
    assert records["province_code"].str.contains(r"^\d{3}$").all()


def test_truth_covers_every_record_with_duplicates(data: BenchData) -> None:
    records = read_records(data.records_csv)
    truth = pl.read_csv(data.truth_csv, infer_schema=False)
    assert truth.height == records.height
    assert truth["record_key"].sort().equals(records["record_key"].sort())
    per_person = truth.group_by("person_id").len()
    assert per_person.height == data.persons
    assert per_person["len"].max() > 1  # some persons have several records


def test_difficulties_present(data: BenchData) -> None:
    records = read_records(data.records_csv)
    nguyen = (records["family_name"].str.to_lowercase() == "nguyễn").mean()
    assert 0.2 < nguyen < 0.5
    assert set(records["dob_precision"].unique().to_list()) >= {"day", "year"}
    assert records["sex"].null_count() > 0
    twins = pl.read_csv(data.twins_csv, infer_schema=False)
    assert twins.height > 0


def test_reused_when_arguments_match(data: BenchData) -> None:
    again = generate_bench_data(3_000, data.folder, seed=5)
    assert again == data
