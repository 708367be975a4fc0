"""One pipeline run, stage by stage: one function per DAG task, each with a small summary.

A run of a batch is: plan (which province folders), ingest each province
(``pipelines.ingest``), validate the staged records (``quality``), match them
with the registered ones (``matching``), update the PIN register and load the
registry (``pipelines.register``, ``pipelines.warehouse``), then validate the
registry and write the quality report (``quality``). Each stage reads and
writes files in the warehouse and returns a small typed summary, so Airflow
tasks can run them apart; ``run_batch`` runs them all in this process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from dancu.inbox import batch_fingerprint, batch_is_loaded
from dancu.settings import RunSettings
from dancu.summary import RunSummary
from domain.schema import FILE_COUNT_SCHEMA, LINK_SCHEMA, QUARANTINE_SCHEMA, RECORD_SCHEMA
from matching import FITTED, LinkResult, MatchModel, default_model, link_records
from pipelines.ingest import (
    IngestSummary,
    UnknownProvinceError,
    check_province_folder,
    ingest_province,
    rejected_folder,
)
from pipelines.register import Scope, affected_records, batch_scope, update_register
from pipelines.warehouse import (
    REGISTRY_FILE,
    REPORT_FILE,
    BatchTables,
    connect,
    load_batch,
    match_link_rows,
    read_staged,
    staging_dir,
    staging_part,
    write_parquet_atomic,
)
from pipelines.warehouse.registry import (
    batch_model,
    fitted_models_before,
    read_decisions,
    read_previous,
    record_clusters,
    registered_records,
)


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
class Plan:
    """The province folders of a batch, or that it is already loaded with these files."""

    batch_id: str
    provinces: list[str]
    already_loaded: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as plain data (for XCom)."""
        return asdict(self)


def plan(batch_dir: Path, warehouse: Path, settings: RunSettings) -> Plan:
    """Plan a batch: its province folders, or nothing when it is already loaded unchanged.

    A batch loaded with exactly these files is planned again only when forced.
    """
    if not settings.force and batch_is_loaded(batch_dir, warehouse):
        return Plan(batch_dir.name, [], already_loaded=True)
    return Plan(batch_dir.name, plan_batch(batch_dir, warehouse))


def plan_batch(batch_dir: Path, warehouse: Path) -> list[str]:
    """Start a batch: clear its staging area, return its province folders.

    Folders that are not province codes are rejected: each is recorded as one
    quarantined entry, and nothing from it is loaded.
    """
    if not batch_dir.is_dir():
        raise FileNotFoundError(f"batch folder '{batch_dir}' does not exist")
    batch_id = batch_dir.name
    staging = warehouse / "staging"
    shutil.rmtree(staging_dir(warehouse, batch_id), ignore_errors=True)
    fingerprint = staging_dir(warehouse, batch_id) / "fingerprint.txt"
    fingerprint.parent.mkdir(parents=True)
    fingerprint.write_text(batch_fingerprint(batch_dir))
    provinces: list[str] = []
    for folder in sorted(p for p in batch_dir.iterdir() if not p.name.startswith(".")):
        try:
            if not folder.is_dir():
                raise UnknownProvinceError(
                    f"'{folder.name}' is a file, not a province folder; it was not loaded"
                )
            provinces.append(check_province_folder(folder.name))
        except UnknownProvinceError as err:
            _write_rejected(staging, batch_id, folder.name, str(err))
    return provinces


def _write_rejected(staging: Path, batch_id: str, name: str, reason: str) -> None:
    """Stage a rejected folder as one quarantined entry (read 1, quarantined 1)."""
    part = f"rejected-{name}"
    quarantine, files = rejected_folder(batch_id, name, reason)
    write_parquet_atomic(quarantine, staging_part(staging, batch_id, "quarantine", part))
    write_parquet_atomic(files, staging_part(staging, batch_id, "files", part))
    write_parquet_atomic(
        pl.DataFrame(schema=RECORD_SCHEMA), staging_part(staging, batch_id, "records", part)
    )


def ingest(
    batch_dir: Path, province_code: str, warehouse: Path, settings: RunSettings
) -> IngestSummary:
    """Ingest one province folder of a batch into the warehouse's staging."""
    return ingest_province(batch_dir, province_code, warehouse / "staging", settings.read_limits)


def staged_records(warehouse: Path, batch_id: str) -> pl.DataFrame:
    """The standardised records ingest staged for a batch."""
    return read_staged(warehouse / "staging", batch_id, "records", RECORD_SCHEMA)


def staged_files(warehouse: Path, batch_id: str) -> pl.DataFrame:
    """Ingest's per-file counts staged for a batch (rows read = loaded + quarantined + skipped)."""
    return read_staged(warehouse / "staging", batch_id, "files", FILE_COUNT_SCHEMA)


def validate_staged(warehouse: Path, batch_id: str) -> ValidationSummary:
    """Great Expectations on the staged records and counts.

    The report is kept in the batch's staging (``validation-records.json``),
    where ``check_quality`` takes it for the HTML report: the staged records
    do not change between the two.

    Raises:
        quality.expectations.QualityError: a must-hold expectation failed.
    """
    from quality.expectations import validate_records, write_validation_json

    records = staged_records(warehouse, batch_id)
    report = validate_records(records, staged_files(warehouse, batch_id))
    write_validation_json(report, _validation_file(warehouse, batch_id, report.suite_name))
    report.raise_for_failures()
    failed = sum(1 for r in report.results if not r.success)
    return ValidationSummary(report.suite_name, len(report.results), failed, records.height)


def _validation_file(warehouse: Path, batch_id: str, suite: str) -> Path:
    return staging_dir(warehouse, batch_id) / f"validation-{suite}.json"


def match_batch(warehouse: Path, batch_id: str, settings: RunSettings) -> MatchSummary:
    """Link the batch's records with each other and with everyone registered.

    Incremental: only pairs with at least one record of this batch are
    compared; registered persons are held together as they are (unless a
    cannot-link rule or a reviewer's decision now separates them), and every
    reviewer's decision is applied.
    """
    new = staged_records(warehouse, batch_id)
    registry = warehouse / REGISTRY_FILE
    out = staging_dir(warehouse, batch_id) / "match"
    if not registry.exists():
        result = link_records(new, settings.match, fallback=[default_model()])
        return _write_match(out, result, batch_id, new, new)
    with connect(registry) as con:
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
        return _write_unmatched(out, prior, model, scope)
    result = link_records(
        scope.records,
        settings.match,
        new_keys=scope.changed["record_key"],
        prior_clusters=prior,
        decisions=decisions,
        fallback=[*accepted, default_model()],
    )
    return _write_match(out, result, batch_id, scope.records, scope.changed)


def last_accepted_model(stored: list[tuple[str, str]]) -> list[MatchModel]:
    """The model of the latest other batch whose run fitted one on its own records.

    ``stored`` holds (batch, model JSON), the latest run first. A batch that
    cannot fit a model passing its self-check falls back on it (source
    ``registry:<batch_id>``); an empty list when there is none.
    """
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


def _write_match(
    out: Path, result: LinkResult, batch_id: str, records: pl.DataFrame, changed: pl.DataFrame
) -> MatchSummary:
    write_parquet_atomic(match_link_rows(result.pairs, batch_id), out / "pairs.parquet")
    write_parquet_atomic(result.clusters.sort("record_key"), out / "clusters.parquet")
    (out / "model.json").write_text(json.dumps(result.model.to_dict(), sort_keys=True, indent=1))
    return MatchSummary(
        records=records.height,
        records_matched=changed.height,
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
    warehouse: Path, batch_id: str, settings: RunSettings, started_at: dt.datetime
) -> dict[str, int]:
    """Update the PIN register from the match and load the batch in one transaction.

    Returns:
        The run's counts (rows read, loaded, quarantined, skipped; persons, PINs).
    """
    staging = warehouse / "staging"
    new = staged_records(warehouse, batch_id)
    match_dir = staging_dir(warehouse, batch_id) / "match"
    clusters = pl.read_parquet(match_dir / "clusters.parquet")
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
            settings.pin_key,
        )
        tables = BatchTables(
            batch_id=batch_id,
            records=scope.fresh,
            quarantine=read_staged(staging, batch_id, "quarantine", QUARANTINE_SCHEMA),
            files=read_staged(staging, batch_id, "files", FILE_COUNT_SCHEMA),
            pairs=pl.read_parquet(match_dir / "pairs.parquet"),
            model_json=(match_dir / "model.json").read_text(),
            model_source=model_source((match_dir / "model.json").read_text()),
            fingerprint=(staging_dir(warehouse, batch_id) / "fingerprint.txt").read_text(),
        )
        run_id = _run_id(batch_id, started_at)
        return load_batch(con, tables, update, started_at, run_id)


def _run_id(batch_id: str, started_at: dt.datetime) -> str:
    stamp = started_at.strftime("%Y%m%dT%H%M%S%f")
    return f"{batch_id}/{stamp}-{hashlib.blake2b(stamp.encode(), digest_size=3).hexdigest()}"


def check_quality(warehouse: Path, batch_id: str) -> QualitySummary:
    """Validate the registry; write the HTML report with the staged records' checks too.

    The staged records' report is the one ``validate_staged`` kept (they are
    validated again only when it is missing).

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

    kept = _validation_file(warehouse, batch_id, "records")
    if kept.exists():
        records_report = read_validation_json(kept)
    else:
        staged = staged_records(warehouse, batch_id)
        records_report = validate_records(staged, staged_files(warehouse, batch_id))
    with connect(warehouse / REGISTRY_FILE) as con:
        registry_report = validate_registry(con)
        reports = [records_report, registry_report]
        report = write_report(con, warehouse / REPORT_FILE, reports)
    for r in reports:
        write_validation_json(r, _validation_file(warehouse, batch_id, r.suite_name))
    for r in reports:
        r.raise_for_failures()
    return QualitySummary(str(report), sum(len(r.results) for r in reports))


def run_batch(batch_dir: Path, warehouse: Path, settings: RunSettings | None = None) -> RunSummary:
    """Run every stage for one batch folder, in order, in this process.

    The summary's ``seconds`` holds each stage's wall time (``ingest`` over all
    provinces) and matching's own steps as ``match.<step>``.
    """
    settings = settings or RunSettings()
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    batch_id = batch_dir.name
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 3)
        clock = now

    planned = plan(batch_dir, warehouse, settings)
    if planned.already_loaded:
        return RunSummary(batch_id, 0, {}, {}, "", str(warehouse / REGISTRY_FILE), skipped=True)
    provinces = planned.provinces
    lap("plan")
    for code in provinces:
        ingest(batch_dir, code, warehouse, settings)
    lap("ingest")
    validate_staged(warehouse, batch_id)
    lap("validate_staged")
    match = match_batch(warehouse, batch_id, settings)
    lap("match")
    counts = register_and_load(warehouse, batch_id, settings, started_at)
    lap("register_and_load")
    quality = check_quality(warehouse, batch_id)
    lap("quality")
    seconds |= {f"match.{step}": t for step, t in match.seconds.items()}
    return RunSummary(
        batch_id=batch_id,
        provinces=len(provinces),
        counts=counts,
        match=match.to_dict(),
        report=quality.report,
        registry=str(warehouse / REGISTRY_FILE),
        seconds=seconds,
    )
