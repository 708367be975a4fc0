"""Score a registry (or a fresh matching run) against a test-data generator's truth.

Truth rows that name a person are joined to ``source_record`` on
(province_code, local_id). Predicted clusters are ``source_record.person_id``,
true clusters the truth ``person_id``; the metrics are ``quality.metrics``'s,
blocking recall is ``matching.diagnostics``'s. This module only reads: the
truth folder, the registry (through ``pipelines.warehouse``) and the staging.

    .venv/bin/python -m dancu.evaluate --truth DIR --warehouse DIR
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from domain.schema import RECORD_SCHEMA
from matching import link_records
from matching.diagnostics import BlockingRecall, blocking_recall, candidate_decisions
from pipelines.warehouse.parquet import read_staged
from pipelines.warehouse.paths import REGISTRY_FILE
from pipelines.warehouse.registry import connect, registry_person_keys, review_queue_keys
from quality.metrics import Evaluation, evaluate_frames

_KEY = ["province_code", "local_id"]


def evaluate(truth_dir: Path, warehouse: Path) -> Evaluation:
    """Compare the registry in ``warehouse`` with the generator truth in ``truth_dir``.

    Args:
        truth_dir: Folder with ``records.csv`` (batch_id, province_code,
            source_file, source_sheet, source_row, local_id, person_id,
            row_kind, note) and optionally ``persons.csv`` (person_id, twin_of).
        warehouse: The warehouse folder holding ``registry.duckdb`` (or the
            ``.duckdb`` file itself).

    Returns:
        The evaluation.
    """
    truth = pl.read_csv(truth_dir / "records.csv", infer_schema=False)
    database = warehouse if warehouse.suffix == ".duckdb" else warehouse / REGISTRY_FILE
    with connect(database, read_only=True) as con:
        predicted = registry_person_keys(con)
        reviews = review_queue_keys(con)
    twins_path = truth_dir / "persons.csv"
    twins = (
        pl.read_csv(twins_path, infer_schema=False).select("person_id", "twin_of")
        if twins_path.exists()
        else pl.DataFrame(schema={"person_id": pl.String, "twin_of": pl.String})
    )
    return evaluate_frames(truth, predicted, twins, reviews)


def truth_record_keys(truth_dir: Path) -> pl.DataFrame:
    """Return ``record_key`` (``province_code:local_id``), ``person_id`` from a generator's truth.

    Keys naming two different persons (a repeated local id) are left out, as
    in :func:`evaluate_frames`.
    """
    truth = pl.read_csv(truth_dir / "records.csv", infer_schema=False)
    return (
        truth.with_columns(pl.col("person_id").replace("", None))
        .drop_nulls("person_id")
        .group_by(_KEY)
        .agg(pl.col("person_id").unique())
        .filter(pl.col("person_id").list.len() == 1)
        .select(
            record_key=pl.concat_str(_KEY, separator=":"),
            person_id=pl.col("person_id").list.first(),
        )
        .sort("record_key")
    )


@dataclass(frozen=True)
class MatchingEvaluation:
    """``link_records`` run afresh on a warehouse's staged records, scored against truth."""

    clusters: Evaluation
    blocking: BlockingRecall
    stats: dict[str, Any]

    def to_text(self) -> str:
        """Return the cluster scores, then blocking recall and the run's counts."""
        seconds = ", ".join(f"{k} {v:.1f}s" for k, v in self.stats["seconds"].items())
        return "\n".join(
            [
                self.clusters.to_text(),
                self.blocking.to_text(),
                f"  records {self.stats['records']:,}  clusters {self.stats['clusters']['sizes']}",
                f"  seconds: {seconds}",
            ]
        )


def staged_records(warehouse: Path) -> pl.DataFrame:
    """Every record staged in ``warehouse``, the latest batch's version of each ``record_key``."""
    staging = warehouse / "staging"
    batches = sorted(p.name for p in staging.iterdir() if (p / "records").is_dir())
    frames = [read_staged(staging, b, "records", RECORD_SCHEMA) for b in batches]
    records = pl.concat(frames) if frames else pl.DataFrame(schema=RECORD_SCHEMA)
    return records.unique("record_key", keep="last", maintain_order=True).sort("record_key")


def evaluate_matching(truth_dir: Path, warehouse: Path) -> MatchingEvaluation:
    """Link all staged records of ``warehouse`` in one run and score pairs and clusters.

    Unlike :func:`evaluate`, which scores the registry (matching as the
    pipeline ran it, batch by batch, through the PIN register), this scores
    ``matching.link_records`` itself, and also reports blocking recall: how
    many true pairs blocking offered to the model at all.
    """
    records = staged_records(warehouse)
    result = link_records(records)
    truth = truth_record_keys(truth_dir)
    parts = pl.col("record_key").str.split_exact(":", 1).struct.rename_fields(_KEY)
    twins_path = truth_dir / "persons.csv"
    twins = (
        pl.read_csv(twins_path, infer_schema=False).select("person_id", "twin_of")
        if twins_path.exists()
        else pl.DataFrame(schema={"person_id": pl.String, "twin_of": pl.String})
    )
    clusters = evaluate_frames(
        pl.read_csv(truth_dir / "records.csv", infer_schema=False),
        result.clusters.select(parts.alias("k"), predicted="cluster_id").unnest("k"),
        twins,
    )
    return MatchingEvaluation(
        clusters, blocking_recall(candidate_decisions(records, result.pairs), truth), result.stats
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description="Score link_records on a warehouse's staged records against generator truth."
    )
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    args = parser.parse_args()
    print(evaluate_matching(args.truth, args.warehouse).to_text())
