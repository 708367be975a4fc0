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
until it is fixed and loaded. Only folders named as batches (`YYYY-MM-DD`,
optionally a suffix: always a valid run id) are batches; anything else in the
inbox is logged and left alone, so it never blocks the batches after it. A
batch's files are read again only when their sizes or times changed.

Params: `inbox` and `warehouse` (required: no default points at a warehouse;
for the schedule, set them as Airflow Variables `dancu_inbox` and
`dancu_warehouse`), `settle_minutes`, `demo` (passed on to `dancu_batch`,
which reads the keys).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, task


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
            None,
            type=["null", "string"],
            title="Inbox",
            description="The folder watched for batch folders (inbox/<batch>/<province>/);"
            " empty: the Airflow Variable dancu_inbox.",
        ),
        "warehouse": Param(
            None,
            type=["null", "string"],
            title="Warehouse",
            description="The warehouse the triggered dancu_batch runs load into;"
            " empty: the Airflow Variable dancu_warehouse.",
        ),
        "settle_minutes": Param(
            10,
            type="number",
            minimum=0,
            title="Settle minutes",
            description="A batch whose files changed less than this many minutes ago waits.",
        ),
        "demo": Param(
            False,
            type="boolean",
            title="Demo keys",
            description="Allow the public demo keys (passed on to dancu_batch).",
        ),
    },
)
def dancu_inbox() -> None:
    """Find the next batch and trigger its run."""

    @task(retries=2, retry_delay=dt.timedelta(seconds=30))
    def next_batch(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from airflow.sdk import Variable
        from airflow.sdk.exceptions import AirflowFailException

        from dancu.inbox import next_batch_to_load, stray_entries

        assert params is not None
        inbox = params.get("inbox") or Variable.get("dancu_inbox", default=None)
        warehouse = params.get("warehouse") or Variable.get("dancu_warehouse", default=None)
        if not inbox or not warehouse:
            raise AirflowFailException(
                "set the params inbox and warehouse (or the Variables dancu_inbox, dancu_warehouse)"
            )
        for name in stray_entries(Path(inbox)):
            print(f"inbox entry {name!r} is not a batch folder (YYYY-MM-DD[-suffix]); left alone")
        found = next_batch_to_load(Path(inbox), Path(warehouse), 60 * params["settle_minutes"])
        if found is None:
            return []
        batch, fingerprint = found
        conf: dict[str, Any] = {"inbox": inbox, "batch": batch.name, "warehouse": warehouse}
        if params["demo"]:
            conf["demo"] = True
        return [{"trigger_run_id": f"batch__{batch.name}__{fingerprint[:16]}", "conf": conf}]

    TriggerDagRunOperator.partial(
        task_id="trigger_batch", trigger_dag_id="dancu_batch", skip_when_already_exists=True
    ).expand_kwargs(next_batch())


dancu_inbox()
