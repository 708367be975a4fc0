"""Registered clusters with reviewers' decisions applied, without scoring anything again.

When a reviewer decides a pair, the register should change at once, not at
the next batch. ``reviewed_clusters`` takes the records of the persons the
decisions touch, their current clusters (the persons), the pairs already
stored as links between them and the decisions in force, and clusters them
again with ``matching.clustering.cluster_records``: the same code, and so
the same rules, as a batch run. A "same person" decision is a link that
outranks everything; a "different" decision is a cannot-link, and a cluster
that holds one is rebuilt from its strongest stored links (prior pairs with
no stored link weigh 0), skipping any that would join the two records again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from matching.clustering import REVIEWER, Constraints, cluster_records
from matching.prepare import prepare_records
from matching.settings import MatchSettings

_EDGE = {"rid_l": pl.Int64, "rid_r": pl.Int64}


@dataclass(frozen=True)
class ReviewedClusters:
    """What ``reviewed_clusters`` returns.

    Attributes:
        clusters: ``record_key``, ``cluster_id`` for every record (cluster id =
            smallest record key in the cluster), sorted by ``record_key``.
        held_back: Stored links the new clusters no longer follow, now
            ``review`` (``record_key_l``, ``record_key_r``, ``decision``,
            ``decided_by = 'rule:cluster_split'`` or ``'rule:weak_bridge'``).
    """

    clusters: pl.DataFrame
    held_back: pl.DataFrame


def _rid_pairs(prepared: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """``record_key_l``/``record_key_r`` pairs as ``rid_l < rid_r`` (unknown keys dropped)."""
    rid = prepared.select("record_key", "rid")
    return (
        pairs.join(rid.rename({"record_key": "record_key_l", "rid": "a"}), on="record_key_l")
        .join(rid.rename({"record_key": "record_key_r", "rid": "b"}), on="record_key_r")
        .filter(pl.col("a") != pl.col("b"))
        .with_columns(rid_l=pl.min_horizontal("a", "b"), rid_r=pl.max_horizontal("a", "b"))
        .drop("a", "b", "record_key_l", "record_key_r")
    )


def reviewed_clusters(
    records: pl.DataFrame,
    prior_clusters: pl.DataFrame,
    links: pl.DataFrame,
    decisions: pl.DataFrame,
    settings: MatchSettings | None = None,
) -> ReviewedClusters:
    """Cluster registered records again under the reviewers' decisions.

    Args:
        records: Standardised records (``RECORD_SCHEMA``) of the persons concerned.
        prior_clusters: ``record_key``, ``cluster_id``: their current persons.
        links: Stored links between them: ``record_key_l``, ``record_key_r``,
            ``match_weight``, ``decided_by``.
        decisions: Decisions in force: ``record_key_l``, ``record_key_r``,
            ``same``; keys not among ``records`` are ignored.
        settings: Matching settings (the cannot-link rules and the bridge threshold).

    Returns:
        The clusters and the stored links the new clusters hold back.
    """
    settings = settings or MatchSettings()
    prepared = prepare_records(records)
    reviewed = (
        _rid_pairs(prepared, decisions.select("record_key_l", "record_key_r", "same"))
        .group_by("rid_l", "rid_r")
        .agg(pl.col("same").all())
        .sort("rid_l", "rid_r")
    )
    groups = (
        prior_clusters.join(prepared.select("record_key", "rid"), on="record_key")
        .select("rid", group=pl.col("cluster_id").rank("dense").cast(pl.Int64))
        .sort("rid")
    )
    # Only links inside a person: the decisions alone may join two persons.
    stored = (
        _rid_pairs(
            prepared, links.select("record_key_l", "record_key_r", "match_weight", "decided_by")
        )
        .join(reviewed, on=["rid_l", "rid_r"], how="anti")
        .join(groups.rename({"rid": "rid_l", "group": "g_l"}), on="rid_l")
        .join(groups.rename({"rid": "rid_r", "group": "g_r"}), on="rid_r")
        .filter(pl.col("g_l") == pl.col("g_r"))
        .drop("g_l", "g_r")
    )
    must = reviewed.filter(pl.col("same")).select(*_EDGE)
    pairs = pl.concat(
        [
            stored.select(
                *_EDGE,
                pl.col("match_weight").cast(pl.Float64),
                pl.col("decided_by").cast(pl.String),
            ),
            must.select(
                *_EDGE,
                match_weight=pl.lit(float("inf"), pl.Float64),
                decided_by=pl.lit(REVIEWER, pl.String),
            ),
        ]
    ).with_columns(decision=pl.lit("link"))
    weights = {
        (a, b): w for a, b, w in stored.select(*_EDGE, "match_weight").iter_rows() if w is not None
    }

    def weigh(some: pl.DataFrame) -> np.ndarray:
        return np.array(
            [weights.get((a, b), 0.0) for a, b in some.select(*_EDGE).iter_rows()], dtype=float
        )

    touched = pl.concat([reviewed["rid_l"], reviewed["rid_r"]]).unique().sort()
    constraints = Constraints(
        groups=groups,
        must=must,
        cannot=reviewed.filter(~pl.col("same")).select(*_EDGE),
        touched=touched,
    )
    clusters, decided, _ = cluster_records(prepared, pairs, settings, constraints, weigh)
    keys = prepared["record_key"]
    back = decided.filter(pl.col("decision") != "link")
    held_back = back.select(
        record_key_l=keys.gather(back["rid_l"]),
        record_key_r=keys.gather(back["rid_r"]),
        decision="decision",
        decided_by="decided_by",
    )
    return ReviewedClusters(
        clusters.sort("record_key"), held_back.sort("record_key_l", "record_key_r")
    )
