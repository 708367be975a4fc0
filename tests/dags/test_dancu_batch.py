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
    assert {
        "plan",
        "ingest",
        "validate_staged",
        "match",
        "compare",
        "fit",
        "score",
        "cluster",
        "load",
        "quality",
    } <= set(dag.task_ids)
    assert dag.doc_md and "dancu_batch" in dag.doc_md
    for dag_id in ("dancu_batch", "dancu_inbox", "dancu_review"):
        found = bag.get_dag(dag_id)
        assert found is not None and found.is_paused_upon_creation is True
        for name, param in found.params.items():
            assert param.description, f"{dag_id} param {name} has no description"


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
            "match_partitions": 3,  # the CLI matches in one: the registry must not change
        }
        run = dag.test(run_conf=conf)
        assert "success" in str(run.state), f"DAG run for {batch.name} ended {run.state}"
    instances = run.get_task_instances()
    mapped = {ti.map_index for ti in instances if ti.task_id == "ingest"}
    assert mapped == {0}  # the small provinces of a small batch share one ingest task
    for step in ("compare", "score"):
        assert {ti.map_index for ti in instances if ti.task_id == step} == {0, 1, 2}
    assert (warehouse / "report.html").exists()
    assert _snapshot(warehouse) == _snapshot(cli_warehouse)


def test_the_review_dag_applies_a_decision_now(
    airflow_db: Path, one_batch_warehouse: Path, tmp_path: Path
) -> None:
    import shutil

    from pipelines.warehouse.registry import record_decision
    from tests.registry_helpers import DEMO_KEYS

    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    shutil.copy(one_batch_warehouse / "registry.duckdb", warehouse / "registry.duckdb")
    with open_registry(warehouse / "registry.duckdb", read_only=False) as con:
        ((left, right),) = con.execute(
            "SELECT record_key_l, record_key_r FROM review_queue WHERE pin_l IS NOT NULL"
            " AND pin_r IS NOT NULL ORDER BY ALL LIMIT 1"
        ).fetchall()
        decision = record_decision(
            con, left, right, verdict="same", reviewer="lan", audit_key=DEMO_KEYS.audit
        )
    conf = {"warehouse": str(warehouse), "demo": True}
    run = _bag().get_dag("dancu_review").test(run_conf=conf)
    assert "success" in str(run.state)
    with open_registry(warehouse / "registry.duckdb") as con:
        persons = con.execute(
            "SELECT count(DISTINCT person_id) FROM source_record WHERE record_key IN (?, ?)",
            [left, right],
        ).fetchall()
        events = con.execute("SELECT decision_id FROM pin_event WHERE event = 'merged'").fetchall()
        actor = con.execute("SELECT actor FROM review_action").fetchall()
    assert persons == [(1,)]
    assert events == [(decision.decision_id,)]
    assert actor[0][0].startswith("airflow dancu_review")
