"""One pipeline run, stage by stage: one function per DAG task, each with a small summary.

A run of a batch is: plan (which province folders), ingest each province
(``pipelines.ingest``), validate the staged records (``quality``), match them
with the registered ones (``matching``), update the PIN register and load the
registry (``pipelines.register``, ``pipelines.warehouse``), then validate the
registry and write the quality report (``quality``). Each stage reads and
writes files in the warehouse and returns a small typed summary, so Airflow
tasks can run them apart; ``run_batch`` runs them all in this process.

Every writer holds the warehouse lock (``writer_lock``): ``run_batch`` for the
whole run, each DAG task for its stage (the province ingests share it). A run
is fenced by a token that ``plan`` records in the batch's staging: a stage of
another run (which planned the same batch again since) refuses to go on, so
two runs of one batch can never mix their parts. A batch is loaded only when
every planned province is staged, and is marked loaded in the load's own
transaction, after the registry's must-hold checks have passed on the result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from dancu.inbox import batch_fingerprint, batch_is_loaded
from dancu.keys import Keys
from dancu.settings import RunSettings
from dancu.summary import RunSummary
from domain.schema import FILE_COUNT_SCHEMA, LINK_SCHEMA, QUARANTINE_SCHEMA, RECORD_SCHEMA
from domain.vntext import CONTROL_CHARACTERS
from matching import FITTED
from pipelines.ingest import (
    IngestSummary,
    UnknownProvinceError,
    check_province_folder,
    ingest_provinces,
    rejected_folder,
)
from pipelines.register import (
    Scope,
    affected_records,
    batch_scope,
    name_decisions,
    update_register,
)
from pipelines.register.serials import PIN_SCHEME
from pipelines.warehouse import (
    ANALYST_FILE,
    REGISTRY_FILE,
    REPORT_FILE,
    BatchTables,
    check_batch_name,
    connect,
    load_batch,
    load_review,
    match_link_rows,
    private_dir,
    private_files,
    read_staged,
    rejected_part,
    staging_dir,
    staging_part,
    warehouse_lock,
    write_parquet_atomic,
)
from pipelines.warehouse.analyst import write_analyst
from pipelines.warehouse.audit import anchor_line, append_anchor, chain
from pipelines.warehouse.paths import matching_keys_dir

if TYPE_CHECKING:
    from matching import LinkResult, MatchModel
    from matching.steps import LinkWork

from pipelines.warehouse.registry import (
    batch_model,
    check_keys,
    fitted_models_before,
    pending_decisions,
    person_records,
    read_decisions,
    read_previous,
    record_clusters,
    registered_records,
    stored_links,
)


class RunFencedError(RuntimeError):
    """The batch was planned again by another run since this run planned it."""


class IncompleteBatchError(RuntimeError):
    """A planned province of the batch was not staged: the batch is not loaded."""


@contextlib.contextmanager
def writer_lock(
    warehouse: Path, command: str, *, shared: bool = False, wait_seconds: float = 0.0
) -> Iterator[None]:
    """Hold the warehouse's writer lock (see ``pipelines.warehouse.lock``); files private."""
    private_files()
    with warehouse_lock(warehouse, command, wait_seconds, shared=shared):
        yield


def anchor_audit(warehouse: Path, con: Any, keys: Keys) -> None:
    """Chain what ``con`` wrote and append the chains' heads to the warehouse's anchor file.

    For writers outside a batch's load (reviewers' decisions and
    confirmations), so a deleted last decision is caught like a deleted last
    event (see ``pipelines.warehouse.audit``).
    """
    heads = chain(con, keys.audit)
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    append_anchor(warehouse, anchor_line(keys.audit, heads, at))


def key_checks(keys: Keys) -> dict[str, str]:
    """What the registry records of a run's keys: check values and the serial scheme."""
    return {
        "pin_key_check": keys.pin_check,
        "audit_key_check": keys.audit_check,
        "pin_scheme": PIN_SCHEME,
    }


def _plan_file(warehouse: Path, batch_id: str) -> Path:
    return staging_dir(warehouse, batch_id) / "plan.json"


def _planned(warehouse: Path, batch_id: str, token: str) -> dict[str, Any]:
    """The batch's plan, when this run (``token``) made it; else refuse."""
    path = _plan_file(warehouse, batch_id)
    if not path.exists():
        raise RunFencedError(f"batch {batch_id} has no plan in staging: run plan first")
    found = json.loads(path.read_text())
    if found.get("token") != token:
        raise RunFencedError(
            f"batch {batch_id} was planned again by another run since this one planned it; "
            "this run stops (it would mix its parts with the other run's)"
        )
    return dict(found)


@dataclass(frozen=True)
class ValidationSummary:
    """What a Great Expectations suite found (it raised if a must-hold check failed)."""

    suite: str
    checks: int
    failed: int
    records: int

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as plain data (for XCom)."""
        return asdict(self)


@dataclass(frozen=True)
class MatchSummary:
    """What matching found for a batch."""

    records: int
    records_matched: int
    pairs: int  # candidate pairs compared
    pairs_by_decision: dict[str, int] = field(default_factory=dict)
    clusters: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # matching's steps
    model_source: str = FITTED  # fitted, registry:<batch>, default, or none
    model_note: str = ""  # why this batch's own fit was not used

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as one flat dict (``pairs_link``, ``pairs_review``, ...)."""
        return {
            "records": self.records,
            "records_matched": self.records_matched,
            "pairs": self.pairs,
            **{f"pairs_{d}": n for d, n in self.pairs_by_decision.items()},
            "clusters": self.clusters,
            "model_source": self.model_source,
            "model_note": self.model_note,
        }


@dataclass(frozen=True)
class QualitySummary:
    """The report written and the expectations checked on a batch."""

    report: str
    expectations: int

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as plain data (for XCom)."""
        return asdict(self)


@dataclass(frozen=True)
class ApplySummary:
    """What applying reviewers' decisions changed."""

    decisions: int  # decisions applied (in force, not applied before)
    events: dict[str, int] = field(default_factory=dict)  # pin_events written, by kind
    batch_id: str = ""  # the batch_id of those events

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as plain data (for XCom)."""
        return asdict(self)

    def to_text(self) -> str:
        """One line for a user."""
        if not self.decisions:
            return "no decision waits to be applied"
        done = ", ".join(f"{n} {kind}" for kind, n in sorted(self.events.items())) or "no change"
        return f"applied {self.decisions} decision(s) ({self.batch_id}): PIN events {done}"


#: Input bytes one Airflow ingest task takes on: small provinces share a task,
#: since starting a task costs seconds while a small province takes a fraction of one.
INGEST_TASK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Plan:
    """The province folders of a batch, or that it is already loaded with these files.

    Attributes:
        batch_id: The batch (its folder's name).
        provinces: Its province folders, in order.
        already_loaded: The registry holds the batch with exactly these files.
        groups: The provinces in groups of at most ``INGEST_TASK_BYTES`` of
            files (a larger province alone): one Airflow ingest task each.
    """

    batch_id: str
    provinces: list[str]
    already_loaded: bool = False
    groups: list[list[str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as plain data (for XCom)."""
        return asdict(self)


def plan(batch_dir: Path, warehouse: Path, settings: RunSettings, token: str | None = None) -> Plan:
    """Plan a batch: its province folders, or nothing when it is already loaded unchanged.

    A batch loaded with exactly these files is planned again only when forced.
    Checks first that the batch is named as batches are, and that this run's
    keys are the registry's (a run with other keys never starts).

    Args:
        batch_dir: ``inbox/<batch>``.
        warehouse: the warehouse.
        settings: the run's settings (with its keys).
        token: this run's fencing token (a new one when None); later stages pass it.
    """
    private_files()
    keys = settings.require_keys()
    batch_id = check_batch_name(batch_dir.name)
    registry = warehouse / REGISTRY_FILE
    if registry.exists():
        with connect(registry, read_only=True) as con:
            check_keys(con, key_checks(keys), record=False)
    if not settings.force and batch_is_loaded(batch_dir, warehouse):
        return Plan(batch_id, [], already_loaded=True)
    provinces = plan_batch(batch_dir, warehouse, token or secrets.token_hex(16))
    return Plan(batch_id, provinces, groups=group_provinces(batch_dir, provinces))


def group_provinces(
    batch_dir: Path, provinces: list[str], max_bytes: int = INGEST_TASK_BYTES
) -> list[list[str]]:
    """The provinces in order, packed into groups of at most ``max_bytes`` of files.

    A province larger than ``max_bytes`` is a group of its own; so the large
    provinces of a national batch still get a task each, and the many small
    ones of a small batch share one.
    """
    groups: list[list[str]] = []
    size = 0
    for code in provinces:
        files = _folder_bytes(batch_dir / code)
        if not groups or size + files > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(code)
        size += files
    return groups


def _folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed: ingest quarantines them)."""
    return sum(
        os.lstat(os.path.join(root, n)).st_size
        for root, _dirs, names in os.walk(folder)
        for n in names
    )


def plan_batch(batch_dir: Path, warehouse: Path, token: str = "") -> list[str]:
    """Start a batch: clear its staging area, return its province folders.

    Folders that are not province codes, files and symbolic links (never
    followed) are rejected: each is recorded as one quarantined entry, and
    nothing from it is loaded. The plan (provinces and ``token``) is written
    to the batch's staging, so later stages can tell their run's plan.
    """
    if batch_dir.is_symlink() or not batch_dir.is_dir():
        raise FileNotFoundError(f"batch folder '{batch_dir}' does not exist (or is a link)")
    batch_id = check_batch_name(batch_dir.name)
    staging = warehouse / "staging"
    private_dir(warehouse)
    shutil.rmtree(staging_dir(warehouse, batch_id), ignore_errors=True)
    private_dir(staging_dir(warehouse, batch_id))
    provinces: list[str] = []
    for folder in sorted(p for p in batch_dir.iterdir() if not p.name.startswith(".")):
        try:
            if folder.is_symlink():
                raise UnknownProvinceError(
                    f"'{folder.name}' is a symbolic link; links are never followed, "
                    "nothing from it was loaded"
                )
            if not folder.is_dir():
                raise UnknownProvinceError(
                    f"'{folder.name}' is a file, not a province folder; it was not loaded"
                )
            provinces.append(check_province_folder(folder.name))
        except UnknownProvinceError as err:
            _write_rejected(staging, batch_id, folder.name, str(err))
    plan_file = _plan_file(warehouse, batch_id)
    plan_file.write_text(
        json.dumps(
            {"token": token, "provinces": provinces, "fingerprint": batch_fingerprint(batch_dir)}
        )
    )
    return provinces


def _write_rejected(staging: Path, batch_id: str, name: str, reason: str) -> None:
    """Stage a rejected folder as one quarantined entry (read 1, quarantined 1)."""
    part = rejected_part(name)
    quarantine, files = rejected_folder(batch_id, re.sub(CONTROL_CHARACTERS, "?", name), reason)
    write_parquet_atomic(quarantine, staging_part(staging, batch_id, "quarantine", part))
    write_parquet_atomic(files, staging_part(staging, batch_id, "files", part))
    write_parquet_atomic(
        pl.DataFrame(schema=RECORD_SCHEMA), staging_part(staging, batch_id, "records", part)
    )


def ingest(
    batch_dir: Path, province_code: str, warehouse: Path, settings: RunSettings, token: str
) -> IngestSummary:
    """Ingest one province folder of a batch into the warehouse's staging (this run's plan)."""
    return ingest_group(batch_dir, [province_code], warehouse, settings, token)[0]


def ingest_group(
    batch_dir: Path, provinces: list[str], warehouse: Path, settings: RunSettings, token: str
) -> list[IngestSummary]:
    """Ingest several province folders of this run's plan (one Airflow task), in their order.

    Their person rows are standardised together (``ingest_provinces``): the
    staging is the same as one province at a time.
    """
    private_files()
    planned = _planned(warehouse, check_batch_name(batch_dir.name), token)
    for code in provinces:
        if code not in planned["provinces"]:
            raise ValueError(f"province {code!r} is not in the batch's plan")
    return ingest_provinces(batch_dir, provinces, warehouse / "staging", settings.read_limits)


def staged_records(warehouse: Path, batch_id: str) -> pl.DataFrame:
    """The standardised records ingest staged for a batch."""
    return read_staged(warehouse / "staging", batch_id, "records", RECORD_SCHEMA)


def staged_files(warehouse: Path, batch_id: str) -> pl.DataFrame:
    """Ingest's per-file counts staged for a batch (rows read = loaded + quarantined + skipped)."""
    return read_staged(warehouse / "staging", batch_id, "files", FILE_COUNT_SCHEMA)


def validate_staged(warehouse: Path, batch_id: str, token: str | None = None) -> ValidationSummary:
    """Great Expectations on the staged records and counts.

    The report is kept in the batch's staging (``validation-records.json``, a
    private file), where ``check_quality`` takes it for the HTML report: the
    staged records do not change between the two. With this run's ``token``
    the stage first checks that the batch's plan is this run's.

    Raises:
        quality.expectations.QualityError: a must-hold expectation failed.
    """
    from quality.expectations import validate_records, write_validation_json

    private_files()
    if token is not None:
        _planned(warehouse, batch_id, token)
    records = staged_records(warehouse, batch_id)
    report = validate_records(records, staged_files(warehouse, batch_id))
    write_validation_json(report, _validation_file(warehouse, batch_id, report.suite_name))
    report.raise_for_failures()
    failed = sum(1 for r in report.results if not r.success)
    return ValidationSummary(report.suite_name, len(report.results), failed, records.height)


def _validation_file(warehouse: Path, batch_id: str, suite: str) -> Path:
    return staging_dir(warehouse, batch_id) / f"validation-{suite}.json"


def _match_dir(warehouse: Path, batch_id: str) -> Path:
    return staging_dir(warehouse, batch_id) / "match"


def _unmatched_file(warehouse: Path, batch_id: str) -> Path:
    """Written by ``match_start`` when the batch needed no matching (its summary)."""
    return _match_dir(warehouse, batch_id) / "unmatched.json"


def match_start(
    warehouse: Path, batch_id: str, settings: RunSettings, token: str, partitions: int = 1
) -> int:
    """Prepare the batch's matching; return how many partitions to compare and score.

    The records in scope (a first batch: its own; later: the batch's new or
    changed records with everyone registered) are prepared into the work
    folder ``staging/<batch>/match/work`` (``matching.steps``). Incremental:
    only pairs with at least one record of this batch are compared;
    registered persons are held together as they are (unless a cannot-link
    rule or a reviewer's decision now separates them), and every reviewer's
    decision is applied. ``partitions`` 0 chooses one per
    ``[matching.limits] records_per_partition`` records in scope.

    A batch with no new or changed record is not matched: its output is
    written here, and the later steps do nothing (it still returns 1, so
    that the DAG's mapped steps have one task each to run).
    """
    work = _start(warehouse, batch_id, settings, token, partitions)
    return 1 if work is None else work.partitions


def _start(
    warehouse: Path, batch_id: str, settings: RunSettings, token: str, partitions: int
) -> LinkWork | None:
    """``match_start``'s work: the prepared work folder, or None when nothing is matched."""
    from matching import default_model
    from matching.keystore import KeyStore
    from matching.steps import LinkWork

    private_files()
    _planned(warehouse, batch_id, token)
    new = staged_records(warehouse, batch_id)
    registry = warehouse / REGISTRY_FILE
    out = _match_dir(warehouse, batch_id)
    _unmatched_file(warehouse, batch_id).unlink(missing_ok=True)
    per_partition = settings.match.limits.records_per_partition
    keys = KeyStore(matching_keys_dir(warehouse))

    def start(records: pl.DataFrame, **link: Any) -> LinkWork:
        parts = partitions or max(1, -(-records.height // per_partition))
        return LinkWork.start(
            out / "work", records, settings.match, partitions=parts, keys=keys, **link
        )

    if not registry.exists():
        return start(new, fallback=[default_model()])
    with connect(registry, read_only=True) as con:
        scope = batch_scope(registered_records(con), new)
        prior = record_clusters(con)
        decisions = read_decisions(con)
        model_before = batch_model(con, batch_id)
        accepted = last_accepted_model(fitted_models_before(con, batch_id))
    # A changed record is judged afresh, not held to the person it had.
    prior = prior.join(scope.changed.select("record_key"), on="record_key", how="anti")
    if scope.changed.is_empty():
        # Nothing new to learn from: everyone stays as registered.
        model = model_before if model_before is not None else '{"fitted": false}'
        summary = _write_unmatched(out, prior, model, scope)
        shutil.rmtree(out / "work", ignore_errors=True)
        _unmatched_file(warehouse, batch_id).write_text(json.dumps(asdict(summary), sort_keys=True))
        return None
    return start(
        scope.records,
        new_keys=scope.changed["record_key"],
        prior_clusters=prior,
        decisions=decisions,
        fallback=[*accepted, default_model()],
    )


def _opened(warehouse: Path, batch_id: str, settings: RunSettings, token: str) -> LinkWork | None:
    """A later matching step's work folder (this run's), or None when nothing is matched."""
    from matching.steps import LinkWork

    private_files()
    _planned(warehouse, batch_id, token)
    if _unmatched_file(warehouse, batch_id).exists():
        return None
    return LinkWork(_match_dir(warehouse, batch_id) / "work", settings.match)


def match_compare(
    warehouse: Path, batch_id: str, settings: RunSettings, token: str, part: int
) -> int:
    """Block and compare one partition's candidate pairs; return how many."""
    work = _opened(warehouse, batch_id, settings, token)
    return 0 if work is None else work.compare(part)


def match_fit(warehouse: Path, batch_id: str, settings: RunSettings, token: str) -> str:
    """Fit the model on every partition's pattern counts; return where its m came from."""
    work = _opened(warehouse, batch_id, settings, token)
    return "none" if work is None else work.fit().source


def match_score(
    warehouse: Path, batch_id: str, settings: RunSettings, token: str, part: int
) -> int:
    """Score and decide one partition's pairs; return how many are kept."""
    work = _opened(warehouse, batch_id, settings, token)
    return 0 if work is None else work.score(part)


def match_finish(warehouse: Path, batch_id: str, settings: RunSettings, token: str) -> MatchSummary:
    """Cluster over every partition's kept pairs; write the match output; remove the work."""
    work = _opened(warehouse, batch_id, settings, token)
    if work is None:
        return MatchSummary(**json.loads(_unmatched_file(warehouse, batch_id).read_text()))
    return _finish(work, warehouse, batch_id)


def _finish(work: LinkWork, warehouse: Path, batch_id: str) -> MatchSummary:
    summary = _write_match(_match_dir(warehouse, batch_id), work.finish(), batch_id)
    shutil.rmtree(work.folder)
    return summary


def match_batch(warehouse: Path, batch_id: str, settings: RunSettings, token: str) -> MatchSummary:
    """Link the batch's records with each other and with everyone registered.

    The steps of ``match_start`` … ``match_finish`` in this process, in one
    partition, keeping the prepared records in memory between them.
    """
    work = _start(warehouse, batch_id, settings, token, partitions=1)
    if work is None:
        return match_finish(warehouse, batch_id, settings, token)
    work.compare(0)
    work.fit()
    work.score(0)
    return _finish(work, warehouse, batch_id)


def last_accepted_model(stored: list[tuple[str, str]]) -> list[MatchModel]:
    """The model of the latest other batch whose run fitted one on its own records.

    ``stored`` holds (batch, model JSON), the latest run first. A batch that
    cannot fit a model passing its self-check falls back on it (source
    ``registry:<batch_id>``); an empty list when there is none.
    """
    from matching import MatchModel

    for other, parameters in stored:
        data = json.loads(parameters)
        if "comparisons" in data and data.get("source", FITTED) == FITTED:
            model = MatchModel.from_dict(data)
            return [dataclasses.replace(model, source=f"registry:{other}")]
    return []


def model_source(model_json: str) -> str:
    """Where a stored model's m came from (``none`` when the batch fitted no model)."""
    data = json.loads(model_json)
    return str(data.get("source", FITTED)) if "comparisons" in data else "none"


def _write_match(out: Path, result: LinkResult, batch_id: str) -> MatchSummary:
    write_parquet_atomic(match_link_rows(result.pairs, batch_id), out / "pairs.parquet")
    write_parquet_atomic(result.clusters.sort("record_key"), out / "clusters.parquet")
    (out / "model.json").write_text(json.dumps(result.model.to_dict(), sort_keys=True, indent=1))
    return MatchSummary(
        records=result.stats["records"],
        records_matched=result.stats["new_records"],
        # Counted over all candidates (result.pairs keeps links, reviews and rule decisions).
        pairs=result.stats["candidate_pairs"],
        pairs_by_decision=dict(result.stats["decisions"]),
        clusters=int(result.clusters["cluster_id"].n_unique()),
        seconds=dict(result.stats["seconds"]),
        model_source=result.model.source,
        model_note=result.model.note,
    )


def _write_unmatched(out: Path, prior: pl.DataFrame, model: str, scope: Scope) -> MatchSummary:
    """The match output of a batch that brings no new or changed record."""
    write_parquet_atomic(pl.DataFrame(schema=LINK_SCHEMA), out / "pairs.parquet")
    write_parquet_atomic(prior.sort("record_key"), out / "clusters.parquet")
    (out / "model.json").write_text(model)
    return MatchSummary(
        records=scope.records.height,
        records_matched=0,
        pairs=0,
        clusters=int(prior["cluster_id"].n_unique()),
        model_source=model_source(model),
    )


def register_and_load(
    warehouse: Path, batch_id: str, settings: RunSettings, started_at: dt.datetime, token: str
) -> dict[str, int]:
    """Update the PIN register from the match and load the batch in one transaction.

    The batch is loaded only when every province of its plan is staged. Inside
    the transaction, before COMMIT, the registry's must-hold expectations run
    on the result (a failure rolls the load back and the batch stays unloaded).

    Returns:
        The run's counts (rows read, loaded, quarantined, skipped; persons, PINs).

    Raises:
        IncompleteBatchError: a planned province has no staged parts.
        quality.expectations.QualityError: the loaded registry would break a must-hold rule.
    """
    from quality.expectations import validate_registry

    private_files()
    keys = settings.require_keys()
    planned = _planned(warehouse, batch_id, token)
    staging = warehouse / "staging"
    missing = [
        code
        for code in planned["provinces"]
        for table in ("records", "quarantine", "files")
        if not staging_part(staging, batch_id, table, code).exists()
    ]
    if missing:
        raise IncompleteBatchError(
            f"batch {batch_id}: province(s) {', '.join(sorted(set(missing)))} not staged; "
            "the batch is not loaded (run its ingest again)"
        )
    new = staged_records(warehouse, batch_id)
    match_dir = _match_dir(warehouse, batch_id)
    clusters = pl.read_parquet(match_dir / "clusters.parquet")

    def before_commit(con: Any) -> None:
        validate_registry(con).raise_for_failures()

    with connect(warehouse / REGISTRY_FILE) as con:
        scope = batch_scope(registered_records(con), new)
        previous = read_previous(con)
        # Only persons the batch touched are re-decided; everyone else stays as is.
        touched = affected_records(clusters, previous.record_person, scope.changed["record_key"])
        update = update_register(
            scope.records.join(touched, on="record_key", how="semi"),
            clusters.join(touched, on="record_key", how="semi"),
            previous.restricted_to(touched),
            batch_id,
            keys.pin,
        )
        tables = BatchTables(
            batch_id=batch_id,
            records=scope.fresh,
            quarantine=read_staged(staging, batch_id, "quarantine", QUARANTINE_SCHEMA),
            files=read_staged(staging, batch_id, "files", FILE_COUNT_SCHEMA),
            pairs=pl.read_parquet(match_dir / "pairs.parquet"),
            model_json=(match_dir / "model.json").read_text(),
            model_source=model_source((match_dir / "model.json").read_text()),
            fingerprint=str(planned["fingerprint"]),
        )
        run_id = _run_id(batch_id, started_at)
        counts, heads = load_batch(
            con,
            tables,
            update,
            started_at,
            run_id,
            key_checks=key_checks(keys),
            audit_key=keys.audit,
            before_commit=before_commit,
        )
        write_analyst(con, warehouse / ANALYST_FILE, keys.pseudonym)
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    append_anchor(warehouse, anchor_line(keys.audit, heads, at))
    return counts


def _run_id(batch_id: str, started_at: dt.datetime) -> str:
    stamp = started_at.strftime("%Y%m%dT%H%M%S%f")
    return f"{batch_id}/{stamp}-{hashlib.blake2b(stamp.encode(), digest_size=3).hexdigest()}"


def check_quality(
    warehouse: Path, batch_id: str, settings: RunSettings, token: str
) -> QualitySummary:
    """Validate the registry; write the HTML reports (vi, en) with both validations; tidy staging.

    The staged records' validation is the one ``validate_staged`` kept (it
    is run again only when that file is missing). The registry's must-hold
    checks already ran inside the load; here they are reported. Once the
    report is written the batch's staging (plain copies of its records) is
    removed, unless the settings keep it.

    Raises:
        quality.expectations.QualityError: a must-hold expectation failed
            (after the report is written, so reviewers can see which).
    """
    from quality.expectations import (
        read_validation_json,
        validate_records,
        validate_registry,
        write_validation_json,
    )
    from quality.report import write_report

    private_files()
    _planned(warehouse, batch_id, token)
    kept = _validation_file(warehouse, batch_id, "records")
    records_report = (
        read_validation_json(kept)
        if kept.exists()
        else validate_records(
            staged_records(warehouse, batch_id), staged_files(warehouse, batch_id)
        )
    )
    with connect(warehouse / REGISTRY_FILE, read_only=True) as con:
        registry_report = validate_registry(con)
        reports = [records_report, registry_report]
        thresholds = settings.match.thresholds
        report = write_report(
            con,
            warehouse / REPORT_FILE,
            reports,
            thresholds={
                "link": thresholds.link,
                "review": thresholds.review,
                "bridge": thresholds.bridge,
            },
        )
    for r in reports:
        write_validation_json(r, _validation_file(warehouse, batch_id, r.suite_name))
    for r in reports:
        r.raise_for_failures()
    if not settings.retention.keep_staging:
        shutil.rmtree(staging_dir(warehouse, batch_id), ignore_errors=True)
    return QualitySummary(str(report), sum(len(r.results) for r in reports))


def apply_decisions(
    warehouse: Path, settings: RunSettings, *, actor: str, batch_id: str | None = None
) -> ApplySummary:
    """Apply the reviewers' decisions in force that are not applied yet, now.

    The persons that hold a record of such a decision are clustered again
    under every decision in force (``matching.reviewed_clusters``: the same
    rules as a batch), their persons and PINs updated (``update_register``:
    merges, splits, and PINs re-issued when a merge corrects a sex or a
    year) and written in one transaction. Each event names the decision and
    its reviewer. Nothing else is matched or scored again.

    Args:
        warehouse: The warehouse folder.
        settings: The run's settings (matching rules, keys).
        actor: Who applies them: the user, or the batch (recorded in ``review_action``).
        batch_id: The ``batch_id`` of the events: the batch that applies them
            before loading, else ``review:<last decision id>``.

    The caller holds the warehouse's writer lock (``writer_lock``).
    """
    from quality.expectations import validate_registry

    private_files()
    keys = settings.require_keys()
    registry = warehouse / REGISTRY_FILE
    if not registry.exists():
        return ApplySummary(0)

    def before_commit(con: Any) -> None:
        validate_registry(con).raise_for_failures()

    with connect(registry) as con:
        check_keys(con, key_checks(keys), record=False)
        pending = pending_decisions(con)
        if pending.is_empty():
            return ApplySummary(0)
        from matching import reviewed_clusters

        batch_id = batch_id or f"review:{int(pending['decision_id'].max())}"  # type: ignore[arg-type]
        record_keys = sorted(set(pending["record_key_l"]) | set(pending["record_key_r"]))
        records = person_records(con, record_keys)
        before = records.select("record_key", "person_id")
        reviewed = reviewed_clusters(
            records.drop("person_id"),
            before.rename({"person_id": "cluster_id"}),
            stored_links(con, records),
            read_decisions(con),
            settings.match,
        )
        previous = read_previous(con)
        update = update_register(
            records.drop("person_id"),
            reviewed.clusters,
            previous.restricted_to(before),
            batch_id,
            keys.pin,
        )
        update = name_decisions(update, before, pending)
        heads = load_review(
            con,
            update,
            pending,
            reviewed.held_back,
            actor=actor,
            batch_id=batch_id,
            audit_key=keys.audit,
            before_commit=before_commit,
        )
        write_analyst(con, warehouse / ANALYST_FILE, keys.pseudonym)
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    append_anchor(warehouse, anchor_line(keys.audit, heads, at))
    kinds = update.events["event"].value_counts().sort("event").iter_rows()
    return ApplySummary(pending.height, {k: int(n) for k, n in kinds}, batch_id)


#: Called after each step of a run: the step's name and the rows it handled.
ProgressHook = Callable[[str, "int | None"], None]


def _quiet(stage: str, rows: int | None = None) -> None:
    """The progress hook of a run nobody watches."""


#: Heavy modules the last stages import (validation, the report's charts). A run in one
#: process imports them in a thread while ingest works (reading, Polars and the workbook
#: reader's child release the interpreter): a small batch's run is seconds shorter.
_LATER_IMPORTS = (
    "great_expectations",
    "great_expectations.expectations",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
)


def _import_in_background(modules: tuple[str, ...]) -> None:
    """Start importing ``modules`` in a daemon thread; a later import waits for it, if needed.

    Python's import lock makes the later ``import`` of a module being imported
    wait for it, and an import that fails here fails again, with its error, where
    the module is used.
    """
    import importlib
    import threading

    def work() -> None:
        for name in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    threading.Thread(target=work, name="dancu-imports", daemon=True).start()


#: Groups of provinces per ingest process of ``dancu run``: enough to even out the
#: processes' work, few enough that small provinces share standardisations.
_GROUPS_PER_PROCESS = 3


def _ingest_all(
    batch_dir: Path, provinces: list[str], warehouse: Path, settings: RunSettings, token: str
) -> Iterator[tuple[str, IngestSummary]]:
    """Ingest every province of the plan, one process per CPU core; yield them in plan order.

    The provinces go in groups of about equal bytes, a few per process
    (``group_provinces``); each group is one ``ingest_group``. Provinces are
    independent (each writes its own staged parts), so the staging is the
    same whatever the number of processes and groups. The processes come
    from a fork server (the workbook reader's, see ``pipelines.ingest.isolation``)
    and are given the settings without the keys: ingest needs none.
    """
    from concurrent.futures import ProcessPoolExecutor

    from pipelines.ingest.isolation import forkserver_context

    if not provinces:
        return
    workers = min(len(provinces), len(os.sched_getaffinity(0)))
    total = sum(_folder_bytes(batch_dir / code) for code in provinces)
    share = max(1, min(INGEST_TASK_BYTES, -(-total // (workers * _GROUPS_PER_PROCESS))))
    groups = group_provinces(batch_dir, provinces, share)
    if workers <= 1:
        for group in groups:
            yield from zip(
                group, ingest_group(batch_dir, group, warehouse, settings, token), strict=True
            )
        return
    keyless = dataclasses.replace(settings, keys=None)
    with ProcessPoolExecutor(workers, mp_context=forkserver_context("dancu.stages")) as pool:
        futures = [
            pool.submit(ingest_group, batch_dir, group, warehouse, keyless, token)
            for group in groups
        ]
        for group, future in zip(groups, futures, strict=True):
            yield from zip(group, future.result(), strict=True)


def run_batch(
    batch_dir: Path,
    warehouse: Path,
    settings: RunSettings,
    progress: ProgressHook | None = None,
    wait_seconds: float = 0.0,
) -> RunSummary:
    """Run every stage for one batch folder, in order, in this process, holding the lock.

    ``progress`` is called after each step (each province's ingest, then
    each stage) with the step and its rows; ``progress.expect(n)`` is
    called first when it has that method.

    The summary's ``seconds`` holds each stage's wall time (``ingest`` over all
    provinces) and matching's own steps as ``match.<step>``.
    """
    settings.require_keys()
    step = progress or _quiet
    batch_id = check_batch_name(batch_dir.name)
    seconds: dict[str, float] = {}
    _import_in_background(_LATER_IMPORTS)
    with writer_lock(warehouse, f"dancu run {batch_id}", wait_seconds=wait_seconds):
        started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        token = secrets.token_hex(16)
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            seconds[stage] = round(now - clock, 3)
            clock = now

        planned = plan(batch_dir, warehouse, settings, token)
        if planned.already_loaded:
            return RunSummary(batch_id, 0, {}, {}, "", str(warehouse / REGISTRY_FILE), skipped=True)
        provinces = planned.provinces
        lap("plan")
        expect = getattr(progress, "expect", None)
        if expect is not None:
            expect(len(provinces) + 6)
        step(f"{batch_id} plan: {len(provinces)} province folders", None)
        for code, ingested in _ingest_all(batch_dir, provinces, warehouse, settings, token):
            step(f"{batch_id} ingest {code}", ingested.rows_read)
        lap("ingest")
        validated = validate_staged(warehouse, batch_id, token)
        lap("validate_staged")
        passed = validated.checks - validated.failed
        step(f"{batch_id} validate: {passed}/{validated.checks} checks passed", validated.records)
        applied = apply_decisions(warehouse, settings, actor=f"batch {batch_id}", batch_id=batch_id)
        lap("apply_decisions")
        step(f"{batch_id} apply decisions: {applied.decisions}", None)
        match = match_batch(warehouse, batch_id, settings, token)
        lap("match")
        step(f"{batch_id} match: {match.pairs:,} candidate pairs", match.records)
        counts = register_and_load(warehouse, batch_id, settings, started_at, token)
        lap("register_and_load")
        step(f"{batch_id} load", counts["rows_loaded"])
        quality = check_quality(warehouse, batch_id, settings, token)
        lap("quality")
        step(f"{batch_id} quality: {quality.expectations} checks", None)
    seconds |= {f"match.{name}": t for name, t in match.seconds.items()}
    return RunSummary(
        batch_id=batch_id,
        provinces=len(provinces),
        counts=counts,
        match=match.to_dict(),
        report=quality.report,
        registry=str(warehouse / REGISTRY_FILE),
        seconds=seconds,
        decisions_applied=applied.decisions,
    )
