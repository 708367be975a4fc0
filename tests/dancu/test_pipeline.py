"""End to end: ``dancu run`` on data/samples into a temporary warehouse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dancu.evaluate import evaluate
from dancu.inbox import batch_folders
from domain.identity import decode_prefix
from domain.reference import provinces
from tests.registry_helpers import open_registry

pytestmark = pytest.mark.integration

CONTRACT = {
    "person": {"pin", "family_name", "middle_name", "given_name", "full_name", "date_of_birth",
               "birth_year", "sex", "birth_province_code", "status"},
    "source_record": {"province_code", "local_id", "pin", "batch_id", "source_file", "source_row",
                      "full_name", "date_of_birth", "sex"},
    "household_member": {"province_code", "household_id", "pin", "relation_to_head"},
    "match_link": {"record_key_l", "record_key_r", "match_weight", "match_probability",
                   "decision", "decided_by"},
    "pin_event": {"event", "pin", "other_pin", "batch_id", "at", "reason"},
    "quarantine": {"batch_id", "province_code", "source_file", "source_row", "reason",
                   "original_text"},
    "run": {"batch_id", "started_at", "ended_at", "rows_read", "rows_loaded", "rows_quarantined",
            "rows_skipped", "persons_new", "persons_merged", "versions"},
}  # fmt: skip


def _rows(warehouse: Path, sql: str) -> list[tuple]:
    with open_registry(warehouse / "registry.duckdb") as con:
        return con.execute(sql).fetchall()


def test_the_registry_has_the_contract_tables(cli_warehouse: Path) -> None:
    for table, columns in CONTRACT.items():
        found = {r[0] for r in _rows(cli_warehouse, f"DESCRIBE {table}")}
        assert columns <= found, f"{table} lacks {columns - found}"
        assert _rows(cli_warehouse, f"SELECT count(*) FROM {table}")[0][0] > 0, table


def test_every_row_read_is_loaded_quarantined_or_skipped(
    cli_warehouse: Path, sample_inbox: Path
) -> None:
    batches = [b.name for b in batch_folders(sample_inbox)]
    for batch in batches:
        ((read, loaded, bad, skipped),) = _rows(
            cli_warehouse,
            f"SELECT rows_read, rows_loaded, rows_quarantined, rows_skipped FROM run "
            f"WHERE batch_id = '{batch}' ORDER BY ended_at DESC LIMIT 1",
        )
        assert read == loaded + bad + skipped > 0
    last = batches[-1]
    loaded_last, bad_last = _rows(
        cli_warehouse,
        f"SELECT rows_loaded, rows_quarantined FROM run WHERE batch_id = '{last}' "
        "ORDER BY ended_at DESC LIMIT 1",
    )[0]
    in_tables = _rows(
        cli_warehouse,
        f"SELECT (SELECT count(*) FROM source_record WHERE batch_id = '{last}'),"
        f" (SELECT count(*) FROM quarantine WHERE batch_id = '{last}')",
    )[0]
    assert in_tables == (loaded_last, bad_last)
    files_read = sum(1 for b in batches for f in (sample_inbox / b).glob("*/*") if f.is_file())
    files_counted = _rows(cli_warehouse, "SELECT count(*) FROM ingest_file")[0][0]
    assert files_counted >= files_read


def test_pins_are_valid_unique_and_agree_with_the_person(cli_warehouse: Path) -> None:
    codes = set(provinces())
    persons = _rows(
        cli_warehouse,
        "SELECT pin, sex, birth_year, birth_province_code FROM person WHERE status = 'active'",
    )
    assert persons
    pins = [p[0] for p in persons]
    assert len(set(pins)) == len(pins)
    for pin, sex, year, province in persons:
        assert len(pin) == 12 and pin.isdigit()
        assert decode_prefix(pin) == (province, sex, year)
        assert province in codes
    orphans = _rows(
        cli_warehouse,
        "SELECT count(*) FROM source_record s LEFT JOIN person p USING (person_id) "
        "WHERE p.person_id IS NULL OR p.status = 'retired' OR s.pin IS DISTINCT FROM p.pin",
    )[0][0]
    assert orphans == 0
    issued = _rows(
        cli_warehouse, "SELECT count(DISTINCT pin) FROM pin_event WHERE event = 'issued'"
    )
    assert issued[0][0] >= len(pins)


def test_pending_persons_have_no_pin_and_a_reason(cli_warehouse: Path) -> None:
    rows = _rows(
        cli_warehouse,
        "SELECT pin, pending_reason, sex, birth_year FROM person WHERE status = 'pending'",
    )
    for pin, reason, sex, year in rows:
        assert pin is None and reason
        assert sex is None or year is None


def test_the_registry_finds_duplicates_without_false_merges(
    cli_warehouse: Path, sample_truth: Path
) -> None:
    result = evaluate(sample_truth, cli_warehouse)
    assert result.pairwise_precision >= 0.995
    # Issue 4 measured P 1.0000, R 0.9172, F1 0.9568, B-cubed F1 0.9958 on the samples.
    assert result.pairwise_f1 >= 0.92
    assert result.bcubed_f1 >= 0.99
    assert result.twin_pairs_merged == 0


@pytest.mark.parametrize("force", [False, True], ids=["skip-unchanged", "reprocess"])
def test_running_the_same_batches_again_changes_nothing(
    cli_warehouse: Path, sample_inbox: Path, force: bool
) -> None:
    tables = [
        "person",
        "source_record",
        "household_member",
        "match_link",
        "pin_event",
        "quarantine",
    ]
    order = {
        "person": "person_id",
        "source_record": "record_key",
        "household_member": "record_key",
        "match_link": "record_key_l, record_key_r",
        "pin_event": "event_id",
        "quarantine": "batch_id, source_file, source_row",
    }
    before = {t: _rows(cli_warehouse, f"SELECT * FROM {t} ORDER BY {order[t]}") for t in tables}
    dancu = Path(sys.executable).with_name("dancu")
    result = subprocess.run(
        [
            str(dancu),
            "run",
            "--demo",
            "--inbox",
            str(sample_inbox),
            "--warehouse",
            str(cli_warehouse),
        ]
        + (["--force"] if force else []),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert ("already loaded" in result.stdout) is not force
    for table in tables:
        after = _rows(cli_warehouse, f"SELECT * FROM {table} ORDER BY {order[table]}")
        assert after == before[table], table


def test_a_missing_inbox_fails_with_one_clear_line(tmp_path: Path) -> None:
    dancu = Path(sys.executable).with_name("dancu")
    result = subprocess.run(
        [
            str(dancu),
            "run",
            "--demo",
            "--inbox",
            str(tmp_path / "nope"),
            "--warehouse",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "is not a folder" in result.stderr
