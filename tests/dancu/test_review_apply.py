"""Reviewers' decisions: append-only, authenticated, applied at once (issues 12 and 13).

One sample batch is loaded once into a real registry; each test works on a
copy of it, decides pairs as two reviewers would, applies the decisions with
``apply_decisions`` (what ``dancu review apply``, the workspace and the DAG
call) and reads the persons and PIN events back.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dancu.stages import apply_decisions, run_batch
from pipelines.warehouse.registry import (
    DecisionError,
    confirm_decision,
    decision_history,
    read_decisions,
    record_decision,
)
from tests.registry_helpers import DEMO_KEYS, demo_settings, open_registry

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse(one_batch_warehouse: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "warehouse"
    copy.mkdir()
    shutil.copy(one_batch_warehouse / "registry.duckdb", copy / "registry.duckdb")
    return copy


def _rows(warehouse: Path, sql: str, params: list[object] | None = None) -> list[tuple]:
    with open_registry(warehouse) as con:
        return con.execute(sql, params or []).fetchall()


def _queued(warehouse: Path) -> tuple[str, str]:
    rows = _rows(
        warehouse,
        "SELECT record_key_l, record_key_r FROM review_queue "
        "WHERE pin_l IS NOT NULL AND pin_r IS NOT NULL ORDER BY ALL LIMIT 1",
    )
    assert rows, "the sample batch has pairs in the review queue"
    return rows[0]


def _linked(warehouse: Path) -> tuple[str, str, str]:
    """Two records of one active person with two records, and its PIN."""
    return _rows(
        warehouse,
        """SELECT min(s.record_key), max(s.record_key), any_value(p.pin)
           FROM source_record s JOIN person p USING (person_id)
           WHERE p.status = 'active' AND p.record_count = 2
           GROUP BY p.person_id ORDER BY p.person_id LIMIT 1""",
    )[0]


def _person(warehouse: Path, key: str) -> str:
    return _rows(warehouse, "SELECT person_id FROM source_record WHERE record_key = ?", [key])[0][0]


def test_a_same_decision_on_a_queued_pair_merges_at_once_naming_decision_and_reviewer(
    warehouse: Path,
) -> None:
    left, right = _queued(warehouse)
    assert _person(warehouse, left) != _person(warehouse, right)
    with open_registry(warehouse / "registry.duckdb", read_only=False) as con:
        decision = record_decision(
            con, left, right, verdict="same", reviewer="lan", audit_key=DEMO_KEYS.audit
        )
    assert decision.queued
    summary = apply_decisions(warehouse, demo_settings(), actor="lan")
    assert summary.decisions == 1 and summary.events.get("merged") == 1
    assert _person(warehouse, left) == _person(warehouse, right)
    ((reason, decision_id, batch_id),) = _rows(
        warehouse, "SELECT reason, decision_id, batch_id FROM pin_event WHERE event = 'merged'"
    )
    assert decision_id == decision.decision_id
    assert f"#{decision.decision_id}" in reason and "(lan)" in reason
    assert batch_id == f"review:{decision.decision_id}"
    assert _rows(
        warehouse,
        "SELECT decision, decided_by FROM match_link WHERE record_key_l = ? AND record_key_r = ?",
        [left, right],
    ) == [("link", "reviewer")]
    assert _rows(warehouse, "SELECT action, actor FROM review_action") == [("applied", "lan")]
    assert (left, right) not in set(
        _rows(warehouse, "SELECT record_key_l, record_key_r FROM review_queue")
    )
    # Applying again changes nothing.
    assert apply_decisions(warehouse, demo_settings(), actor="lan").decisions == 0


def test_a_pair_outside_the_queue_needs_a_note_and_a_second_reviewer(warehouse: Path) -> None:
    left, right, pin = _linked(warehouse)
    registry = warehouse / "registry.duckdb"
    with open_registry(registry, read_only=False) as con:
        with pytest.raises(DecisionError, match="not in the review queue"):
            record_decision(
                con, left, right, verdict="different", reviewer="lan", audit_key=DEMO_KEYS.audit
            )
        decision = record_decision(
            con,
            left,
            right,
            verdict="different",
            reviewer="lan",
            note="twins, household book",
            audit_key=DEMO_KEYS.audit,
        )
        assert not decision.queued
    # Not in force until confirmed: applying changes nothing.
    assert apply_decisions(warehouse, demo_settings(), actor="lan").decisions == 0
    assert _person(warehouse, left) == _person(warehouse, right)
    with open_registry(registry, read_only=False) as con:
        with pytest.raises(DecisionError, match="another reviewer"):
            confirm_decision(con, decision.decision_id, "lan", audit_key=DEMO_KEYS.audit)
        confirm_decision(con, decision.decision_id, "minh", audit_key=DEMO_KEYS.audit)
        with pytest.raises(DecisionError, match="already confirmed"):
            confirm_decision(con, decision.decision_id, "hoa", audit_key=DEMO_KEYS.audit)
    summary = apply_decisions(warehouse, demo_settings(), actor="minh")
    assert summary.decisions == 1 and summary.events.get("split") == 1
    assert _person(warehouse, left) != _person(warehouse, right)
    ((new_pin, other, reason, decision_id),) = _rows(
        warehouse, "SELECT pin, other_pin, reason, decision_id FROM pin_event WHERE event = 'split'"
    )
    assert other == pin and new_pin != pin
    assert decision_id == decision.decision_id and "(lan)" in reason


def test_decisions_are_appended_and_the_latest_supersedes(warehouse: Path) -> None:
    left, right = _queued(warehouse)
    with open_registry(warehouse / "registry.duckdb", read_only=False) as con:
        first = record_decision(
            con, left, right, verdict="unsure", reviewer="lan", note="?", audit_key=DEMO_KEYS.audit
        )
        second = record_decision(
            con, left, right, verdict="different", reviewer="minh", audit_key=DEMO_KEYS.audit
        )
        history = decision_history(con, right, left)
        in_force = read_decisions(con)
    assert second.supersedes == first.decision_id
    assert history["verdict"].to_list() == ["unsure", "different"]
    assert history["reviewer"].to_list() == ["lan", "minh"]
    assert in_force.rows() == [(left, right, False)]
    with (
        pytest.raises(duckdb.ConstraintException),
        open_registry(warehouse / "registry.duckdb", read_only=False) as con,
    ):
        con.execute(
            "INSERT INTO review_decision (decision_id, record_key_l, record_key_r, verdict,"
            " reviewer, decided_at, queued) VALUES (?, ?, ?, 'same', 'x', now(), true)",
            [first.decision_id, left, right],
        )


def test_a_forced_rerun_of_the_same_batch_applies_a_pending_same_decision(
    warehouse: Path, sample_inbox: Path
) -> None:
    left, right = _queued(warehouse)
    with open_registry(warehouse / "registry.duckdb", read_only=False) as con:
        record_decision(con, left, right, verdict="same", reviewer="lan", audit_key=DEMO_KEYS.audit)
    run_batch(sample_inbox / "2021-06-15", warehouse, demo_settings(force=True))
    assert _person(warehouse, left) == _person(warehouse, right)
    ((batch_id, actor),) = _rows(warehouse, "SELECT batch_id, actor FROM review_action")
    assert batch_id == "2021-06-15" and actor == "batch 2021-06-15"


def test_the_command_line_decides_as_the_os_user_and_applies(warehouse: Path) -> None:
    left, right = _queued(warehouse)
    dancu = [str(Path(sys.executable).with_name("dancu"))]
    env = {**os.environ, "USER": "someone-else", "LOGNAME": "someone-else"}
    decided = subprocess.run(
        [
            *dancu,
            "review",
            "decide",
            "--demo",
            "--warehouse",
            str(warehouse),
            left,
            right,
            "--same",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert decided.returncode == 0, decided.stderr
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert _rows(warehouse, "SELECT reviewer FROM review_decision") == [(me,)]
    spoofed = subprocess.run(
        [
            *dancu,
            "review",
            "decide",
            "--demo",
            "--warehouse",
            str(warehouse),
            left,
            right,
            "--same",
            "--reviewer",
            "lan",
        ],
        capture_output=True,
        text=True,
    )
    assert spoofed.returncode == 2 and "--reviewer" in spoofed.stderr
    applied = subprocess.run(
        [*dancu, "review", "apply", "--demo", "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
    )
    assert applied.returncode == 0, applied.stderr
    assert "1 merged" in applied.stdout
    assert _person(warehouse, left) == _person(warehouse, right)
