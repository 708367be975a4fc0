"""Scoring candidate pairs with a fitted model, and deciding each one.

For every comparison the pair's level becomes a weight ``log2(m/u)`` (0 for
a null level); the match weight is the prior weight plus their sum, and the
probability follows (see ``matching.fellegi_sunter``). The decision is
``link`` at or above the link threshold, ``review`` at or above the review
threshold, else ``non_link``; the deterministic rules then override a
``link`` or a ``review`` (``cannot_link``: non_link; ``keep_apart``: review;
``at_most_review``: a link becomes review) (a pair the model rejects is rejected by every rule
too, so the rules are evaluated only on the few pairs above the review
threshold: at a million records that is 0.2 % of the candidates).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from matching.estimate import MatchModel
from matching.fellegi_sunter import probability_from_weight
from matching.rules import rule_flags
from matching.settings import MatchSettings


def score_pairs(gammas: pl.DataFrame, model: MatchModel) -> pl.DataFrame:
    """Add ``w_<name>`` per comparison, ``match_weight`` and ``match_probability``.

    ``tf_<name>`` columns, where present, adjust the weights for term frequency.
    """
    weight_columns = []
    total = np.full(gammas.height, model.prior_weight)
    for comp in model.comparisons:
        level = gammas[f"gamma_{comp.name}"].to_numpy().astype(np.int64)
        tf_column = f"tf_{comp.name}"
        tf = (
            gammas[tf_column].to_numpy().astype(np.float64) if tf_column in gammas.columns else None
        )
        weights = comp.pair_weights(level, tf)
        total += weights
        weight_columns.append(pl.Series(f"w_{comp.name}", weights, dtype=pl.Float64))
    probability = np.asarray(probability_from_weight(total), dtype=np.float64)
    return gammas.with_columns(
        *weight_columns,
        pl.Series("match_weight", total, dtype=pl.Float64),
        pl.Series("match_probability", probability, dtype=pl.Float64),
    )


def _scatter(values: pl.Series, rows: np.ndarray, height: int) -> pl.Series:
    """A Boolean column of ``height`` rows: ``values`` at ``rows``, False elsewhere."""
    full = np.zeros(height, dtype=bool)
    full[rows] = values.to_numpy()
    return pl.Series(values.name, full, dtype=pl.Boolean)


def decide(
    prepared: pl.DataFrame,
    scored: pl.DataFrame,
    settings: MatchSettings,
    reviewed: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Add ``decision`` and ``decided_by`` from the thresholds, the rules and the reviewers.

    Args:
        prepared: Output of ``prepare_records``, or the columns the rules
            read (``matching.pair_values.encode_strings`` of them, to encode
            the strings once for many calls).
        scored: Scored pairs (``rid_l``, ``rid_r``, ``match_probability``, ...).
        settings: The run's settings.
        reviewed: Reviewers' clerical decisions (``rid_l``, ``rid_r``, ``same``);
            they override the model and the rules (``decided_by = 'reviewer'``).
    """
    p = pl.col("match_probability")
    decision = (
        pl.when(p >= settings.thresholds.link)
        .then(pl.lit("link"))
        .when(p >= settings.thresholds.review)
        .then(pl.lit("review"))
        .otherwise(pl.lit("non_link"))
    )
    frame = scored.with_columns(decision=decision, decided_by=pl.lit("model"))
    # Only a model link or review can be changed by a rule: flag those rows alone.
    open_rows = np.flatnonzero((frame["decision"] != "non_link").to_numpy())
    flags = rule_flags(prepared, frame[open_rows], settings.rules)
    frame = frame.with_columns(
        _scatter(flags[column], open_rows, frame.height) for column in flags.columns
    )
    for rule in settings.rules:
        fired = pl.col(f"rule_{rule.name}")
        if rule.effect == "cannot_link":
            applies = fired
            outcome = pl.lit("non_link")
        elif rule.effect == "keep_apart":
            applies = fired
            outcome = pl.lit("review")
        else:
            applies = fired & (pl.col("decision") == "link")
            outcome = pl.lit("review")
        # A pair already decided by an earlier rule keeps that rule's decision.
        applies = applies & (pl.col("decided_by") == "model")
        frame = frame.with_columns(
            decision=pl.when(applies).then(outcome).otherwise(pl.col("decision")),
            decided_by=pl.when(applies)
            .then(pl.lit(f"rule:{rule.name}"))
            .otherwise(pl.col("decided_by")),
        )
    frame = frame.drop(f"rule_{rule.name}" for rule in settings.rules)
    if reviewed is None or reviewed.height == 0:
        return frame
    same = pl.col("same")
    return (
        frame.join(reviewed.select("rid_l", "rid_r", "same"), on=["rid_l", "rid_r"], how="left")
        .with_columns(
            decision=pl.when(same.is_null())
            .then(pl.col("decision"))
            .when(same)
            .then(pl.lit("link"))
            .otherwise(pl.lit("non_link")),
            decided_by=pl.when(same.is_null())
            .then(pl.col("decided_by"))
            .otherwise(pl.lit("reviewer")),
        )
        .drop("same")
    )
