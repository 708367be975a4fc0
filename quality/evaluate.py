"""Score the registry's person clusters against the test-data generator's truth.

Truth rows that name a person are joined to ``source_record`` on
(province_code, local_id). Predicted clusters are ``source_record.person_id``,
true clusters the truth ``person_id``. Pairwise precision and recall count
record pairs; they come from the cluster contingency table (sums of
"n choose 2"), so no pair is ever enumerated. B-cubed scores average, per
record, the overlap of its predicted and true clusters (Bagga & Baldwin 1998;
Amigó et al. 2009, "A comparison of extrinsic clustering evaluation metrics").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

_KEY = ["province_code", "local_id"]


@dataclass(frozen=True)
class Evaluation:
    """How the registry's clusters compare with the truth.

    Scores are over records present in both truth and registry. A precision
    with no predicted pairs, or a recall with no true pairs, is 1.0.

    Attributes:
        truth_records: Distinct (province_code, local_id) truth keys naming a person.
        truth_conflicts: Truth keys naming two different persons (excluded).
        matched_records: Truth person records found in ``source_record``.
        missing_records: Truth person records not in ``source_record`` (quarantined).
        junk_loaded: Truth junk rows (no person) loaded as persons anyway.
        unknown_records: ``source_record`` rows absent from the truth.
        true_persons: Distinct true persons among matched records.
        predicted_persons: Distinct predicted persons among matched records.
        true_pairs: Record pairs of the same true person.
        predicted_pairs: Record pairs of the same predicted person.
        correct_pairs: Record pairs in both.
        pairwise_precision: correct_pairs / predicted_pairs.
        pairwise_recall: correct_pairs / true_pairs.
        pairwise_f1: Harmonic mean of the two.
        bcubed_precision: Mean over records of overlap / predicted cluster size.
        bcubed_recall: Mean over records of overlap / true cluster size.
        bcubed_f1: Harmonic mean of the two.
        twin_pairs: Twin pairs (``persons.csv`` ``twin_of``) with records of both twins.
        twin_pairs_merged: Of those, pairs whose records share a predicted person.
    """

    truth_records: int
    truth_conflicts: int
    matched_records: int
    missing_records: int
    junk_loaded: int
    unknown_records: int
    true_persons: int
    predicted_persons: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    twin_pairs: int
    twin_pairs_merged: int

    def to_dict(self) -> dict[str, Any]:
        """Return the evaluation as plain data (for JSON)."""
        return asdict(self)

    def to_text(self) -> str:
        """Return a short aligned summary for printing."""
        lines = [
            "records",
            f"  truth person records   {self.truth_records:>10,}",
            f"  truth key conflicts    {self.truth_conflicts:>10,}  (excluded)",
            f"  matched in registry    {self.matched_records:>10,}",
            f"  missing (quarantined)  {self.missing_records:>10,}",
            f"  junk rows loaded       {self.junk_loaded:>10,}",
            f"  not in truth           {self.unknown_records:>10,}",
            f"  true persons           {self.true_persons:>10,}",
            f"  predicted persons      {self.predicted_persons:>10,}",
            "pairwise",
            f"  precision {self.pairwise_precision:.4f}  recall {self.pairwise_recall:.4f}"
            f"  F1 {self.pairwise_f1:.4f}",
            f"  pairs correct {self.correct_pairs:,} / predicted {self.predicted_pairs:,}"
            f" / true {self.true_pairs:,}",
            "B-cubed",
            f"  precision {self.bcubed_precision:.4f}  recall {self.bcubed_recall:.4f}"
            f"  F1 {self.bcubed_f1:.4f}",
            "twins",
            f"  pairs merged {self.twin_pairs_merged:,} of {self.twin_pairs:,}",
        ]
        return "\n".join(lines)


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
    database = warehouse if warehouse.suffix == ".duckdb" else warehouse / "registry.duckdb"
    with duckdb.connect(str(database), read_only=True) as con:
        predicted = con.sql(
            "SELECT province_code, local_id, person_id AS predicted FROM source_record"
        ).pl()
    twins_path = truth_dir / "persons.csv"
    twins = (
        pl.read_csv(twins_path, infer_schema=False).select("person_id", "twin_of")
        if twins_path.exists()
        else pl.DataFrame(schema={"person_id": pl.String, "twin_of": pl.String})
    )
    return evaluate_frames(truth, predicted, twins)


def evaluate_frames(
    truth: pl.DataFrame, predicted: pl.DataFrame, twins: pl.DataFrame
) -> Evaluation:
    """Compute the evaluation from frames (the pure core of :func:`evaluate`).

    Args:
        truth: Truth rows with province_code, local_id and person_id (null or
            empty for rows that are not a person).
        predicted: Registry rows with province_code, local_id and ``predicted``
            (the registry person_id).
        twins: Truth persons with person_id and twin_of (null or empty when
            not a twin).

    Returns:
        The evaluation.
    """
    truth = truth.select(
        *[pl.col(c).cast(pl.String) for c in _KEY],
        pl.col("person_id").cast(pl.String).replace("", None).alias("person_id"),
    )
    predicted = predicted.select(*[pl.col(c).cast(pl.String) for c in _KEY], "predicted")
    junk_keys = (
        truth.filter(pl.col("person_id").is_null())
        .select(_KEY)
        .unique()
        .join(truth.filter(pl.col("person_id").is_not_null()).select(_KEY), on=_KEY, how="anti")
    )
    per_key = (
        truth.filter(pl.col("person_id").is_not_null())
        .group_by(_KEY)
        .agg(pl.col("person_id").n_unique().alias("n_persons"), pl.col("person_id").min())
    )
    conflicts = per_key.filter(pl.col("n_persons") > 1).height
    keyed = per_key.filter(pl.col("n_persons") == 1).select(*_KEY, "person_id")
    joined = keyed.join(predicted, on=_KEY, how="inner")
    all_truth_keys = truth.select(_KEY).unique()
    correct, predicted_pairs, true_pairs = _pair_counts(joined)
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    b3_precision, b3_recall = _bcubed(joined)
    twin_pairs, twins_merged = _twins(joined, twins)
    return Evaluation(
        truth_records=keyed.height + conflicts,
        truth_conflicts=conflicts,
        matched_records=joined.height,
        missing_records=keyed.height - joined.height,
        junk_loaded=junk_keys.join(predicted, on=_KEY, how="semi").height,
        unknown_records=predicted.join(all_truth_keys, on=_KEY, how="anti").height,
        true_persons=joined["person_id"].n_unique(),
        predicted_persons=joined["predicted"].n_unique(),
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct,
        pairwise_precision=precision,
        pairwise_recall=recall,
        pairwise_f1=_f1(precision, recall),
        bcubed_precision=b3_precision,
        bcubed_recall=b3_recall,
        bcubed_f1=_f1(b3_precision, b3_recall),
        twin_pairs=twin_pairs,
        twin_pairs_merged=twins_merged,
    )


def _choose2(column: str) -> pl.Expr:
    n = pl.col(column).cast(pl.Int64)
    return (n * (n - 1) // 2).sum()


def _pair_counts(joined: pl.DataFrame) -> tuple[int, int, int]:
    """Correct, predicted and true pair counts: sums of C(n, 2) over cells and margins."""
    cells = joined.group_by("predicted", "person_id").len()
    correct = cells.select(_choose2("len")).item()
    predicted = joined.group_by("predicted").len().select(_choose2("len")).item()
    true = joined.group_by("person_id").len().select(_choose2("len")).item()
    return int(correct or 0), int(predicted or 0), int(true or 0)


def _bcubed(joined: pl.DataFrame) -> tuple[float, float]:
    """B-cubed precision and recall: sum over cells of n^2 / cluster size, over N."""
    if joined.height == 0:
        return 1.0, 1.0
    cells = (
        joined.group_by("predicted", "person_id")
        .len("n")
        .with_columns(
            pl.col("n").sum().over("predicted").alias("n_predicted"),
            pl.col("n").sum().over("person_id").alias("n_true"),
        )
    )
    n = pl.col("n").cast(pl.Float64)
    sums = cells.select(
        (n * n / pl.col("n_predicted")).sum().alias("p"),
        (n * n / pl.col("n_true")).sum().alias("r"),
    )
    return float(sums["p"].item()) / joined.height, float(sums["r"].item()) / joined.height


def _twins(joined: pl.DataFrame, twins: pl.DataFrame) -> tuple[int, int]:
    """Count twin pairs with records of both twins, and those sharing a predicted person."""
    pairs = (
        twins.select(
            pl.col("person_id").cast(pl.String),
            pl.col("twin_of").cast(pl.String).replace("", None),
        )
        .drop_nulls()
        .select(
            pl.min_horizontal("person_id", "twin_of").alias("a"),
            pl.max_horizontal("person_id", "twin_of").alias("b"),
        )
        .filter(pl.col("a") != pl.col("b"))
        .unique()
    )
    clusters = joined.select("person_id", "predicted").unique()
    present = pairs.join(
        clusters.select(pl.col("person_id").alias("a")).unique(), on="a", how="semi"
    ).join(clusters.select(pl.col("person_id").alias("b")).unique(), on="b", how="semi")
    merged = (
        present.join(clusters.rename({"person_id": "a", "predicted": "pa"}), on="a")
        .join(clusters.rename({"person_id": "b", "predicted": "pb"}), on="b")
        .filter(pl.col("pa") == pl.col("pb"))
        .select("a", "b")
        .unique()
    )
    return present.height, merged.height


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


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
class BlockingRecall:
    """How many true pairs blocking offered to the model, and what became of them.

    Attributes:
        true_pairs: Record pairs of one true person (among records with a truth).
        candidate_pairs: Candidate pairs with both records in the truth.
        found: True pairs among the candidates (blocking recall = found / true_pairs).
        by_rule: True pairs found, by the (first) rule that found them.
        decisions: True pairs found, by decision (link / review / non_link).
        false_links: Pairs decided ``link`` whose records are different true persons.
    """

    true_pairs: int
    candidate_pairs: int
    found: int
    by_rule: dict[str, int]
    decisions: dict[str, int]
    false_links: int

    @property
    def recall(self) -> float:
        """Share of the true pairs that blocking made candidates (1.0 with no true pairs)."""
        return self.found / self.true_pairs if self.true_pairs else 1.0

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as plain data (for JSON)."""
        return {**asdict(self), "recall": self.recall}

    def to_text(self) -> str:
        """Return a short aligned summary for printing."""
        missed = self.true_pairs - self.found
        lines = [
            "blocking",
            f"  recall {self.recall:.4f}  true pairs {self.true_pairs:,}"
            f"  found {self.found:,}  missed {missed:,}",
            f"  candidate pairs {self.candidate_pairs:,}  false links {self.false_links:,}",
            "  true pairs by rule    "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_rule.items())),
            "  true pairs by decision "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(self.decisions.items())),
        ]
        return "\n".join(lines)


def true_pairs(truth: pl.DataFrame) -> pl.DataFrame:
    """Return ``record_key_l < record_key_r`` for every pair of records of one true person."""
    keyed = truth.select("record_key", "person_id")
    return (
        keyed.join(keyed, on="person_id", suffix="_r")
        .filter(pl.col("record_key") < pl.col("record_key_r"))
        .select(record_key_l="record_key", record_key_r="record_key_r")
        .sort("record_key_l", "record_key_r")
    )


def blocking_recall(pairs: pl.DataFrame, truth: pl.DataFrame) -> BlockingRecall:
    """Score candidate pairs against the truth: blocking recall and the fate of true pairs.

    Args:
        pairs: Candidate pairs as ``matching.link_records`` returns them
            (``record_key_l``, ``record_key_r``, ``blocked_by``, ``decision``).
        truth: ``record_key``, ``person_id`` (see :func:`truth_record_keys`);
            pairs with a record outside it are not counted.

    Returns:
        The counts.
    """
    person = truth.select("record_key", "person_id")
    scored = (
        pairs.select("record_key_l", "record_key_r", "blocked_by", "decision")
        .join(person.rename({"record_key": "record_key_l", "person_id": "p_l"}), on="record_key_l")
        .join(person.rename({"record_key": "record_key_r", "person_id": "p_r"}), on="record_key_r")
    )
    same = scored.filter(pl.col("p_l") == pl.col("p_r"))

    def counts(column: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in same.group_by(column).len().iter_rows()}

    return BlockingRecall(
        true_pairs=true_pairs(person).height,
        candidate_pairs=scored.height,
        found=same.height,
        by_rule=counts("blocked_by"),
        decisions=counts("decision"),
        false_links=scored.filter(
            (pl.col("p_l") != pl.col("p_r")) & (pl.col("decision") == "link")
        ).height,
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
    from pipelines.schema import RECORD_SCHEMA
    from pipelines.storage import read_staged

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
    from matching import link_records  # the matcher only when asked for

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
        clusters, blocking_recall(_candidates(records, result.pairs), truth), result.stats
    )


def _candidates(records: pl.DataFrame, kept: pl.DataFrame) -> pl.DataFrame:
    """Every candidate pair of ``records`` with its decision.

    ``link_records`` returns only the pairs it keeps (no model non-link), so
    the candidates are formed again and the rest count as ``non_link``.
    """
    from matching.blocking import candidate_pairs
    from matching.prepare import prepare_records
    from matching.settings import MatchSettings

    settings = MatchSettings()
    prepared = prepare_records(records)
    found, _ = candidate_pairs(prepared, settings.blocking_rules, settings.max_block_size)
    keys = prepared["record_key"]
    on = ["record_key_l", "record_key_r"]
    return (
        found.select(
            record_key_l=keys.gather(found["rid_l"]),
            record_key_r=keys.gather(found["rid_r"]),
            blocked_by="blocked_by",
        )
        .join(kept.select(*on, "decision"), on=on, how="left")
        .with_columns(pl.col("decision").fill_null("non_link"))
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
