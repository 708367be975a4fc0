"""Pure metrics of a clustering against the truth: pairwise and B-cubed.

Pairwise precision and recall count record pairs; they come from the cluster
contingency table (sums of "n choose 2"), so no pair is ever enumerated.
B-cubed scores average, per record, the overlap of its predicted and true
clusters (Bagga & Baldwin 1998; Amigó et al. 2009, "A comparison of
extrinsic clustering evaluation metrics"). Frames in, numbers out: reading a
registry or a truth folder is the application's job (``dancu.evaluate``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

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
        review_pairs: Distinct pairs in the review queue (``match_link`` decision ``review``).
        review_share: review_pairs / matched_records (the queue's share of the records).
        recall_with_review: Recall once the queue is decided: a true pair counts
            when its records share a predicted person, or when a review pair
            joins the two predicted persons they are in (as the devset scorer).
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
    review_pairs: int = 0
    review_share: float = 0.0
    recall_with_review: float = 1.0

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
            "review queue",
            f"  pairs {self.review_pairs:,} ({100 * self.review_share:.2f} % of records)"
            f"  recall once decided {self.recall_with_review:.4f}",
            "twins",
            f"  pairs merged {self.twin_pairs_merged:,} of {self.twin_pairs:,}",
        ]
        return "\n".join(lines)


def evaluate_frames(
    truth: pl.DataFrame,
    predicted: pl.DataFrame,
    twins: pl.DataFrame,
    reviews: pl.DataFrame | None = None,
) -> Evaluation:
    """Compute the evaluation from frames (``dancu.evaluate`` reads them).

    Args:
        truth: Truth rows with province_code, local_id and person_id (null or
            empty for rows that are not a person).
        predicted: Registry rows with province_code, local_id and ``predicted``
            (the registry person_id).
        twins: Truth persons with person_id and twin_of (null or empty when
            not a twin).
        reviews: The review queue: ``province_code_l``, ``local_id_l``,
            ``province_code_r``, ``local_id_r`` per pair (none when omitted).

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
    queue, covered = _review_cover(joined, reviews)
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
        review_pairs=queue,
        review_share=queue / joined.height if joined.height else 0.0,
        recall_with_review=(correct + covered) / true_pairs if true_pairs else 1.0,
    )


def _review_cover(joined: pl.DataFrame, reviews: pl.DataFrame | None) -> tuple[int, int]:
    """Review pairs, and the true pairs a decided queue would join.

    A true pair not already in one predicted person counts when a review
    pair joins the two predicted persons its records are in: the sum, over
    such joined pairs of persons (p, q), of each true person's records in p
    times its records in q.
    """
    if reviews is None or reviews.height == 0:
        return 0, 0
    queue = reviews.unique().height
    side = joined.select(*_KEY, "predicted")
    edges = (
        reviews.select(
            province_code=pl.col("province_code_l").cast(pl.String),
            local_id=pl.col("local_id_l").cast(pl.String),
            province_code_r=pl.col("province_code_r").cast(pl.String),
            local_id_r=pl.col("local_id_r").cast(pl.String),
        )
        .join(side, on=_KEY)
        .join(
            side.rename({"province_code": "province_code_r", "local_id": "local_id_r"}),
            on=["province_code_r", "local_id_r"],
            suffix="_r",
        )
        .filter(pl.col("predicted") != pl.col("predicted_r"))
        .select(
            x=pl.min_horizontal("predicted", "predicted_r"),
            y=pl.max_horizontal("predicted", "predicted_r"),
        )
        .unique()
    )
    cells = joined.group_by("person_id", "predicted").len("n")
    covered = (
        cells.join(cells, on="person_id", suffix="_q")
        .filter(pl.col("predicted") < pl.col("predicted_q"))
        .join(edges, left_on=["predicted", "predicted_q"], right_on=["x", "y"])
        .select((pl.col("n").cast(pl.Int64) * pl.col("n_q").cast(pl.Int64)).sum())
        .item()
    )
    return queue, int(covered or 0)


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
