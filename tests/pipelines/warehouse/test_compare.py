"""Comparing two registries: the same rows, wall-clock columns aside; any other change found."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.warehouse.compare import compare_registries
from tests.registry_helpers import open_registry

pytestmark = pytest.mark.integration


def _copy(cli_warehouse: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "registry.duckdb"
    shutil.copy(cli_warehouse / "registry.duckdb", copy)
    return copy


def test_a_registry_equals_its_copy_with_other_clock_times(
    cli_warehouse: Path, tmp_path: Path
) -> None:
    copy = _copy(cli_warehouse, tmp_path)
    with open_registry(copy, read_only=False) as con:
        con.execute("""UPDATE pin_event SET "at" = "at" + INTERVAL 3 HOUR""")
        con.execute(
            "UPDATE run SET run_id = run_id || 'x', started_at = started_at - INTERVAL 1 DAY"
        )
    differences = compare_registries(cli_warehouse / "registry.duckdb", copy)
    assert [d for d in differences if not d.same] == []
    by_table = {d.table: d for d in differences}
    # The audit chain's MACs cover the clock columns too (each chain is verified on its own).
    assert by_table["pin_event"].ignored == ("at", "prev_mac", "mac")
    assert set(by_table["run"].ignored) == {"run_id", "started_at", "ended_at", "prev_mac", "mac"}
    assert by_table["person"].rows_left == by_table["person"].rows_right > 0


def test_a_changed_pin_a_lost_link_and_a_repeated_row_are_found(
    cli_warehouse: Path, tmp_path: Path
) -> None:
    copy = _copy(cli_warehouse, tmp_path)
    with open_registry(copy, read_only=False) as con:
        (pin,) = con.execute("SELECT min(pin) FROM person").fetchall()[0]
        con.execute("UPDATE person SET pin = '000000000000' WHERE pin = ?", [pin])
        con.execute(
            "DELETE FROM match_link WHERE record_key_l || ' ' || record_key_r = "
            "(SELECT min(record_key_l || ' ' || record_key_r) FROM match_link)"
        )
        con.execute("INSERT INTO quarantine SELECT * FROM quarantine LIMIT 1")
    found = {
        d.table: (d.only_left, d.only_right)
        for d in compare_registries(cli_warehouse / "registry.duckdb", copy)
        if not d.same
    }
    assert found == {"person": (1, 1), "match_link": (1, 0), "quarantine": (0, 1)}
