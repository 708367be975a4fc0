"""One pipeline run, stage by stage: the functions the DAG and the CLI both call.

A run of a batch is: plan (which province folders), ingest each province
(``pipelines.ingest``), validate the staged records, match them with the
registered ones (``matching``), update the PIN register and load the registry
(``pipelines.register``, ``pipelines.load``), then validate the registry and
write the quality report (``quality``). Each stage reads and writes files in
the warehouse and returns a small dict, so Airflow tasks can run them apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from matching import LinkResult, MatchSettings, link_records
from pipelines.ingest import UnknownProvinceError, check_province_folder, ingest_province
from pipelines.load import BatchTables, connect, load_batch, read_previous, registered_records
from pipelines.register import affected_records, update_register
from pipelines.review import read_decisions
from pipelines.schema import FILE_COUNT_SCHEMA, QUARANTINE_SCHEMA, RECORD_SCHEMA
from pipelines.storage import (
    REGISTRY_FILE,
    REPORT_FILE,
    read_staged,
    staging_dir,
    staging_part,
    write_parquet_atomic,
)

#: Serial key of the demo register. A real deployment passes its own secret.
DEMO_PIN_KEY = b"dancu-demo-register-key"

#: Decisions kept in ``match_link`` (plain non-links by the model are not stored).
_STORED = (
    pl.col("decision").is_in(["link", "review"])
    | pl.col("decided_by").str.starts_with("rule")
    | (pl.col("decided_by") == "reviewer")
)


@dataclass(frozen=True)
class RunSettings:
    """Everything a run can be told; passed down, never read from globals."""

    match: MatchSettings = field(default_factory=MatchSettings)
    pin_key: bytes = DEMO_PIN_KEY
    force: bool = False  # process a batch even when it is already loaded with the same files


def batch_folders(inbox: Path) -> list[Path]:
    """Return the batch folders under ``inbox``, or ``[inbox]`` if it is one batch.

    A folder is a batch when it holds province folders (3-digit names).
    """
    if not inbox.is_dir():
        raise FileNotFoundError(f"inbox '{inbox}' is not a folder")
    children = sorted(p for p in inbox.iterdir() if p.is_dir() and not p.name.startswith("."))
    if any(p.name.isdigit() and len(p.name) == 3 for p in children):
        return [inbox]
    return children


def batch_fingerprint(batch_dir: Path) -> str:
    """A digest of every file of a batch (path and content)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in batch_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(batch_dir).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def batch_is_loaded(batch_dir: Path, warehouse: Path, fingerprint: str | None = None) -> bool:
    """True when the registry already holds this batch with exactly these files.

    ``fingerprint`` is the batch's ``batch_fingerprint`` when the caller has it.
    """
    registry = warehouse / REGISTRY_FILE
    if not registry.exists():
        return False
    with connect(registry, read_only=True) as con:
        found = con.execute(
            "SELECT batch_fingerprint FROM run WHERE batch_id = ? AND status = 'loaded' "
            "ORDER BY ended_at DESC LIMIT 1",
            [batch_dir.name],
        ).fetchall()
    return bool(found) and found[0][0] == (fingerprint or batch_fingerprint(batch_dir))


def next_batch_to_load(
    inbox: Path, warehouse: Path, settle_seconds: float, now: float | None = None
) -> tuple[Path, str] | None:
    """The oldest batch of ``inbox`` not loaded with its current files, and its fingerprint.

    Batches load in order, so only the oldest one is returned; None when all
    are loaded, or when the oldest is still arriving (a file changed less than
    ``settle_seconds`` ago): a later call picks it up.
    """
    now = time.time() if now is None else now
    for batch in batch_folders(inbox):
        fingerprint = batch_fingerprint(batch)
        if batch_is_loaded(batch, warehouse, fingerprint):
            continue
        newest = max((p.stat().st_mtime for p in batch.rglob("*")), default=0.0)
        return (batch, fingerprint) if now - newest >= settle_seconds else None
    return None


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
            _reject_folder(staging, batch_id, folder.name, str(err))
    return provinces


def _reject_folder(staging: Path, batch_id: str, name: str, reason: str) -> None:
    """Record a rejected folder as one quarantined entry (read 1, quarantined 1)."""
    part = f"rejected-{name}"
    quarantine = pl.DataFrame(
        [(batch_id, None, f"{name}/", None, None, reason, None)],
        schema=QUARANTINE_SCHEMA,
        orient="row",
    )
    files = pl.DataFrame(
        [(batch_id, name, f"{name}/", None, 1, 0, 1, 0)], schema=FILE_COUNT_SCHEMA, orient="row"
    )
    write_parquet_atomic(quarantine, staging_part(staging, batch_id, "quarantine", part))
    write_parquet_atomic(files, staging_part(staging, batch_id, "files", part))
    write_parquet_atomic(
        pl.DataFrame(schema=RECORD_SCHEMA), staging_part(staging, batch_id, "records", part)
    )


def staged_records(warehouse: Path, batch_id: str) -> pl.DataFrame:
    """The standardised records ingest staged for a batch."""
    return read_staged(warehouse / "staging", batch_id, "records", RECORD_SCHEMA)


#: Columns of a batch's ``match_link`` rows (``pairs.parquet``).
_LINK_SCHEMA: dict[str, pl.DataType] = {
    **{c: pl.String() for c in ("record_key_l", "record_key_r")},
    **{c: pl.String() for c in ("province_code_l", "local_id_l", "province_code_r", "local_id_r")},
    "match_weight": pl.Float64(),
    "match_probability": pl.Float64(),
    **{c: pl.String() for c in ("decision", "decided_by", "explanation", "batch_id")},
}

#: Lineage columns: a record re-sent with only these different carries no new evidence.
_LINEAGE = ("batch_id", "source_file", "source_sheet", "source_row", "source_encoding")


@dataclass(frozen=True)
class Scope:
    """The records a batch run works on.

    Attributes:
        records: Registered records with the batch's fresh ones in their place.
        fresh: The batch's records to load: new ones, and re-sent ones unless
            a newer batch already sent them (an older batch loaded again does
            not overwrite what a newer batch sent).
        changed: The fresh records to match: new, or re-sent with a change
            other than lineage. A record re-sent unchanged keeps its person.
    """

    records: pl.DataFrame
    fresh: pl.DataFrame
    changed: pl.DataFrame


def staged_files(warehouse: Path, batch_id: str) -> pl.DataFrame:
    """Ingest's per-file counts staged for a batch (rows read = loaded + quarantined + skipped)."""
    return read_staged(warehouse / "staging", batch_id, "files", FILE_COUNT_SCHEMA)


def _in_scope(registered: pl.DataFrame, new: pl.DataFrame) -> Scope:
    """Split a batch's records against the registered ones (see ``Scope``)."""
    newer = registered.select("record_key", pl.col("batch_id").alias("registered_batch"))
    fresh = (
        new.join(newer, on="record_key", how="left")
        .filter(
            pl.col("registered_batch").is_null()
            | (pl.col("registered_batch") <= pl.col("batch_id"))
        )
        .drop("registered_batch")
    )
    content = [c for c in RECORD_SCHEMA if c not in _LINEAGE]
    unchanged = fresh.select(content).join(
        registered.select(content), on=content, how="semi", nulls_equal=True
    )
    changed = fresh.join(unchanged.select("record_key"), on="record_key", how="anti")
    kept = registered.join(fresh.select("record_key"), on="record_key", how="anti")
    return Scope(pl.concat([kept, fresh]).sort("record_key"), fresh, changed)


def match_batch(warehouse: Path, batch_id: str, settings: RunSettings) -> dict[str, Any]:
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
        result = link_records(new, settings.match)
        return _write_match(out, result, batch_id, new, new)
    with connect(registry) as con:
        scope = _in_scope(registered_records(con), new)
        prior = con.sql("SELECT record_key, person_id AS cluster_id FROM source_record").pl()
        decisions = read_decisions(con)
        model_before = con.execute(
            "SELECT parameters FROM match_model WHERE batch_id = ?", [batch_id]
        ).fetchall()
    # A changed record is judged afresh, not held to the person it had.
    prior = prior.join(scope.changed.select("record_key"), on="record_key", how="anti")
    if scope.changed.is_empty():
        # Nothing new to learn from: everyone stays as registered.
        model = model_before[0][0] if model_before else '{"fitted": false}'
        return _write_unmatched(out, prior, model, scope)
    result = link_records(
        scope.records,
        settings.match,
        new_keys=scope.changed["record_key"],
        prior_clusters=prior,
        decisions=decisions,
    )
    return _write_match(out, result, batch_id, scope.records, scope.changed)


def _write_match(
    out: Path, result: LinkResult, batch_id: str, records: pl.DataFrame, changed: pl.DataFrame
) -> dict[str, Any]:
    write_parquet_atomic(_links_for_registry(result.pairs, batch_id), out / "pairs.parquet")
    write_parquet_atomic(result.clusters.sort("record_key"), out / "clusters.parquet")
    (out / "model.json").write_text(json.dumps(result.model.to_dict(), sort_keys=True, indent=1))
    return {
        "records": records.height,
        "records_matched": changed.height,
        # Counted over all candidates (result.pairs keeps links, reviews and rule decisions).
        "pairs": result.stats["candidate_pairs"],
        **{f"pairs_{d}": n for d, n in result.stats["decisions"].items()},
        "clusters": int(result.clusters["cluster_id"].n_unique()),
    }


def _write_unmatched(out: Path, prior: pl.DataFrame, model: str, scope: Scope) -> dict[str, Any]:
    """The match output of a batch that brings no new or changed record."""
    write_parquet_atomic(pl.DataFrame(schema=_LINK_SCHEMA), out / "pairs.parquet")
    write_parquet_atomic(prior.sort("record_key"), out / "clusters.parquet")
    (out / "model.json").write_text(model)
    return {
        "records": scope.records.height,
        "records_matched": 0,
        "pairs": 0,
        "clusters": int(prior["cluster_id"].n_unique()),
    }


def _links_for_registry(pairs: pl.DataFrame, batch_id: str) -> pl.DataFrame:
    """Shape scored pairs as ``match_link`` rows, with a JSON explanation per pair."""
    names = [c.removeprefix("gamma_") for c in pairs.columns if c.startswith("gamma_")]
    explanation = pl.struct(
        [
            pl.struct(level=pl.col(f"gamma_{n}"), weight=pl.col(f"w_{n}").round(3)).alias(n)
            for n in names
        ]
    ).struct.json_encode()
    split_l = pl.col("record_key_l").str.split_exact(":", 1)
    split_r = pl.col("record_key_r").str.split_exact(":", 1)
    return pairs.filter(_STORED).select(
        "record_key_l",
        "record_key_r",
        split_l.struct.field("field_0").alias("province_code_l"),
        split_l.struct.field("field_1").alias("local_id_l"),
        split_r.struct.field("field_0").alias("province_code_r"),
        split_r.struct.field("field_1").alias("local_id_r"),
        "match_weight",
        "match_probability",
        "decision",
        "decided_by",
        explanation.alias("explanation"),
        pl.lit(batch_id).alias("batch_id"),
    )


def register_and_load(
    warehouse: Path, batch_id: str, settings: RunSettings, started_at: dt.datetime
) -> dict[str, Any]:
    """Update the PIN register from the match and load the batch in one transaction."""
    staging = warehouse / "staging"
    new = staged_records(warehouse, batch_id)
    match_dir = staging_dir(warehouse, batch_id) / "match"
    clusters = pl.read_parquet(match_dir / "clusters.parquet")
    with connect(warehouse / REGISTRY_FILE) as con:
        scope = _in_scope(registered_records(con), new)
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
            fingerprint=(staging_dir(warehouse, batch_id) / "fingerprint.txt").read_text(),
        )
        run_id = _run_id(batch_id, started_at)
        return load_batch(con, tables, update, started_at, run_id)


def _run_id(batch_id: str, started_at: dt.datetime) -> str:
    stamp = started_at.strftime("%Y%m%dT%H%M%S%f")
    return f"{batch_id}/{stamp}-{hashlib.blake2b(stamp.encode(), digest_size=3).hexdigest()}"


def check_quality(warehouse: Path, batch_id: str) -> dict[str, Any]:
    """Validate the staged records and the registry; write the HTML report.

    Raises:
        quality.expectations.QualityError: a must-hold expectation failed
            (after the report is written, so reviewers can see which).
    """
    from quality.expectations import validate_records, validate_registry, write_validation_json
    from quality.report import write_report

    records_report = validate_records(
        staged_records(warehouse, batch_id), staged_files(warehouse, batch_id)
    )
    with connect(warehouse / REGISTRY_FILE) as con:
        registry_report = validate_registry(con)
        reports = [records_report, registry_report]
        report = write_report(con, warehouse / REPORT_FILE, reports)
    for r in reports:
        write_validation_json(
            r, staging_dir(warehouse, batch_id) / f"validation-{r.suite_name}.json"
        )
    for r in reports:
        r.raise_for_failures()
    return {"report": str(report), "expectations": sum(len(r.results) for r in reports)}


@dataclass(frozen=True)
class RunSummary:
    """The figures a user sees at the end of a run."""

    batch_id: str
    provinces: int
    counts: dict[str, int]
    match: dict[str, Any]
    report: str
    registry: str
    skipped: bool = False

    def to_text(self) -> str:
        """Human-readable summary lines."""
        if self.skipped:
            return f"batch {self.batch_id}: already loaded with these files; nothing changed"
        c = self.counts
        return "\n".join(
            [
                f"batch {self.batch_id}: {self.provinces} provinces",
                f"  rows read {c['rows_read']:,} = loaded {c['rows_loaded']:,}"
                f" + quarantined {c['rows_quarantined']:,} + skipped {c['rows_skipped']:,}",
                f"  persons {c['persons_total']:,} (new {c['persons_new']:,},"
                f" pending {c['persons_pending']:,}); registered persons merged"
                f" {c['persons_merged']:,}",
                f"  PINs issued {c['pins_issued']:,}; candidate pairs {self.match['pairs']:,}"
                f" (link {self.match.get('pairs_link', 0):,},"
                f" review {self.match.get('pairs_review', 0):,})",
                f"  registry: {self.registry}",
                f"  report:   {self.report}",
            ]
        )


def run_batch(batch_dir: Path, warehouse: Path, settings: RunSettings | None = None) -> RunSummary:
    """Run every stage for one batch folder, in order, in this process."""
    settings = settings or RunSettings()
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    batch_id = batch_dir.name
    if not settings.force and batch_is_loaded(batch_dir, warehouse):
        return RunSummary(batch_id, 0, {}, {}, "", str(warehouse / REGISTRY_FILE), skipped=True)
    staging = warehouse / "staging"
    provinces = plan_batch(batch_dir, warehouse)
    for code in provinces:
        ingest_province(batch_dir, code, staging)
    from quality.expectations import validate_records

    validate_records(
        staged_records(warehouse, batch_id), staged_files(warehouse, batch_id)
    ).raise_for_failures()
    match = match_batch(warehouse, batch_id, settings)
    counts = register_and_load(warehouse, batch_id, settings, started_at)
    quality = check_quality(warehouse, batch_id)
    return RunSummary(
        batch_id=batch_id,
        provinces=len(provinces),
        counts=counts,
        match=match,
        report=quality["report"],
        registry=str(warehouse / REGISTRY_FILE),
    )
