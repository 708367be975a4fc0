"""Great Expectations suites on small real registries and record frames.

GX takes several seconds to import, so the suites run only a few times here;
the report plumbing is tested on hand-made reports without GX.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest

from domain.schema import RECORD_SCHEMA
from quality.expectations import (
    MUST,
    WARN,
    ExpectationResult,
    QualityError,
    ValidationReport,
    read_validation_json,
    validate_records,
    validate_registry,
    write_validation_json,
)

pytestmark = pytest.mark.unit

REGISTRY_SQL = (
    Path(__file__).resolve().parents[2] / "pipelines" / "warehouse" / "sql" / "registry.sql"
)

# PIN = province(3) + century/sex digit + yy + serial(6).
_PERSONS = """
INSERT INTO person (person_id, pin, status, merged_into_pin, full_name, birth_year, sex,
                    birth_province_code, record_count, first_batch_id, last_batch_id) VALUES
    ('p1', '001085000001', 'active',  NULL, 'Nguyễn Văn An',  1985, 'M', '001', 2, 'b1', 'b1'),
    ('p2', '079303000001', 'active',  NULL, 'Trần Thị Bình',  2003, 'F', '079', 1, 'b1', 'b1'),
    ('p3', NULL,           'pending', NULL, 'Lê Thị Cúc',     NULL, 'F', NULL,  1, 'b1', 'b1'),
    ('p4', '001085000002', 'retired', '001085000001', 'Nguyễn Văn An', 1985, 'M', '001',
     0, 'b1', 'b1'),
    ('p5', '048199000001', 'active',  NULL, 'Phạm Thị Dung',  1999, 'F', NULL,  1, 'b1', 'b1')
"""

_RECORDS = """
INSERT INTO source_record (record_key, province_code, local_id, person_id, pin, batch_id,
                           source_file, source_row) VALUES
    ('001:1', '001', '1', 'p1', '001085000001', 'b1', 'hn.csv', 2),
    ('001:2', '001', '2', 'p1', '001085000001', 'b1', 'hn.csv', 3),
    ('079:1', '079', '1', 'p2', '079303000001', 'b1', 'hcm.xlsx', 2),
    ('079:2', '079', '2', 'p3', NULL,           'b1', 'hcm.xlsx', 3),
    ('048:7', '048', '7', 'p5', '048199000001', 'b1', 'dn.dbf', 1)
"""

_COUNTS = """
INSERT INTO ingest_file VALUES
    ('b1', '001', 'hn.csv',   'utf-8', 4, 2, 1, 1),
    ('b1', '079', 'hcm.xlsx', NULL,    2, 2, 0, 0),
    ('b1', '048', 'dn.dbf',   'tcvn3', 1, 1, 0, 0);
INSERT INTO run (run_id, batch_id, started_at, ended_at, status, rows_read, rows_loaded,
    rows_quarantined, rows_skipped, persons_total, persons_new, persons_merged, pins_issued,
    persons_pending, versions, batch_fingerprint, model_source) VALUES
    ('r1', 'b1', TIMESTAMP '2024-01-01 08:00:00', TIMESTAMP '2024-01-01 08:05:00', 'loaded',
     7, 5, 1, 1, 4, 4, 0, 3, 1, '{}', 'fp', 'fitted')
"""

_PINS = """
INSERT INTO pin_event (event_id, event, pin, other_pin, person_id, batch_id, "at", reason)
VALUES
    (1, 'issued', '001085000001', NULL, 'p1', 'b1', TIMESTAMP '2024-01-01 08:05:00', 'new PIN'),
    (2, 'issued', '001085000002', NULL, 'p4', 'b1', TIMESTAMP '2024-01-01 08:05:00', 'new PIN'),
    (3, 'issued', '079303000001', NULL, 'p2', 'b1', TIMESTAMP '2024-01-01 08:05:00', 'new PIN'),
    (4, 'issued', '048199000001', NULL, 'p5', 'b1', TIMESTAMP '2024-01-01 08:05:00', 'new PIN'),
    (5, 'merged', '001085000002', '001085000001', 'p4', 'b1', TIMESTAMP '2024-01-01 08:05:00',
     'merged');
INSERT INTO pin_serial VALUES ('001085', 2), ('079303', 1), ('048199', 1)
"""


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A small, consistent registry in a temporary DuckDB file."""
    con = duckdb.connect(str(tmp_path / "registry.duckdb"))
    con.execute(REGISTRY_SQL.read_text(encoding="utf-8"))
    for statement in (_PERSONS, _RECORDS, _COUNTS, _PINS):
        con.execute(statement)
    yield con
    con.close()


def _failed(report: ValidationReport) -> set[str]:
    return {r.qualified_name for r in report.failures(MUST)}


def test_validate_registry_passes_on_a_consistent_registry(
    registry: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    report = validate_registry(registry)

    assert report.success, report.failures()
    names = {r.qualified_name for r in report.results}
    assert {
        "person.pin_format",
        "person.pin_unique",
        "person.pin_century_sex",
        "person.pin_year",
        "person.pin_province",
        "source_record.province_local_id_unique",
        "source_record.person_exists",
        "source_record.person_current",
        "source_record.pin_agrees",
        "pin_event.issued_once",
        "pin_serial.counter_covers_issued",
        "ingest_file.counts_add_up",
        "run.counts_add_up",
    } <= names
    assert all(r.element_count == 5 for r in report.results if r.table == "person")
    report.raise_for_failures()

    path = write_validation_json(report, tmp_path / "out" / "registry.json")
    assert json.loads(path.read_text(encoding="utf-8"))["success"] is True
    assert read_validation_json(path) == report


# Each mutation breaks exactly one must-hold expectation.
_MUTATIONS = [
    (
        "UPDATE person SET pin = '00108500000X' WHERE person_id = 'p1';"
        "UPDATE source_record SET pin = '00108500000X' WHERE person_id = 'p1'",
        "person.pin_format",
    ),
    (
        # The DDL's UNIQUE constraint stops this; a copy without it shows the check works.
        "CREATE OR REPLACE TABLE person AS SELECT * FROM person;"
        "UPDATE person SET pin = '079303000001' WHERE person_id = 'p4'",
        "person.pin_unique",
    ),
    ("UPDATE person SET sex = 'F' WHERE person_id = 'p1'", "person.pin_century_sex"),
    ("UPDATE person SET birth_year = 1986 WHERE person_id = 'p1'", "person.pin_year"),
    (
        "UPDATE person SET birth_province_code = '002' WHERE person_id = 'p1'",
        "person.pin_province",
    ),
    (
        "UPDATE source_record SET person_id = 'p9' WHERE record_key = '001:2'",
        "source_record.person_exists",
    ),
    (
        "UPDATE source_record SET person_id = 'p4', pin = '001085000002' "
        "WHERE record_key = '001:2'",
        "source_record.person_current",
    ),
    ("UPDATE source_record SET pin = NULL WHERE record_key = '001:2'", "source_record.pin_agrees"),
    (
        'INSERT INTO pin_event (event_id, event, pin, other_pin, person_id, batch_id, "at",'
        " reason) VALUES (6, 'issued', '079303000001', NULL, 'p6', 'b2', "
        "TIMESTAMP '2024-02-01 08:00:00', 'new PIN');"
        "UPDATE pin_serial SET issued = 2 WHERE prefix = '079303'",
        "pin_event.issued_once",
    ),
    (
        "UPDATE pin_serial SET issued = 1 WHERE prefix = '001085'",
        "pin_serial.counter_covers_issued",
    ),
    (
        "UPDATE ingest_file SET rows_skipped = 0 WHERE source_file = 'hn.csv'",
        "ingest_file.counts_add_up",
    ),
    ("UPDATE run SET rows_loaded = 6 WHERE run_id = 'r1'", "run.counts_add_up"),
]


@pytest.mark.parametrize(
    ("mutation", "expected"), _MUTATIONS, ids=[expected for _, expected in _MUTATIONS]
)
def test_validate_registry_names_the_broken_expectation(
    registry: duckdb.DuckDBPyConnection, mutation: str, expected: str
) -> None:
    registry.execute(mutation)

    report = validate_registry(registry)

    assert not report.success
    assert _failed(report) == {expected}
    with pytest.raises(
        QualityError, match=rf"^registry: 1 must-hold .*{expected} \(\d+ unexpected\)"
    ):
        report.raise_for_failures()


def test_validate_registry_reports_the_offending_rows(registry: duckdb.DuckDBPyConnection) -> None:
    registry.execute("UPDATE person SET sex = 'F' WHERE person_id = 'p1'")

    (result,) = validate_registry(registry).failures()

    assert result.unexpected_count == 1
    assert result.unexpected_examples[0]["person_id"] == "p1"
    assert result.unexpected_examples[0]["pin"] == "001085000001"


def _records(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RECORD_SCHEMA)


_GOOD = {
    "record_key": "001:1",
    "batch_id": "b1",
    "province_code": "001",
    "source_file": "hn.csv",
    "source_row": 2,
    "local_id": "1",
    "full_name": "Nguyễn Văn An",
    "birth_year": 1985,
    "birth_month": 3,
    "birth_day": 14,
    "dob_precision": "day",
    "sex": "M",
}


def test_great_expectations_logs_one_line_per_suite(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        report = validate_records(_records([_GOOD]))
    from_gx = [r for r in caplog.records if r.name.startswith("great_expectations")]
    ours = [r.getMessage() for r in caplog.records if r.name == "dancu.quality"]
    assert [r for r in from_gx if r.levelno < logging.WARNING] == []
    checks = len(report.results)
    assert ours == [
        f"Great Expectations suite 'records' passed: {checks} checks, {checks} passed,"
        " 0 failed (0 must-hold, 0 warnings)"
    ]


def test_validate_records_passes_clean_records_with_nulls_where_allowed() -> None:
    unknown = {**_GOOD, "record_key": "001:2", "local_id": "2", "sex": None}
    unknown |= {"birth_year": None, "birth_month": None, "birth_day": None}
    report = validate_records(_records([_GOOD, unknown | {"dob_precision": "unknown"}]))

    assert report.suite_name == "records"
    assert report.success, report.failures()


def test_validate_records_names_each_broken_rule() -> None:
    bad = [
        _GOOD,
        {**_GOOD, "sex": "X", "province_code": "01"},  # duplicate key too
        {**_GOOD, "record_key": "001:3", "birth_year": 1850, "birth_month": 13, "birth_day": 0},
        {**_GOOD, "record_key": "001:4", "dob_precision": "decade", "full_name": None},
        {**_GOOD, "record_key": None, "local_id": None, "dob_precision": None},
    ]

    report = validate_records(_records(bad))

    assert _failed(report) == {
        "records.record_key_not_null",
        "records.record_key_unique",
        "records.local_id_not_null",
        "records.province_code_format",
        "records.sex_in_set",
        "records.dob_precision_not_null",
        "records.dob_precision_in_set",
        "records.birth_year_range",
        "records.birth_month_range",
        "records.birth_day_range",
        "records.full_name_not_null",
    }
    unique = next(r for r in report.results if r.name == "record_key_unique")
    assert unique.unexpected_count == 2


def test_validate_records_fails_a_missing_column_instead_of_crashing() -> None:
    report = validate_records(_records([_GOOD]).drop("sex"))

    (failed,) = report.failures()
    assert failed.name == "sex_in_set"
    assert failed.exception is not None and '"sex"' in failed.exception


def _result(name: str, severity: str, success: bool) -> ExpectationResult:
    return ExpectationResult(
        name=name,
        table="person",
        column="pin",
        expectation="expect_column_values_to_be_unique",
        severity=severity,
        success=success,
        element_count=10,
        unexpected_count=0 if success else 2,
    )


def test_warn_failures_are_reported_but_do_not_raise() -> None:
    report = ValidationReport(
        suite_name="registry",
        success=True,
        results=[_result("a", MUST, True), _result("b", WARN, False)],
    )

    report.raise_for_failures()
    assert [r.name for r in report.failures(WARN)] == ["b"]


def test_must_failures_raise_one_line_naming_them() -> None:
    report = ValidationReport(
        suite_name="registry",
        success=False,
        results=[_result("a", MUST, False), _result("b", WARN, False), _result("c", MUST, False)],
    )

    with pytest.raises(QualityError) as caught:
        report.raise_for_failures()
    message = str(caught.value)
    assert message == (
        "registry: 2 must-hold expectation(s) failed: "
        "person.a (2 unexpected); person.c (2 unexpected)"
    )
    assert "\n" not in message
