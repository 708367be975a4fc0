"""Clusters of records from the linked pairs, kept consistent with cannot-link rules.

Connected components over the ``link`` pairs (scipy's csgraph) give the
first clusters. Links chain: A~B and B~C put A and C together even if A and
C are twins. So every pair inside a cluster of three or more is checked
against the ``cannot_link`` rules; a cluster that breaks one is rebuilt from
its own links, strongest first, skipping any link that would join two
records that cannot be linked (greedy constrained merging; such clusters are
rare and small, so this part is a plain loop over their links). Skipped
links are downgraded to ``review`` with ``decided_by = 'rule:cluster_split'``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from matching.scoring import rule_flags
from matching.settings import MatchSettings

SPLIT_RULE = "rule:cluster_split"


@dataclass(frozen=True)
class ClusterReport:
    """Cluster size counts and the consistency pass's work."""

    sizes: dict[int, int]
    largest: int
    oversized: int
    split_clusters: int
    dropped_links: int


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _violations(
    prepared: pl.DataFrame, labels: np.ndarray, settings: MatchSettings
) -> pl.DataFrame:
    """Return cannot-link pairs (``rid_l``, ``rid_r``, ``component``) inside clusters of 3+."""
    rules = [r for r in settings.rules if r.effect == "cannot_link"]
    members = pl.DataFrame({"rid": np.arange(len(labels)), "component": labels})
    members = members.filter(pl.len().over("component") >= 3)
    empty = pl.DataFrame(schema={"rid_l": pl.Int64, "rid_r": pl.Int64, "component": pl.Int64})
    if not rules or members.height == 0:
        return empty
    inside = (
        members.join(members, on="component", suffix="_r")
        .filter(pl.col("rid") < pl.col("rid_r"))
        .select(rid_l="rid", rid_r="rid_r", component="component")
    )
    flags = rule_flags(prepared, inside, replace(settings, rules=tuple(rules)))
    hit = pl.any_horizontal(flags.columns) if flags.width else pl.lit(False)
    return pl.concat([inside, flags], how="horizontal").filter(hit).select(empty.columns)


def _greedy_keep(edges: pl.DataFrame, forbidden: pl.DataFrame) -> np.ndarray:
    """Keep links strongest first unless they join records that cannot be linked."""
    cannot: dict[int, set[int]] = defaultdict(set)
    for a, b in forbidden.select("rid_l", "rid_r").iter_rows():
        cannot[a].add(b)
        cannot[b].add(a)
    parent: dict[int, int] = {}
    members: dict[int, set[int]] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        members.setdefault(x, {x})
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keep = np.zeros(edges.height, dtype=bool)
    for i, (a, b) in enumerate(edges.select("rid_l", "rid_r").iter_rows()):
        ra, rb = find(a), find(b)
        if ra != rb and any(cannot[x] & members[rb] for x in members[ra]):
            continue
        keep[i] = True
        if ra != rb:
            parent[rb] = ra
            members[ra] |= members.pop(rb)
    return keep


def cluster_records(
    prepared: pl.DataFrame, pairs: pl.DataFrame, settings: MatchSettings
) -> tuple[pl.DataFrame, pl.DataFrame, ClusterReport]:
    """Cluster the records and enforce the cannot-link rules.

    Args:
        prepared: Output of ``prepare_records``.
        pairs: Decided pairs (``rid_l``, ``rid_r``, ``match_weight``, ``decision``, ``decided_by``).
        settings: The run's settings.

    Returns:
        ``record_key, cluster_id`` for every record (cluster id = smallest
        record key in the cluster), the pairs with split links downgraded to
        ``review``, and a ``ClusterReport``.
    """
    n = prepared.height
    links = pairs.filter(pl.col("decision") == "link")
    labels = _components(n, links["rid_l"].to_numpy(), links["rid_r"].to_numpy())
    bad = _violations(prepared, labels, settings)
    split_clusters = bad["component"].n_unique()
    dropped = pl.DataFrame(schema={"rid_l": pl.Int64, "rid_r": pl.Int64})
    if bad.height:
        bad_components = bad["component"].unique()
        in_bad = (
            links.with_columns(component=labels[links["rid_l"].to_numpy()])
            .filter(pl.col("component").is_in(bad_components.implode()))
            .sort(["match_weight", "rid_l", "rid_r"], descending=[True, False, False])
        )
        keep = _greedy_keep(in_bad, bad)
        dropped = in_bad.filter(~pl.Series(keep)).select("rid_l", "rid_r")
        pairs = (
            pairs.join(dropped.with_columns(split=pl.lit(True)), on=["rid_l", "rid_r"], how="left")
            .with_columns(
                decision=pl.when(pl.col("split"))
                .then(pl.lit("review"))
                .otherwise(pl.col("decision")),
                decided_by=pl.when(pl.col("split"))
                .then(pl.lit(SPLIT_RULE))
                .otherwise(pl.col("decided_by")),
            )
            .drop("split")
        )
        links = pairs.filter(pl.col("decision") == "link")
        labels = _components(n, links["rid_l"].to_numpy(), links["rid_r"].to_numpy())
    clusters = (
        pl.DataFrame({"rid": np.arange(n, dtype=np.int64), "component": labels})
        .with_columns(record_key=prepared["record_key"])
        .with_columns(cluster_id=pl.col("record_key").min().over("component"))
    )
    sizes = clusters.group_by("component").len("size").group_by("size").len("clusters").sort("size")
    largest = int(sizes.select(pl.col("size").max()).item() or 0)
    report = ClusterReport(
        sizes=dict(zip(sizes["size"].to_list(), sizes["clusters"].to_list(), strict=True)),
        largest=largest,
        oversized=int(sizes.filter(pl.col("size") > settings.max_cluster_size)["clusters"].sum()),
        split_clusters=split_clusters,
        dropped_links=dropped.height,
    )
    return clusters.select("record_key", "cluster_id"), pairs, report
