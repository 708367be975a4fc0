"""``link_records``: deduplicate standardised records into clusters of one person each.

Wiring only: prepare the records, generate candidate pairs, compare them,
fit the model, score and decide each pair, then cluster.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from matching.blocking import candidate_pairs
from matching.clustering import cluster_records
from matching.comparisons import comparison_vectors
from matching.estimate import MatchModel, fit_model
from matching.prepare import prepare_records
from matching.scoring import decide, score_pairs
from matching.settings import MatchSettings


@dataclass(frozen=True)
class LinkResult:
    """What ``link_records`` returns.

    Attributes:
        pairs: One row per candidate pair: ``record_key_l < record_key_r``,
            ``blocked_by``, ``gamma_<name>`` (Int8) and ``w_<name>`` per
            comparison, ``match_weight``, ``match_probability``, ``decision``
            and ``decided_by``; sorted by the two keys.
        clusters: ``record_key``, ``cluster_id`` for every input record.
        model: The fitted parameters.
        stats: Counts and timings (blocking per rule, clusters, seconds per step).
    """

    pairs: pl.DataFrame
    clusters: pl.DataFrame
    model: MatchModel
    stats: dict[str, Any] = field(default_factory=dict)


def link_records(records: pl.DataFrame, settings: MatchSettings | None = None) -> LinkResult:
    """Find the records that belong to the same person.

    Args:
        records: Standardised records (``pipelines.schema.RECORD_SCHEMA``),
            ``record_key`` unique.
        settings: Matching settings; the defaults suit Vietnamese records.

    Returns:
        The scored pairs, the clusters, the fitted model and run statistics.

    Raises:
        matching.estimate.ModelError: If the model fails its own checks.
        ValueError: If ``record_key`` is null or repeated.
    """
    settings = settings or MatchSettings()
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 3)
        clock = now

    prepared = prepare_records(records)
    lap("prepare")
    pairs, blocking = candidate_pairs(prepared, settings.blocking_rules, settings.max_block_size)
    lap("blocking")
    gammas = comparison_vectors(prepared, pairs, settings.comparisons)
    lap("compare")
    model = fit_model(prepared, gammas, settings)
    lap("estimate")
    decided = decide(prepared, score_pairs(gammas, model), settings)
    clusters, decided, cluster_report = cluster_records(prepared, decided, settings)
    lap("decide_and_cluster")
    keys = prepared["record_key"]
    out = decided.with_columns(
        record_key_l=keys.gather(decided["rid_l"]), record_key_r=keys.gather(decided["rid_r"])
    )
    names = [c.name for c in settings.comparisons]
    out = out.select(
        "record_key_l",
        "record_key_r",
        "blocked_by",
        *(f"gamma_{n}" for n in names),
        *(f"w_{n}" for n in names),
        "match_weight",
        "match_probability",
        "decision",
        "decided_by",
    ).sort("record_key_l", "record_key_r")
    stats = {
        "records": prepared.height,
        "candidate_pairs": out.height,
        "decisions": dict(out["decision"].value_counts().sort("decision").iter_rows()),
        "blocking": [asdict(r) for r in blocking],
        "clusters": asdict(cluster_report),
        "seconds": seconds,
    }
    return LinkResult(pairs=out, clusters=clusters.sort("record_key"), model=model, stats=stats)
