"""
# dancu_batch: one batch of legacy household-register exports into the registry

Runs the same stages as `dancu run`, one Airflow task each, for the batch
folder `inbox/<batch>`:

1. **plan**: list the province folders (unknown folders are rejected into quarantine);
2. **ingest**: one mapped task per province folder: read, standardise and stage as Parquet;
3. **validate_staged**: Great Expectations on the staged records (fails loudly);
4. **match**: the batch's new or changed records against themselves and everyone
   registered (blocking, comparisons, Fellegi-Sunter scores, clusters, reviewers' decisions);
5. **load**: update the persons the batch touched and their PINs, and write
   `registry.duckdb` in one transaction;
6. **quality**: Great Expectations on the registry and the HTML report.

Params: `inbox` (folder holding batch folders), `batch` (the batch folder name),
`warehouse` (where `registry.duckdb` and `report.html` live). A batch already
loaded with exactly the same files is skipped (nothing changes). Runs of this DAG
are serialised (`max_active_runs=1`): batches must load in order. The
`dancu_inbox` DAG triggers a run for each new batch that arrives; a run can also
be triggered by hand with the params.

Retries are safe: every task overwrites its own outputs; `load` is one DuckDB
transaction, and once it has committed, a retried `load` finds the batch's
records already registered unchanged and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, Param, dag, task

_REPO = Path(__file__).resolve().parent.parent
REGISTRY = Asset("dancu-registry")


@dag(
    dag_id="dancu_batch",
    schedule=None,
    start_date=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["dancu"],
    params={
        "inbox": Param(str(_REPO / "data" / "samples" / "inbox"), type="string"),
        "batch": Param("2021-06-15", type="string"),
        "warehouse": Param(str(_REPO / "warehouse"), type="string"),
    },
)
def dancu_batch() -> None:
    """Wire the stages of one batch run."""

    @task
    def plan(params: dict[str, Any] | None = None) -> list[str]:
        from airflow.sdk.exceptions import AirflowSkipException

        from pipelines.run import batch_is_loaded, plan_batch

        assert params is not None
        batch_dir, warehouse = Path(params["inbox"]) / params["batch"], Path(params["warehouse"])
        if batch_is_loaded(batch_dir, warehouse):
            raise AirflowSkipException(
                f"batch {params['batch']} is already loaded with these files"
            )
        return plan_batch(batch_dir, warehouse)

    @task(retries=2, retry_delay=dt.timedelta(seconds=10), map_index_template="{{ province }}")
    def ingest(province: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        from pipelines.ingest import ingest_province

        assert params is not None
        batch_dir = Path(params["inbox"]) / params["batch"]
        staging = Path(params["warehouse"]) / "staging"
        return ingest_province(batch_dir, province, staging).to_dict()

    @task(retries=1, retry_delay=dt.timedelta(seconds=10))
    def validate_staged(
        summaries: list[dict[str, Any]], params: dict[str, Any] | None = None
    ) -> int:
        from pipelines.run import staged_files, staged_records
        from quality.expectations import validate_records

        assert params is not None
        warehouse, batch = Path(params["warehouse"]), params["batch"]
        records = staged_records(warehouse, batch)
        validate_records(records, staged_files(warehouse, batch)).raise_for_failures()
        return records.height

    @task(retries=2, retry_delay=dt.timedelta(seconds=30))
    def match(staged: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
        from pipelines.run import RunSettings, match_batch

        assert params is not None
        return match_batch(Path(params["warehouse"]), params["batch"], RunSettings())

    @task(outlets=[REGISTRY], retries=2, retry_delay=dt.timedelta(seconds=30))
    def load(matched: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        from pipelines.run import RunSettings, register_and_load

        assert params is not None
        started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return register_and_load(Path(params["warehouse"]), params["batch"], RunSettings(), started)

    @task(retries=1, retry_delay=dt.timedelta(seconds=10))
    def quality(loaded: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        from pipelines.run import check_quality

        assert params is not None
        return check_quality(Path(params["warehouse"]), params["batch"])

    summaries = ingest.expand(province=plan())
    # TaskFlow passes XComArgs at parse time and values at run time.
    quality(load(match(validate_staged(summaries))))  # type: ignore[arg-type]


dancu_batch()
