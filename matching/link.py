"""``link_records``: deduplicate standardised records into clusters of one person each.

Wiring only: ``matching.steps.LinkWork`` prepares the records, compares the
candidate pairs slice by slice (spilled to a temporary folder), fits the
model, scores and decides each pair, then clusters, one step after the
other in this process. An incremental run (new records against a registry)
passes the new records' keys, the clusters already registered and the
reviewers' decisions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from matching.estimate import MatchModel
from matching.settings import MatchSettings
from matching.steps import LinkResult, LinkWork

__all__ = ["LinkResult", "link_records"]


def link_records(
    records: pl.DataFrame,
    settings: MatchSettings | None = None,
    *,
    new_keys: pl.Series | None = None,
    prior_clusters: pl.DataFrame | None = None,
    decisions: pl.DataFrame | None = None,
    fallback: Sequence[MatchModel] = (),
    partitions: int = 1,
) -> LinkResult:
    """Find the records that belong to the same person.

    Args:
        records: Standardised records (``domain.schema.RECORD_SCHEMA``),
            ``record_key`` unique: for an incremental run, the registered
            records and the new ones together.
        settings: Matching settings; the defaults suit Vietnamese records.
        new_keys: When given, the ``record_key`` of the new records: candidate
            pairs are only those with at least one new record (blocking joins
            the new records alone to their blocks). u is still sampled over
            all the records.
        prior_clusters: ``record_key``, ``cluster_id`` of the registered
            persons: records sharing a prior cluster are held together, unless
            the cluster holds a cannot-link pair (twins rule, a reviewer's
            "not the same"), when it is split at its weakest pairs. Keys not
            among ``records`` are ignored.
        decisions: Reviewers' clerical decisions ``record_key_l``,
            ``record_key_r``, ``same`` (either key order). ``same=False`` is a
            cannot-link and ``same=True`` a must-link, overriding the model,
            the rules and the prior clusters; each such pair is in ``pairs``
            with ``decided_by = 'reviewer'`` (``blocked_by = 'reviewer'`` when
            no blocking rule found it). Pairs naming an unknown key are ignored.
        fallback: Accepted models whose m the run uses, in this order, when
            the records cannot fit a model that passes its checks (see
            ``matching.estimate.fit_model``); ``model.source`` then says which.
        partitions: How many partitions the candidate pairs are compared
            and scored in (``matching.steps``); the result is the same for any.

    Returns:
        The kept pairs (links, reviews and the pairs a rule or a reviewer
        decided: a model non-link is not returned, since at a million
        records there are tens of millions of them), the clusters (of every
        input record), the fitted model and run statistics (candidate pairs
        and decisions counted over all the candidates). The candidates are
        compared, scored and decided a slice at a time.

    Raises:
        matching.estimate.ModelError: If the model fails its own checks and
            no fallback fits the settings.
        ValueError: If ``record_key`` is null or repeated, or a new key is
            not among the records.
    """
    settings = settings or MatchSettings()
    with tempfile.TemporaryDirectory(prefix="dancu-link-") as folder:
        work = LinkWork.start(
            Path(folder) / "work",
            records,
            settings,
            partitions=partitions,
            new_keys=new_keys,
            prior_clusters=prior_clusters,
            decisions=decisions,
            fallback=fallback,
        )
        for part in range(partitions):
            work.compare(part)
        work.fit()
        for part in range(partitions):
            work.score(part)
        return work.finish()
