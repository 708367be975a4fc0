"""
# dancu_inbox: start `dancu_batch` for each new batch that arrives in the inbox

Every few minutes, looks for the oldest batch folder under `inbox` that the
registry does not hold with exactly its current files, and triggers a
`dancu_batch` run for it. Batches load in order: the next one is triggered
only once the previous one is loaded. A batch whose files changed less than
`settle_minutes` ago is still arriving and waits for a later check.

The triggered run's id is the batch and its file fingerprint, so a batch is
triggered once per set of files: a re-delivered (changed) batch runs again,
an unchanged one never twice. When a batch run fails, later batches wait
until it is fixed and loaded.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, task

_REPO = Path(__file__).resolve().parent.parent


@dag(
    dag_id="dancu_inbox",
    schedule=dt.timedelta(minutes=5),
    start_date=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    doc_md=__doc__,
    tags=["dancu"],
    params={
        "inbox": Param(
            str(_REPO / "data" / "samples" / "inbox"),
            type="string",
            title="Inbox",
            description="The folder watched for batch folders (inbox/<batch>/<province>/).",
        ),
        "warehouse": Param(
            str(_REPO / "warehouse"),
            type="string",
            title="Warehouse",
            description="The warehouse the triggered dancu_batch runs load into.",
        ),
        "settle_minutes": Param(
            10,
            type="number",
            minimum=0,
            title="Settle minutes",
            description="A batch whose files changed less than this many minutes ago waits.",
        ),
    },
)
def dancu_inbox() -> None:
    """Find the next batch and trigger its run."""

    @task(retries=2, retry_delay=dt.timedelta(seconds=30))
    def next_batch(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from dancu.inbox import next_batch_to_load

        assert params is not None
        found = next_batch_to_load(
            Path(params["inbox"]), Path(params["warehouse"]), 60 * params["settle_minutes"]
        )
        if found is None:
            return []
        batch, fingerprint = found
        conf = {"inbox": params["inbox"], "batch": batch.name, "warehouse": params["warehouse"]}
        return [{"trigger_run_id": f"batch__{batch.name}__{fingerprint[:16]}", "conf": conf}]

    TriggerDagRunOperator.partial(
        task_id="trigger_batch", trigger_dag_id="dancu_batch", skip_when_already_exists=True
    ).expand_kwargs(next_batch())


dancu_inbox()
