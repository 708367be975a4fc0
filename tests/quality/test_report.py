"""The HTML quality report, in Vietnamese and English, on a tiny registry and on an empty one."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from pipelines.warehouse.registry import create_schema, record_decision
from quality.expectations import MUST, ExpectationResult, ValidationReport
from quality.report import write_report
from tests.registry_helpers import DEMO_KEYS

pytestmark = pytest.mark.unit


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
     '{"given_name": {"level": 2, "weight": 6.1}, "id_number": {"level": -1, "weight": 0.0},
       "sex": {"level": 1, "weight": 0.97}}',
     'b1');
INSERT INTO match_model VALUES ('b1', '{"prior_weight": -2.85, "comparisons": [
    {"name": "given_name", "labels": ["else", "folded", "exact"],
     "m": [0.05, 0.15, 0.8], "u": [0.9, 0.07, 0.03], "weights": [-4.17, 1.1, 4.74]},
    {"name": "id_number", "labels": ["else", "exact"],
     "m": [0.1, 0.9], "u": [0.999, 0.001], "weights": [-3.3, 9.8]},
    {"name": "sex", "labels": ["else", "exact"],
     "m": [0.02, 0.98], "u": [0.5, 0.5], "weights": [-4.6, 0.97]}]}');
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
    create_schema(con)
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


THRESHOLDS = {"link": 0.996, "review": 0.5, "bridge": 0.9999}


def test_the_report_is_in_vietnamese_with_names_dates_and_explained_pairs(tmp_path: Path) -> None:
    con = _registry(tmp_path / "registry.duckdb", _ROWS)

    out = write_report(
        con, tmp_path / "site" / "report.html", [_validation(False)], thresholds=THRESHOLDS
    )

    page = out.read_text(encoding="utf-8")
    assert '<html lang="vi">' in page
    # The re-run that changed nothing does not count the batch twice.
    for label, value in [
        ("Dòng đã đọc", "17"),
        ("Dòng đã nạp", "4"),
        ("Dòng bị cách ly", "12"),
        ("Dòng bỏ qua", "1"),
        ("Số người", "3"),
        ("Số định danh", "2"),
        ("Chờ xác minh", "1"),
        ("Bản ghi trùng đã gộp", "1"),
    ]:
        assert _cell(label, value) in page
    assert page.count('<img src="data:image/png;base64,') == 3
    assert '<td>unparseable date</td><td class="n">2</td>' in page
    # Provinces by name, sex as Nam / Nữ, dates as dd/mm/yyyy.
    assert "<td>Hà Nội</td>" in page and "<td>Hồ Chí Minh</td>" in page
    assert "<td>Nữ</td>" in page and "<td>F</td>" not in page
    assert "01/01/2024 08:00" in page
    # The queued pair: both records, per-field rows (level −1 explained), waterfall, m and u.
    assert "Hàng đợi rà soát (1 cặp)" in page
    assert "Trần Thị Bình" in page and "Lê &lt;Cúc&gt;" in page and "<Cúc>" not in page
    assert "&quot;given_name&quot;" not in page and '{"given_name"' not in page
    assert "2: trùng khớp" in page and "−1: thiếu" in page
    assert '<svg class="waterfall"' in page
    assert "≥ 0,9960" in page and "≥ 0,5000" in page
    assert "Mô hình: m và u theo từng mức" in page and "0,8000" in page and "0,0300" in page
    assert 'href="http://127.0.0.1:8765/"' in page
    assert "pin_unique" in page and "KHÔNG ĐẠT" in page
    assert 'href="report.en.html"' in page
    assert not re.search(r"(src|href)=\"https?:", page.replace('href="http://127.0.0.1:8765/"', ""))
    con.close()


def test_the_english_report_is_written_beside_it(tmp_path: Path) -> None:
    con = _registry(tmp_path / "registry.duckdb", _ROWS)

    write_report(con, tmp_path / "report.html", [_validation(True)], thresholds=THRESHOLDS)

    page = (tmp_path / "report.en.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page
    assert _cell("Rows read", "17") in page and _cell("Persons", "3") in page
    assert "<td>Female</td>" in page and "Clerical review queue (1 pairs)" in page
    assert "−1: missing" in page and "≥ 0.9960" in page
    assert 'href="report.html"' in page
    con.close()


def test_report_is_byte_identical_for_the_same_registry(tmp_path: Path) -> None:
    con = _registry(tmp_path / "registry.duckdb", _ROWS)

    first = write_report(con, tmp_path / "a" / "report.html", [_validation(True)])
    second = write_report(con, tmp_path / "b" / "report.html", [_validation(True)])

    assert first.read_bytes() == second.read_bytes()
    english = "report.en.html"
    assert (first.parent / english).read_bytes() == (second.parent / english).read_bytes()
    con.close()


def test_report_on_an_empty_registry(tmp_path: Path) -> None:
    con = _registry(tmp_path / "registry.duckdb", None)

    page = write_report(con, tmp_path / "report.html", []).read_text(encoding="utf-8")
    english = (tmp_path / "report.en.html").read_text(encoding="utf-8")

    assert _cell("Dòng đã đọc", "0") in page
    assert _cell("Số người", "0") in page
    assert "Chưa có bản ghi nguồn." in page
    assert "Không có cặp nào chờ rà soát." in page
    assert "Không có gì bị cách ly." in page
    assert "Chưa chạy kiểm định nào." in page
    for message in ("No source records.", "No scored pairs.", "No pairs await review."):
        assert message in english
    con.close()


def test_a_pair_a_reviewer_decided_leaves_the_queue(tmp_path: Path) -> None:
    con = _registry(tmp_path / "registry.duckdb", _ROWS)
    record_decision(
        con, "079:2", "079:1", verdict="different", reviewer="lan", audit_key=DEMO_KEYS.audit
    )

    write_report(con, tmp_path / "report.html", [])
    page = (tmp_path / "report.en.html").read_text(encoding="utf-8")

    assert "Clerical review queue (0 pairs)" in page
    assert "Pairs decided by reviewers so far: 1." in page
    assert "No pairs await review." in page
    con.close()
