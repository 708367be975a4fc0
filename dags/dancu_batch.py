"""
# dancu_batch: one batch of legacy household-register exports into the registry

Runs the same stages as `dancu run`, one Airflow task each, for the batch
folder `inbox/<batch>`:

1. **plan**: list the province folders (unknown folders are rejected into quarantine)
   and pack them into groups of at most 64 MB of files;
2. **ingest**: one mapped task per group of province folders (a large province is a
   group of its own): read, standardise and stage as Parquet, province by province;
3. **validate_staged**: Great Expectations on the staged records (fails loudly; one
   log line per suite with the checks passed and failed);
4. **match**: first the reviewers' decisions not yet applied take effect (merges and
   splits whose PIN events name the decision and the reviewer), then the batch's new or
   changed records and everyone registered are prepared for matching, and the candidate
   pairs are cut into partitions (whole blocks each);
   **compare** (one mapped task per partition): its candidate pairs blocked and compared,
   their gamma vectors and pattern counts written; **fit**: the pattern counts added up
   and the Fellegi-Sunter model fitted; **score** (mapped): each partition's pairs scored
   and decided; **cluster**: the kept pairs of every partition clustered (reviewers'
   decisions, registered persons held together). No task holds every candidate pair,
   and the registry is the same whatever the number of partitions;
5. **load**: update the persons the batch touched and their PINs, and write
   `registry.duckdb` in one transaction;
6. **quality**: Great Expectations on the registry and the HTML reports (Vietnamese
   `report.html`, English `report.en.html`).

Each task costs seconds to start (a process, its imports), so the stages are
grouped where the measurement said so: small provinces share an ingest task,
and applying decisions runs in the match task (`dancu_review` applies them alone).

Params (all checked before anything runs; a conf key that is not one of them fails
the run at once): `inbox` (folder holding batch folders, required), `batch` (the batch
folder name: `YYYY-MM-DD`, optionally `-` or `_` and a suffix; required), `warehouse`
(where `registry.duckdb` and `report.html` live; required, no default), `settings` (a
TOML settings file, see `dancu/defaults.toml`; empty for the defaults), `demo` (allow
the public demo keys; false), `ingest_task_bytes` (bytes of province files one ingest task
takes on; 64 MB; 1 gives every province its own task, spread over the workers),
`match_partitions` (mapped compare and score tasks; 0, the default, gives one per million
records in scope). The keys
come from Airflow's secrets backend (Variables
`dancu_secret_pin_key`, `dancu_secret_audit_key`), else from
the key files of the environment or the settings (see `dancu/keys.py`); without them the
run fails in `plan`. A batch already loaded with exactly the same files is skipped
(nothing changes). Every writing task holds the warehouse lock (the province ingests
and the matching partitions share it), and every task after `plan` checks that the
batch's plan is this run's. Runs of this DAG are serialised (`max_active_runs=1`):
batches must load in order. The `dancu_inbox` DAG triggers a run for each new batch
that arrives; a run can also be triggered by hand with the params. The DAG is paused
when first created: unpause it (the toggle in the UI, or `airflow dags unpause
dancu_batch`) before its runs start.

Retries are safe: every task overwrites its own outputs; `load` is one DuckDB
transaction, and once it has committed, a retried `load` finds the batch's
records already registered unchanged and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, Param, dag, task

if TYPE_CHECKING:
    from dancu.settings import RunSettings

REGISTRY = Asset("dancu-registry")
#: The batch-name pattern of pipelines/warehouse/paths.py (checked again there).
BATCH_PATTERN = r"^\d{4}-\d{2}-\d{2}(?:[-_][A-Za-z0-9]{1,40})?$"
CONF_KEYS = frozenset(
    {"inbox", "batch", "warehouse", "settings", "demo", "ingest_task_bytes", "match_partitions"}
)
#: dancu.stages.INGEST_TASK_BYTES (not imported here: the DAG file is parsed often).
INGEST_TASK_BYTES = 64 * 2**20
_WAIT = 3600.0  # seconds a task waits for another writer (the CLI, a reviewer)


def _settings(params: dict[str, Any]) -> RunSettings:
    from dancu.settings import settings_for_dag

    return settings_for_dag(params)


def _partition_step(step: str, part: int, params: dict[str, Any] | None, run_id: str | None) -> int:
    """Run ``dancu.stages.match_<step>`` on one partition, holding the lock shared."""
    from dancu import stages

    assert params is not None
    warehouse, batch = Path(params["warehouse"]), params["batch"]
    command = f"dancu_batch {step} {batch} part {part}"
    with stages.writer_lock(warehouse, command, shared=True, wait_seconds=_WAIT):
        run = getattr(stages, f"match_{step}")
        return int(run(warehouse, batch, _settings(params), str(run_id), part))


@dag(
    dag_id="dancu_batch",
    schedule=None,
    start_date=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    doc_md=__doc__,
    tags=["dancu"],
    params={
        "inbox": Param(
            type="string",
            minLength=1,
            title="Inbox",
            description="The folder that holds the batch folders (inbox/<batch>/<province>/).",
        ),
        "batch": Param(
            type="string",
            pattern=BATCH_PATTERN,
            title="Batch",
            description="The batch folder's name under the inbox: YYYY-MM-DD, optionally"
            " - or _ and a suffix (e.g. 2021-06-15).",
        ),
        "warehouse": Param(
            type="string",
            minLength=1,
            title="Warehouse",
            description="The folder of registry.duckdb, the reports and the staging area.",
        ),
        "settings": Param(
            "",
            type="string",
            title="Settings file",
            description="A TOML settings file (every key: dancu/defaults.toml); empty: defaults.",
        ),
        "demo": Param(
            False,
            type="boolean",
            title="Demo keys",
            description="Allow the public demo keys (the bundled samples only).",
        ),
        "ingest_task_bytes": Param(
            INGEST_TASK_BYTES,
            type="integer",
            minimum=1,
            title="Ingest task size",
            description="Bytes of province files one ingest task takes on: smaller provinces"
            " share a task, a larger one has its own (1: one task per province, to spread"
            " the provinces over the workers).",
        ),
        "match_partitions": Param(
            0,
            type="integer",
            minimum=0,
            title="Matching partitions",
            description="Mapped tasks the candidate pairs are compared and scored in (0: one"
            " per [matching.limits] records_per_partition records in scope, 1,000,000 by"
            " default). The registry is the same for any number.",
        ),
    },
)
def dancu_batch() -> None:
    """Wire the stages of one batch run."""

    @task
    def plan(
        params: dict[str, Any] | None = None, dag_run: Any = None, run_id: str | None = None
    ) -> list[list[str]]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from dancu.stages import plan, writer_lock

        assert params is not None
        unknown = sorted(set((dag_run.conf if dag_run is not None else None) or {}) - CONF_KEYS)
        if unknown:
            raise AirflowFailException(
                f"unknown conf key(s) {unknown}: the params are {sorted(CONF_KEYS)}"
            )
        batch_dir, warehouse = Path(params["inbox"]) / params["batch"], Path(params["warehouse"])
        with writer_lock(warehouse, f"dancu_batch plan {params['batch']}", wait_seconds=_WAIT):
            planned = plan(batch_dir, warehouse, _settings(params), token=str(run_id))
        if planned.already_loaded:
            raise AirflowSkipException(
                f"batch {params['batch']} is already loaded with these files"
            )
        task_bytes = int(params.get("ingest_task_bytes") or INGEST_TASK_BYTES)
        if task_bytes == INGEST_TASK_BYTES:
            return planned.groups
        from dancu.stages import group_provinces

        return group_provinces(batch_dir, planned.provinces, task_bytes)

    @task(
        retries=2,
        retry_delay=dt.timedelta(seconds=10),
        map_index_template="{{ provinces | join(' ') | truncate(60) }}",
    )
    def ingest(
        provinces: list[str], params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> list[dict[str, Any]]:
        from dancu.stages import ingest_group, writer_lock

        assert params is not None
        batch_dir = Path(params["inbox"]) / params["batch"]
        warehouse = Path(params["warehouse"])
        command = f"dancu_batch ingest {params['batch']} {' '.join(provinces)}"
        with writer_lock(warehouse, command, shared=True, wait_seconds=_WAIT):
            done = ingest_group(batch_dir, provinces, warehouse, _settings(params), str(run_id))
        return [summary.to_dict() for summary in done]

    @task(retries=1, retry_delay=dt.timedelta(seconds=10))
    def validate_staged(
        summaries: list[list[dict[str, Any]]],
        params: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        from dancu.stages import validate_staged, writer_lock

        assert params is not None
        warehouse = Path(params["warehouse"])
        # It writes the records' report into staging (check_quality reuses it).
        command = f"dancu_batch validate_staged {params['batch']}"
        with writer_lock(warehouse, command, shared=True, wait_seconds=_WAIT):
            summary = validate_staged(warehouse, params["batch"], str(run_id))
        return summary.to_dict()

    @task(retries=2, retry_delay=dt.timedelta(seconds=30))
    def match(
        staged: dict[str, Any], params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> list[int]:
        from dancu.stages import apply_decisions, match_start, writer_lock

        assert params is not None
        warehouse, batch, settings = Path(params["warehouse"]), params["batch"], _settings(params)
        with writer_lock(warehouse, f"dancu_batch match {batch}", wait_seconds=_WAIT):
            apply_decisions(warehouse, settings, actor=f"batch {batch}", batch_id=batch)
            parts = match_start(
                warehouse, batch, settings, str(run_id), int(params.get("match_partitions") or 0)
            )
        return list(range(parts))

    @task(retries=2, retry_delay=dt.timedelta(seconds=30), map_index_template="{{ part }}")
    def compare(part: int, params: dict[str, Any] | None = None, run_id: str | None = None) -> int:
        return _partition_step("compare", part, params, run_id)

    @task(retries=2, retry_delay=dt.timedelta(seconds=30))
    def fit(
        compared: list[int], params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> list[int]:
        from dancu.stages import match_fit, writer_lock

        assert params is not None
        warehouse, batch = Path(params["warehouse"]), params["batch"]
        with writer_lock(warehouse, f"dancu_batch fit {batch}", shared=True, wait_seconds=_WAIT):
            match_fit(warehouse, batch, _settings(params), str(run_id))
        return list(range(len(compared)))

    @task(retries=2, retry_delay=dt.timedelta(seconds=30), map_index_template="{{ part }}")
    def score(part: int, params: dict[str, Any] | None = None, run_id: str | None = None) -> int:
        return _partition_step("score", part, params, run_id)

    @task(retries=2, retry_delay=dt.timedelta(seconds=30))
    def cluster(
        kept: list[int], params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        from dancu.stages import match_finish, writer_lock

        assert params is not None
        warehouse, batch = Path(params["warehouse"]), params["batch"]
        command = f"dancu_batch cluster {batch}"
        with writer_lock(warehouse, command, shared=True, wait_seconds=_WAIT):
            summary = match_finish(warehouse, batch, _settings(params), str(run_id))
        return summary.to_dict()

    @task(outlets=[REGISTRY], retries=2, retry_delay=dt.timedelta(seconds=30))
    def load(
        matched: dict[str, Any], params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        from dancu.stages import register_and_load, writer_lock

        assert params is not None
        started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        warehouse = Path(params["warehouse"])
        with writer_lock(warehouse, f"dancu_batch load {params['batch']}", wait_seconds=_WAIT):
            return register_and_load(
                warehouse, params["batch"], _settings(params), started, str(run_id)
            )

    @task(retries=1, retry_delay=dt.timedelta(seconds=10))
    def quality(
        loaded: dict[str, Any], params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        from dancu.stages import check_quality, writer_lock

        assert params is not None
        warehouse = Path(params["warehouse"])
        with writer_lock(warehouse, f"dancu_batch quality {params['batch']}", wait_seconds=_WAIT):
            summary = check_quality(warehouse, params["batch"], _settings(params), str(run_id))
        return summary.to_dict()

    summaries = ingest.expand(provinces=plan())
    # TaskFlow passes XComArgs at parse time and values at run time.
    parts = match(validate_staged(summaries))  # type: ignore[arg-type]
    scored = score.expand(part=fit(compare.expand(part=parts)))  # type: ignore[arg-type]
    quality(load(cluster(scored)))  # type: ignore[arg-type]


dancu_batch()
