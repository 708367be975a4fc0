"""
# dancu_review: apply reviewers' decisions to the registry now

Reviewers decide pairs in the review workspace (`make review`) or with
`dancu review decide`; a decision in force takes effect when it is applied:
by the workspace's "Apply" button, by `dancu review apply --warehouse W`, by
the next `dancu_batch` run, or by this DAG. Its one task applies every
decision in force that is not applied yet: the persons concerned are merged
or split at once (no batch, nothing scored again), and each PIN event names
the decision and its reviewer.

Params: `warehouse` (where `registry.duckdb` lives; required, no default),
`settings` (a TOML settings file; empty for the defaults) and `demo` (allow
the public demo keys). The keys come from Airflow's secrets backend or the key
files, as for `dancu_batch`. It shares the warehouse with `dancu_batch`: the
task holds the warehouse's writer lock, waiting for a batch that is loading.
Paused when first created: unpause it (or trigger it by hand) to use it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, Param, dag, task

if TYPE_CHECKING:
    from dancu.settings import RunSettings

REGISTRY = Asset("dancu-registry")
_WAIT = 3600.0  # seconds the task waits for another writer (a batch loading)


def _settings(params: dict[str, Any]) -> RunSettings:
    from dancu.settings import settings_for_dag

    return settings_for_dag(params)


@dag(
    dag_id="dancu_review",
    schedule=None,
    start_date=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    doc_md=__doc__,
    tags=["dancu"],
    params={
        "warehouse": Param(
            type="string",
            minLength=1,
            title="Warehouse",
            description="The folder of registry.duckdb whose decisions are applied.",
        ),
        "settings": Param(
            "",
            type="string",
            title="Settings file",
            description="A TOML settings file (key files, matching rules); empty: defaults.",
        ),
        "demo": Param(
            False,
            type="boolean",
            title="Demo keys",
            description="Allow the public demo keys (the bundled samples only).",
        ),
    },
)
def dancu_review() -> None:
    """Wire the one task."""

    @task(outlets=[REGISTRY], retries=2, retry_delay=dt.timedelta(seconds=30))
    def apply_decisions(
        params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        from dancu.stages import apply_decisions, writer_lock

        assert params is not None
        warehouse = Path(params["warehouse"])
        with writer_lock(warehouse, f"dancu_review {run_id}", wait_seconds=_WAIT):
            applied = apply_decisions(
                warehouse, _settings(params), actor=f"airflow dancu_review {run_id}"
            )
        return applied.to_dict()

    apply_decisions()


dancu_review()
