"""
# dancu_review: apply reviewers' decisions to the registry now

Reviewers decide pairs in the review workspace (`make review`) or with
`dancu review decide`; a decision in force takes effect when it is applied:
by the workspace's "Apply" button, by `dancu review apply --warehouse W`, by
the next `dancu_batch` run, or by this DAG. Its one task applies every
decision in force that is not applied yet: the persons concerned are merged
or split at once (no batch, nothing scored again), and each PIN event names
the decision and its reviewer.

Params: `warehouse` (where `registry.duckdb` lives) and `settings` (a TOML
settings file; empty for the defaults). It shares the warehouse with
`dancu_batch`; the registry takes one writer at a time, so a run while a
batch loads fails and can be retried. Paused when first created: unpause it
(or trigger it by hand) to use it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, Param, dag, task

_REPO = Path(__file__).resolve().parent.parent
REGISTRY = Asset("dancu-registry")


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
            str(_REPO / "warehouse"),
            type="string",
            title="Warehouse",
            description="The folder of registry.duckdb whose decisions are applied.",
        ),
        "settings": Param(
            "",
            type="string",
            title="Settings file",
            description="A TOML settings file (the PIN key, matching rules); empty: defaults.",
        ),
    },
)
def dancu_review() -> None:
    """Wire the one task."""

    @task(outlets=[REGISTRY], retries=2, retry_delay=dt.timedelta(seconds=30))
    def apply_decisions(
        params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        from dancu.settings import load_settings
        from dancu.stages import apply_decisions

        assert params is not None
        settings = load_settings(Path(params["settings"]) if params.get("settings") else None)
        applied = apply_decisions(
            Path(params["warehouse"]), settings, actor=f"airflow dancu_review {run_id}"
        )
        return applied.to_dict()

    apply_decisions()


dancu_review()
