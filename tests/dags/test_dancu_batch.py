"""The Airflow DAG: it imports cleanly and a real run gives the CLI's registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from dancu.inbox import batch_folders
from tests.registry_helpers import open_registry

pytestmark = pytest.mark.dag
REPO = Path(__file__).resolve().parents[2]


def _bag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_the_dagbag_loads_without_import_errors(airflow_db: Path) -> None:
    bag = _bag()
    assert bag.import_errors == {}
    dag = bag.get_dag("dancu_batch")
    assert dag is not None
    assert {"plan", "ingest", "validate_staged", "match", "load", "quality"} <= set(dag.task_ids)
    assert dag.doc_md and "dancu_batch" in dag.doc_md


def _snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    queries = {
        "person": "SELECT * FROM person ORDER BY person_id",
        "source_record": "SELECT * FROM source_record ORDER BY record_key",
        "match_link": "SELECT * FROM match_link ORDER BY record_key_l, record_key_r",
        "pin_event": (
            "SELECT event, pin, other_pin, person_id, batch_id, reason FROM pin_event"
            " ORDER BY event_id"
        ),
        "quarantine": "SELECT * FROM quarantine ORDER BY batch_id, source_file, source_row",
    }
    with open_registry(warehouse / "registry.duckdb") as con:
        return {name: con.execute(sql).fetchall() for name, sql in queries.items()}


def test_a_dag_run_on_the_samples_gives_the_cli_registry(
    airflow_db: Path, sample_inbox: Path, cli_warehouse: Path, tmp_path: Path
) -> None:
    dag = _bag().get_dag("dancu_batch")
    warehouse = tmp_path / "dag-warehouse"
    for batch in batch_folders(sample_inbox):
        conf = {
            "inbox": str(sample_inbox),
            "batch": batch.name,
            "warehouse": str(warehouse),
            "demo": True,
        }
        run = dag.test(run_conf=conf)
        assert "success" in str(run.state), f"DAG run for {batch.name} ended {run.state}"
    mapped = {ti.map_index for ti in run.get_task_instances() if ti.task_id == "ingest"}
    assert len(mapped) > 1  # one mapped task per province folder
    assert (warehouse / "report.html").exists()
    assert _snapshot(warehouse) == _snapshot(cli_warehouse)
