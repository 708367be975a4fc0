"""The HTML quality report on a tiny registry and on an empty one (no GX involved)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from quality.expectations import MUST, ExpectationResult, ValidationReport
from quality.report import write_report

pytestmark = pytest.mark.unit

REGISTRY_SQL = (
    Path(__file__).resolve().parents[2] / "pipelines" / "warehouse" / "sql" / "registry.sql"
)

_ROWS = """
INSERT INTO person (person_id, pin, status, full_name, birth_year, sex, record_count,
                    first_batch_id, last_batch_id) VALUES
    ('p1', '001085000001', 'active',  'Nguyễn Văn An', 1985, 'M', 2, 'b1', 'b1'),
    ('p2', '079103000001', 'active',  'Trần Thị Bình', 2003, 'F', 1, 'b1', 'b1'),
    ('p3', NULL,           'pending', 'Lê <Cúc>',      NULL, 'F', 1, 'b1', 'b1');
INSERT INTO source_record (record_key, province_code, local_id, person_id, batch_id,
                           source_file, source_row, full_name, birth_year, birth_month,
                           date_of_birth, sex) VALUES
    ('001:1', '001', '1', 'p1', 'b1', 'hn.csv', 2, 'Nguyễn Văn An', 1985, 3, DATE '1985-03-14',
     'M'),
    ('001:2', '001', '2', 'p1', 'b1', 'hn.csv', 3, 'Nguyen Van An', 1985, 3, NULL, 'M'),
    ('079:1', '079', '1', 'p2', 'b1', 'hcm.xlsx', 2, 'Trần Thị Bình', 2003, NULL, NULL, 'F'),
    ('079:2', '079', '2', 'p3', 'b1', 'hcm.xlsx', 3, 'Lê <Cúc>', NULL, NULL, NULL, 'F');
INSERT INTO match_link VALUES
    ('001:1', '001:2', '001', '1', '001', '2', 14.2, 0.9999, 'link', 'model', '{}', 'b1'),
    ('001:1', '079:1', '001', '1', '079', '1', -9.5, 0.001, 'non_link', 'model', '{}', 'b1'),
    ('079:1', '079:2', '079', '1', '079', '2', 3.25, 0.905, 'review', 'model',
     '{"given_name": {"level": "exact", "weight": 6.1}}', 'b1');
INSERT INTO pin_event (event_id, event, pin, other_pin, person_id, batch_id, "at", reason) VALUES
    (1, 'issued', '001085000001', NULL, 'p1', 'b1', TIMESTAMP '2024-01-01 08:04:00', NULL),
    (2, 'issued', '079103000001', NULL, 'p2', 'b1', TIMESTAMP '2024-01-01 08:04:00', NULL);
INSERT INTO quarantine VALUES
    ('b1', '001', 'hn.csv', NULL, 9, 'unparseable date', '9;Vũ;32/13/1990'),
    ('b1', '001', 'hn.csv', NULL, 11, 'unparseable date', '11;Hà;??'),
    ('b1', '079', 'bad.xls', NULL, NULL, 'unreadable file', NULL);
INSERT INTO run (run_id, batch_id, started_at, ended_at, status, rows_read, rows_loaded,
    rows_quarantined, rows_skipped, persons_total, persons_new, persons_merged, pins_issued,
    persons_pending, versions, batch_fingerprint, model_source) VALUES
    ('r1', 'b1', TIMESTAMP '2024-01-01 08:00:00', TIMESTAMP '2024-01-01 08:05:00', 'loaded',
     17, 4, 12, 1, 3, 3, 0, 2, 1, '{}', 'fp', 'fitted'),
    ('r2', 'b1', TIMESTAMP '2024-01-02 08:00:00', TIMESTAMP '2024-01-02 08:00:01', 'unchanged',
     17, 0, 0, 0, 3, 0, 0, 0, 1, '{}', 'fp', 'fitted');
"""


def _registry(path: Path, rows: str | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute(REGISTRY_SQL.read_text(encoding="utf-8"))
    if rows:
        con.execute(rows)
    return con


def _validation(success: bool) -> ValidationReport:
    result = ExpectationResult(
        name="pin_unique",
        table="person",
        column="pin",
        expectation="expect_column_values_to_be_unique",
        severity=MUST,
        success=success,
        element_count=3,
        unexpected_count=0 if success else 2,
        unexpected_examples=[] if success else [{"person_id": "p1", "pin": "001085000001"}],
    )
    return ValidationReport(suite_name="registry", success=success, results=[result])


def _cell(label: str, value: str) -> str:
    return f'<th>{label}</th><td class="n">{value}</td>'


def test_report_shows_headline_charts_queue_and_validations(tmp_path: Path) -> None:
    con = _registry(tmp_path / "registry.duckdb", _ROWS)

    out = write_report(con, tmp_path / "site" / "report.html", [_validation(False)])

    page = out.read_text(encoding="utf-8")
    # The re-run that changed nothing does not count the batch twice.
    for label, value in [
        ("Rows read", "17"),
        ("Rows loaded", "4"),
        ("Rows quarantined", "12"),
        ("Rows skipped", "1"),
        ("Persons", "3"),
        ("PINs", "2"),
        ("Pending", "1"),
        ("Duplicates merged", "1"),
    ]:
        assert _cell(label, value) in page
    assert page.count('<img src="data:image/png;base64,') == 3
    assert '<td>unparseable date</td><td class="n">2</td>' in page
    assert "Clerical review queue (1 pairs)" in page
    assert "Trần Thị Bình" in page and "Lê &lt;Cúc&gt;" in page and "<Cúc>" not in page
    assert "&quot;given_name&quot;" in page
    assert "<dt>born</dt><dd>2003</dd>" in page and "<dt>born</dt><dd>unknown</dd>" in page
    assert "pin_unique" in page and "FAILED" in page
    assert not re.search(r"(src|href)=\"https?:", page)
    con.close()


def test_report_is_byte_identical_for_the_same_registry(tmp_path: Path) -> None:
    con = _registry(tmp_path / "registry.duckdb", _ROWS)

    first = write_report(con, tmp_path / "a.html", [_validation(True)]).read_bytes()
    second = write_report(con, tmp_path / "b.html", [_validation(True)]).read_bytes()

    assert first == second
    con.close()


def test_report_on_an_empty_registry(tmp_path: Path) -> None:
    con = _registry(tmp_path / "registry.duckdb", None)

    page = write_report(con, tmp_path / "report.html", []).read_text(encoding="utf-8")

    assert _cell("Rows read", "0") in page
    assert _cell("Persons", "0") in page
    assert "No source records." in page
    assert "No scored pairs." in page
    assert "No pairs await review." in page
    assert "Nothing quarantined." in page
    assert "No validations were run." in page
    con.close()


def test_a_pair_a_reviewer_decided_leaves_the_queue(tmp_path: Path) -> None:
    con = _registry(tmp_path / "registry.duckdb", _ROWS)
    con.execute(
        "INSERT INTO review_decision (record_key_l, record_key_r, same, reviewer, decided_at,"
        " note) VALUES "
        "('079:1', '079:2', false, 'lan', TIMESTAMP '2024-03-01 09:00:00', NULL)"
    )

    page = write_report(con, tmp_path / "report.html", []).read_text(encoding="utf-8")

    assert "Clerical review queue (0 pairs)" in page
    assert "1 pairs decided by reviewers so far" in page
    assert "No pairs await review." in page
    con.close()
