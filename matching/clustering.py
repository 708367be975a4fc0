"""Clusters of records from the linked pairs, kept consistent with cannot-links.

Connected components over the ``link`` pairs (scipy's csgraph), together
with the records already registered as one person (``prior`` groups, held
together as must-links), give the first clusters. Links chain: A~B and B~C
put A and C together even if A and C are twins. So every pair inside a
cluster is checked against the rules that keep records apart (``cannot_link``,
``keep_apart``) and the reviewers'
"not the same person" decisions; a cluster that breaks one is rebuilt from
its own edges, strongest first, skipping any edge that would join two
records that cannot be linked (greedy constrained merging; such clusters are
rare and small, so this part is a plain loop over their edges). A record at
the end of a skipped link that conflicts with nobody on the other side fits
both people: it loses its model links (to review) and the cluster is
rebuilt without them, so it is linked to neither. Reviewers'
"same person" decisions come first, then links and prior pairs by match
weight. Skipped links are downgraded to ``review`` with
``decided_by = 'rule:cluster_split'`` (``'rule:fits_both'`` for the links of
a record that fits both sides, see below). Before that, a model link below
``MatchSettings.thresholds.bridge`` that alone joins two groups of two or more
records (a weak bridge) goes to ``review`` (``decided_by = 'rule:weak_bridge'``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from matching.fellegi_sunter import weight_from_probability
from matching.rules import cannot_link_pairs
from matching.settings import MatchSettings

SPLIT_RULE = "rule:cluster_split"
BRIDGE_RULE = "rule:weak_bridge"
FITS_BOTH_RULE = "rule:fits_both"
REVIEWER = "reviewer"

_EDGES = {"rid_l": pl.Int64, "rid_r": pl.Int64}

#: Scores rid pairs with the fitted model: returns their match weights.
Weigher = Callable[[pl.DataFrame], np.ndarray]


@dataclass(frozen=True)
class Constraints:
    """What the clusters must respect besides the model's links (all in ``rid``).

    Attributes:
        groups: ``rid``, ``group``: records already registered as one person,
            held together unless a cannot-link pair lies inside.
        must: ``rid_l``, ``rid_r``: reviewers' "same person" decisions.
        cannot: ``rid_l``, ``rid_r``: reviewers' "not the same person" decisions.
        touched: When given, only clusters holding one of these records are
            checked (the others were checked when they were formed).
    """

    groups: pl.DataFrame
    must: pl.DataFrame
    cannot: pl.DataFrame
    touched: pl.Series | None = None

    @staticmethod
    def none() -> Constraints:
        """No prior groups and no reviewer decisions."""
        return Constraints(
            groups=pl.DataFrame(schema={"rid": pl.Int64, "group": pl.Int64}),
            must=pl.DataFrame(schema=_EDGES),
            cannot=pl.DataFrame(schema=_EDGES),
        )


@dataclass(frozen=True)
class ClusterReport:
    """Cluster size counts and the consistency pass's work."""

    sizes: dict[int, int]
    largest: int
    oversized: int
    split_clusters: int
    dropped_links: int
    split_prior_groups: int
    weak_bridges: int
    records_fitting_both: int = 0


def _downgrade(pairs: pl.DataFrame, which: pl.DataFrame, rule: str) -> pl.DataFrame:
    """Set the pairs in ``which`` (``rid_l``, ``rid_r``) to ``review``, decided by ``rule``."""
    hit = which.select(*_EDGES).with_columns(hit=pl.lit(True))
    return (
        pairs.join(hit, on=["rid_l", "rid_r"], how="left")
        .with_columns(
            decision=pl.when(pl.col("hit")).then(pl.lit("review")).otherwise(pl.col("decision")),
            decided_by=pl.when(pl.col("hit")).then(pl.lit(rule)).otherwise(pl.col("decided_by")),
        )
        .drop("hit")
    )


def _components(n: int, edges: pl.DataFrame) -> np.ndarray:
    left, right = edges["rid_l"].to_numpy(), edges["rid_r"].to_numpy()
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _chains(groups: pl.DataFrame) -> pl.DataFrame:
    """Edges joining each group's records in ``rid`` order (enough for connectivity)."""
    ordered = groups.sort("group", "rid")
    return (
        ordered.with_columns(rid_r=pl.col("rid").shift(-1).over("group"))
        .drop_nulls("rid_r")
        .select(rid_l="rid", rid_r=pl.col("rid_r").cast(pl.Int64))
    )


def _inside(members: pl.DataFrame) -> pl.DataFrame:
    """All pairs ``rid_l < rid_r`` of records sharing ``component``."""
    return (
        members.join(members, on="component", suffix="_r")
        .filter(pl.col("rid") < pl.col("rid_r"))
        .select(rid_l="rid", rid_r="rid_r", component="component")
    )


def _violations(
    prepared: pl.DataFrame,
    labels: np.ndarray,
    settings: MatchSettings,
    constraints: Constraints,
) -> pl.DataFrame:
    """Return cannot-link pairs (``rid_l``, ``rid_r``, ``component``) inside clusters."""
    members = pl.DataFrame({"rid": np.arange(len(labels)), "component": labels})
    members = members.filter(pl.len().over("component") >= 2)
    if constraints.touched is not None:
        touched = labels[constraints.touched.to_numpy()]
        members = members.filter(pl.col("component").is_in(pl.Series(touched).implode()))
    empty = pl.DataFrame(schema={**_EDGES, "component": pl.Int64})
    found = [empty]
    if members.height:
        inside = _inside(members)
        hit = cannot_link_pairs(prepared, inside, settings.rules)
        ruled = inside.filter(hit).select(empty.columns)
        # A reviewer's "same person" outranks the rules.
        found.append(ruled.join(constraints.must, on=["rid_l", "rid_r"], how="anti"))
    cannot = constraints.cannot.with_columns(
        component=labels[constraints.cannot["rid_l"].to_numpy()],
        other=labels[constraints.cannot["rid_r"].to_numpy()],
    )
    found.append(cannot.filter(pl.col("component") == pl.col("other")).select(empty.columns))
    return pl.concat(found).unique(["rid_l", "rid_r"]).sort("rid_l", "rid_r")


def _greedy_keep(edges: pl.DataFrame, forbidden: pl.DataFrame) -> tuple[np.ndarray, set[int]]:
    """Keep edges in order unless they join records that cannot be linked.

    Returns the edges kept and the *bridges*: records at the end of a
    skipped model link that conflict with no record on its other side. Such
    a record fits two people kept apart (a record written without
    diacritics, or with the year alone, that agrees with both twins), so
    which one it belongs to is not the order of the weights to decide.
    """
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
    bridges: set[int] = set()
    rows = edges.select("rid_l", "rid_r", "model").iter_rows()
    for i, (a, b, model) in enumerate(rows):
        ra, rb = find(a), find(b)
        if ra != rb and any(cannot[x] & members[rb] for x in members[ra]):
            if model:
                ends = ((a, rb), (b, ra))
                bridges.update(x for x, other in ends if not cannot[x] & members[other])
            continue
        keep[i] = True
        if ra != rb:
            parent[rb] = ra
            members[ra] |= members.pop(rb)
    return keep, bridges


#: Rounds of setting bridges aside (each may reveal bridges of the next).
_BRIDGE_ROUNDS = 5


def _rebuild(
    links: pl.DataFrame,
    groups: pl.DataFrame,
    constraints: Constraints,
    labels: np.ndarray,
    bad: pl.DataFrame,
    weigh: Weigher | None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
    """Rebuild the clusters holding a cannot-link pair.

    Returns the edges kept, the model links dropped and the ``rid`` of the
    records set aside as bridges (their model links dropped: linked to
    neither side).
    """
    bad_components = bad["component"].unique().implode()

    def within(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(component=labels[frame["rid_l"].to_numpy()]).filter(
            pl.col("component").is_in(bad_components)
        )

    must = within(constraints.must).with_columns(
        weight=pl.lit(float("inf")), rank=pl.lit(0), model=pl.lit(False)
    )
    model = within(links.select("rid_l", "rid_r", weight="match_weight")).with_columns(
        rank=pl.lit(1), model=pl.col("rid_l").is_not_null()
    )
    grouped = groups.with_columns(component=labels[groups["rid"].to_numpy()]).filter(
        pl.col("component").is_in(bad_components)
    )
    prior = _inside(grouped.select("rid", component="group")).select(_EDGES.keys())
    prior_weights = weigh(prior) if weigh is not None and prior.height else np.zeros(prior.height)
    prior = within(prior.with_columns(weight=pl.Series(prior_weights, dtype=pl.Float64)))
    edges = (
        pl.concat(
            [
                e.select("rid_l", "rid_r", pl.col("weight").cast(pl.Float64), "rank", "model")
                for e in (must, model, prior.with_columns(rank=pl.lit(1), model=pl.lit(False)))
            ]
        )
        .sort(["rank", "weight", "rid_l", "rid_r"], descending=[False, True, False, False])
        .unique(["rid_l", "rid_r"], keep="first", maintain_order=True)
    )
    # A record that fits two people kept apart loses its model links (they go
    # to review) and the rest is rebuilt without them, until none is left.
    set_aside: set[int] = set()
    for _ in range(_BRIDGE_ROUNDS):
        keep, bridges = _greedy_keep(edges, bad)
        if not bridges - set_aside:
            break
        set_aside |= bridges
        aside = pl.Series(sorted(set_aside), dtype=pl.Int64).implode()
        edges = edges.filter(
            ~pl.col("model") | ~(pl.col("rid_l").is_in(aside) | pl.col("rid_r").is_in(aside))
        )
    else:
        keep, _ = _greedy_keep(edges, bad)
    kept = edges.filter(pl.Series(keep)).select(_EDGES.keys())
    dropped = model.join(kept, on=["rid_l", "rid_r"], how="anti").select(_EDGES.keys())
    return kept, dropped, pl.Series("rid", sorted(set_aside), dtype=pl.Int64)


def _weak_bridges(
    links: pl.DataFrame, chains: pl.DataFrame, labels: np.ndarray, floor: float
) -> pl.DataFrame:
    """Model links under ``floor`` that alone join two groups of two or more records.

    Such a link decides on its own that two groups of records are one
    person; it is left for review instead. A link to a single record is not
    a bridge in this sense (that is how most duplicates join). Clusters of
    four or more are rare and small, so this is a plain search per link.
    """
    edges = pl.concat(
        [
            links.select(*_EDGES, weight="match_weight", model=pl.col("decided_by") == "model"),
            chains.select(*_EDGES, weight=pl.lit(float("inf")), model=pl.lit(False)),
        ]
    )
    edges = edges.with_columns(component=labels[edges["rid_l"].to_numpy()])
    sizes = pl.DataFrame({"component": labels}).group_by("component").len("size")
    edges = edges.join(sizes, on="component").filter(pl.col("size") >= 4)
    weak = edges.filter(pl.col("model") & (pl.col("weight") < floor))
    found = []
    for (component,), candidates in weak.group_by("component", maintain_order=True):
        inside = edges.filter(pl.col("component") == component)
        size = int(inside["size"][0])
        pairs = list(inside.select("rid_l", "rid_r").iter_rows())
        for a, b in candidates.select("rid_l", "rid_r").iter_rows():
            neighbours: dict[int, set[int]] = defaultdict(set)
            for x, y in pairs:
                if (x, y) != (a, b):
                    neighbours[x].add(y)
                    neighbours[y].add(x)
            seen, stack = {a}, [a]
            while stack:
                for nxt in neighbours[stack.pop()] - seen:
                    seen.add(nxt)
                    stack.append(nxt)
            if b not in seen and len(seen) >= 2 and size - len(seen) >= 2:
                found.append((a, b))
    return pl.DataFrame(found, schema=_EDGES, orient="row")


def _review_fits(
    prepared: pl.DataFrame,
    pairs: pl.DataFrame,
    labels: np.ndarray,
    settings: MatchSettings,
    constraints: Constraints,
) -> pl.Series:
    """Records linked into one cluster that fit, almost as well, a person kept apart from it.

    A record X linked into cluster C (its best link weighing w) with a model
    ``review`` pair of weight at least ``w - settings.thresholds.fits_margin_bits`` to a
    record Y of another cluster D, where some record of D is kept apart from
    some record of C other than X, fits both people: which one it is, is for
    a clerk to say (a year-only record beside two namesakes of one year).
    Returns their ``rid``.
    """
    empty = pl.Series("rid", [], dtype=pl.Int64)
    weight = pl.col("match_weight")
    links = pairs.filter(pl.col("decision") == "link").select("rid_l", "rid_r", weight)
    reviews = pairs.filter((pl.col("decision") == "review") & (pl.col("decided_by") == "model"))
    if links.height == 0 or reviews.height == 0:
        return empty
    best = (
        pl.concat([links.select(rid="rid_l", w=weight), links.select(rid="rid_r", w=weight)])
        .group_by("rid")
        .agg(best=pl.col("w").max())
    )
    directed = pl.concat(
        [
            reviews.select(x="rid_l", y="rid_r", w=weight),
            reviews.select(x="rid_r", y="rid_l", w=weight),
        ]
    )
    candidates = directed.join(best, left_on="x", right_on="rid").filter(
        pl.col("w") >= pl.col("best") - settings.thresholds.fits_margin_bits
    )
    candidates = candidates.with_columns(
        cx=pl.Series(labels[candidates["x"].to_numpy()], dtype=pl.Int64),
        cy=pl.Series(labels[candidates["y"].to_numpy()], dtype=pl.Int64),
    ).filter(pl.col("cx") != pl.col("cy"))
    if candidates.height == 0:
        return empty
    everyone = pl.DataFrame({"rid": np.arange(len(labels), dtype=np.int64), "component": labels})
    involved = pl.concat([candidates["cx"], candidates["cy"]]).unique().implode()
    members = everyone.filter(pl.col("component").is_in(involved))
    checks = (
        candidates.join(members.rename({"rid": "z", "component": "cx"}), on="cx")
        .filter(pl.col("z") != pl.col("x"))
        .join(members.rename({"rid": "v", "component": "cy"}), on="cy")
        .select(
            "x",
            rid_l=pl.min_horizontal("z", "v"),
            rid_r=pl.max_horizontal("z", "v"),
        )
    )
    if checks.height == 0:
        return empty
    tested = checks.select("rid_l", "rid_r").unique().sort("rid_l", "rid_r")
    apart = tested.filter(cannot_link_pairs(prepared, tested, settings.rules))
    apart = pl.concat([apart, constraints.cannot.select(_EDGES.keys())]).join(
        constraints.must, on=["rid_l", "rid_r"], how="anti"
    )
    found = checks.join(apart, on=["rid_l", "rid_r"], how="semi")["x"].unique().sort()
    return found.rename("rid").cast(pl.Int64)


def cluster_records(
    prepared: pl.DataFrame,
    pairs: pl.DataFrame,
    settings: MatchSettings,
    constraints: Constraints | None = None,
    weigh: Weigher | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, ClusterReport]:
    """Cluster the records and enforce the cannot-links.

    Args:
        prepared: Output of ``prepare_records``.
        pairs: Decided pairs (``rid_l``, ``rid_r``, ``match_weight``, ``decision``,
            ``decided_by``); reviewers' "same person" pairs are ``link``.
        settings: The run's settings.
        constraints: Prior groups and reviewer decisions (none by default).
        weigh: Scores pairs of a prior group that must be split (their match
            weights order the greedy rebuild); without it they weigh 0.

    Returns:
        ``record_key, cluster_id`` for every record (cluster id = smallest
        record key in the cluster), the pairs with split links downgraded to
        ``review``, and a ``ClusterReport``.
    """
    constraints = constraints or Constraints.none()
    n = prepared.height
    links = pairs.filter(pl.col("decision") == "link").select(
        "rid_l", "rid_r", "match_weight", "decided_by"
    )
    groups = constraints.groups.filter(pl.len().over("group") >= 2)
    chains = _chains(groups)
    labels = _components(n, pl.concat([links.select(_EDGES.keys()), chains]))
    floor = float(weight_from_probability(settings.thresholds.bridge))
    bridges = _weak_bridges(links, chains, labels, floor)
    if bridges.height:
        pairs = _downgrade(pairs, bridges, BRIDGE_RULE)
        links = links.join(bridges, on=["rid_l", "rid_r"], how="anti")
        labels = _components(n, pl.concat([links.select(_EDGES.keys()), chains]))
    bad = _violations(prepared, labels, settings, constraints)
    split_clusters = bad["component"].n_unique()
    dropped = pl.DataFrame(schema=_EDGES)
    bridged = pl.Series("rid", [], dtype=pl.Int64)
    edges = pl.concat([links.select(_EDGES.keys()), chains])
    if bad.height:
        kept, dropped, bridged = _rebuild(links, groups, constraints, labels, bad, weigh)
        bad_components = bad["component"].unique().implode()

        def outside(frame: pl.DataFrame) -> pl.DataFrame:
            component = labels[frame["rid_l"].to_numpy()]
            return frame.filter(~pl.Series(component).is_in(bad_components))

        edges = pl.concat([outside(links.select(_EDGES.keys())), outside(chains), kept])
        labels = _components(n, edges)
        if dropped.height:
            aside = bridged.implode()
            fits_both = pl.col("rid_l").is_in(aside) | pl.col("rid_r").is_in(aside)
            pairs = _downgrade(pairs, dropped.filter(fits_both), FITS_BOTH_RULE)
            pairs = _downgrade(pairs, dropped.filter(~fits_both), SPLIT_RULE)
    ambiguous = _review_fits(prepared, pairs, labels, settings, constraints)
    if ambiguous.len():
        aside = ambiguous.implode()
        touching = pl.col("rid_l").is_in(aside) | pl.col("rid_r").is_in(aside)
        own = pairs.filter(
            (pl.col("decision") == "link") & (pl.col("decided_by") == "model") & touching
        ).select(_EDGES.keys())
        pairs = _downgrade(pairs, own, FITS_BOTH_RULE)
        labels = _components(n, edges.join(own, on=["rid_l", "rid_r"], how="anti"))
        bridged = pl.concat([bridged, ambiguous]).unique().sort()
        dropped = pl.concat([dropped, own]).unique()
    clusters = (
        pl.DataFrame({"rid": np.arange(n, dtype=np.int64), "component": labels})
        .with_columns(record_key=prepared["record_key"])
        .with_columns(cluster_id=pl.col("record_key").min().over("component"))
    )
    sizes = clusters.group_by("component").len("size").group_by("size").len("clusters").sort("size")
    largest = int(sizes.select(pl.col("size").max()).item() or 0)
    split_groups = (
        groups.with_columns(component=labels[groups["rid"].to_numpy()])
        .group_by("group")
        .agg(pl.col("component").n_unique().alias("parts"))
        .filter(pl.col("parts") > 1)
        .height
    )
    report = ClusterReport(
        sizes=dict(zip(sizes["size"].to_list(), sizes["clusters"].to_list(), strict=True)),
        largest=largest,
        oversized=int(
            sizes.filter(pl.col("size") > settings.limits.max_cluster_size)["clusters"].sum()
        ),
        split_clusters=split_clusters,
        dropped_links=dropped.height,
        split_prior_groups=split_groups,
        weak_bridges=bridges.height,
        records_fitting_both=bridged.len(),
    )
    return clusters.select("record_key", "cluster_id"), pairs, report
