"""The inbox DAG: a new batch in the inbox triggers its dancu_batch run, in order, once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dancu.inbox import batch_fingerprint, batch_folders, next_batch_to_load

pytestmark = pytest.mark.dag
REPO = Path(__file__).resolve().parents[2]


def _bag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def _triggered() -> list[tuple[str, dict]]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == "dancu_batch").all()
        return sorted((r.run_id, dict(r.conf or {})) for r in runs)


def test_the_oldest_unloaded_batch_is_triggered_once(
    airflow_db: Path, sample_inbox: Path, tmp_path: Path
) -> None:

    bag = _bag()
    assert bag.import_errors == {}
    inbox = bag.get_dag("dancu_inbox")
    warehouse = tmp_path / "warehouse"
    conf = {
        "inbox": str(sample_inbox),
        "warehouse": str(warehouse),
        "settle_minutes": 0,
        "demo": True,
    }
    before = _triggered()
    for _ in range(2):  # the second check finds the same batch and triggers nothing new
        run = inbox.test(run_conf=conf)
        assert "success" in str(run.state), run.state
    new = [r for r in _triggered() if r not in before]
    first = batch_folders(sample_inbox)[0]
    assert new == [
        (
            f"batch__{first.name}__{batch_fingerprint(first)[:16]}",
            {
                "inbox": str(sample_inbox),
                "batch": first.name,
                "warehouse": str(warehouse),
                "demo": True,
            },
        )
    ]


def test_next_batch_waits_for_order_and_for_files_to_settle(
    sample_inbox: Path, cli_warehouse: Path, tmp_path: Path
) -> None:
    first, second = batch_folders(sample_inbox)
    empty = tmp_path / "empty-warehouse"
    assert next_batch_to_load(sample_inbox, empty, settle_seconds=0) == (
        first,
        batch_fingerprint(first),
    )
    # Still arriving: a file changed a moment ago.
    assert next_batch_to_load(sample_inbox, empty, settle_seconds=60, now=_newest(first)) is None
    # Everything loaded: nothing to do.
    assert next_batch_to_load(sample_inbox, cli_warehouse, settle_seconds=0) is None
    # A re-delivered batch (its files changed) is due again, in its place in the order.
    inbox = tmp_path / "inbox"
    shutil.copytree(sample_inbox, inbox)
    extra = inbox / second.name / "001" / "late.csv"
    extra.write_text("Mã nhân khẩu,Họ và tên\nX1,Nguyễn Văn A\n", encoding="utf-8")
    found = next_batch_to_load(inbox, cli_warehouse, settle_seconds=0)
    assert found is not None and found[0].name == second.name


def _newest(batch: Path) -> float:
    return max(p.stat().st_mtime for p in batch.rglob("*"))
