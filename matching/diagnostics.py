"""Diagnostics of matching against a known truth: blocking recall.

How many true pairs did blocking offer to the model at all, by which rule,
and what did the model decide for them? ``candidate_decisions`` forms every
candidate pair again (``link_records`` keeps only the pairs it decides to
keep); ``blocking_recall`` scores them against the truth's pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from matching.blocking import candidate_pairs
from matching.prepare import prepare_records
from matching.settings import MatchSettings


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
        truth: ``record_key``, ``person_id`` (see ``dancu.evaluate.truth_record_keys``);
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


def candidate_decisions(
    records: pl.DataFrame, kept: pl.DataFrame, settings: MatchSettings | None = None
) -> pl.DataFrame:
    """Every candidate pair of ``records`` with its decision.

    ``link_records`` returns only the pairs it keeps (no model non-link), so
    the candidates are formed again and the rest count as ``non_link``.
    """
    settings = settings or MatchSettings()
    prepared = prepare_records(records)
    found, _ = candidate_pairs(prepared, settings.blocking.rules, settings.blocking.max_block_size)
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
