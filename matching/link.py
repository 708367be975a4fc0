"""``link_records``: deduplicate standardised records into clusters of one person each.

Wiring only: prepare the records, generate candidate pairs, compare them,
fit the model, score and decide each pair, then cluster. The candidates are
never all in memory: they come from blocking in slices, each slice is
compared and its gamma vectors spilled to a temporary Arrow file, and after
the fit the files are scored and decided one by one, keeping the links,
reviews and rule decisions. An incremental run (new records against a
registry) passes the new records' keys, the clusters already registered and
the reviewers' decisions.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from matching.blocking import CandidateStream, RuleReport
from matching.clustering import REVIEWER, Constraints, cluster_records
from matching.comparisons import comparison_vectors, term_frequencies
from matching.estimate import MatchModel, fit_model, merge_pattern_counts, pattern_counts
from matching.pair_values import ScoreCache, encode_strings
from matching.prepare import prepare_records
from matching.scoring import decide, score_pairs
from matching.settings import MatchSettings


@dataclass(frozen=True)
class LinkResult:
    """What ``link_records`` returns.

    Attributes:
        pairs: One row per kept candidate pair: every ``link`` and
            ``review``, and every pair a rule or a reviewer decided
            (``decided_by != 'model'``); the model's plain non-links are
            dropped (``stats['candidate_pairs']`` and ``stats['decisions']``
            still count them). Columns: ``record_key_l < record_key_r``,
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


def _rids(prepared: pl.DataFrame, keys: pl.Series) -> pl.Series:
    """``rid`` of each key present in ``prepared`` (unknown keys are dropped)."""
    found = prepared.select("record_key", "rid").join(
        pl.DataFrame({"record_key": keys.cast(pl.String)}).unique(), on="record_key", how="semi"
    )
    return found["rid"].sort()


def _prior_groups(prepared: pl.DataFrame, prior_clusters: pl.DataFrame | None) -> pl.DataFrame:
    """``rid``, ``group`` (an integer per prior cluster) for the records present."""
    if prior_clusters is None:
        return pl.DataFrame(schema={"rid": pl.Int64, "group": pl.Int64})
    return (
        prior_clusters.select(pl.col("record_key").cast(pl.String), pl.col("cluster_id"))
        .unique("record_key", keep="first")
        .join(prepared.select("record_key", "rid"), on="record_key")
        .select("rid", group=pl.col("cluster_id").rank("dense").cast(pl.Int64))
        .sort("rid")
    )


def _reviewed(prepared: pl.DataFrame, decisions: pl.DataFrame | None) -> pl.DataFrame:
    """Reviewers' decisions as ``rid_l < rid_r``, ``same``; "not the same" wins a conflict."""
    schema = {"rid_l": pl.Int64, "rid_r": pl.Int64, "same": pl.Boolean}
    if decisions is None or decisions.height == 0:
        return pl.DataFrame(schema=schema)
    rid = prepared.select("record_key", "rid")
    return (
        decisions.select(
            pl.col("record_key_l").cast(pl.String),
            pl.col("record_key_r").cast(pl.String),
            pl.col("same").cast(pl.Boolean),
        )
        .drop_nulls()
        .join(rid.rename({"record_key": "record_key_l", "rid": "a"}), on="record_key_l")
        .join(rid.rename({"record_key": "record_key_r", "rid": "b"}), on="record_key_r")
        .filter(pl.col("a") != pl.col("b"))
        .group_by(rid_l=pl.min_horizontal("a", "b"), rid_r=pl.max_horizontal("a", "b"))
        .agg(pl.col("same").all())
        .select(schema.keys())
        .sort("rid_l", "rid_r")
    )


def _matching_frame(prepared: pl.DataFrame, settings: MatchSettings) -> pl.DataFrame:
    """The prepared records as the rest of the run reads them, strings encoded once.

    Kept: the ``rid``, the ``record_key``, the keys of the blocking and
    training rules, and the columns of the comparisons and rules. Those of
    the comparisons and rules are encoded (``encode_strings``: one shared
    Categorical), so every slice gathers codes instead of strings and the
    score cache of one run applies to them all; equal strings have equal
    codes, so blocking on the codes forms the same blocks. The other derived
    strings are let go: at ten million records each string column costs
    160 MB of views.
    """
    read = [c for comp in settings.comparisons for c in comp.columns]
    read += [c for rule in settings.rules for c in rule.columns]
    encoded = encode_strings(prepared.select(list(dict.fromkeys(read))))
    rules = (*settings.blocking.rules, *settings.training.rules)
    keys = {c for r in rules for c in (*r.keys, *r.split_keys, *([r.lacking] if r.lacking else []))}
    plain = [c for c in prepared.columns if c in keys and c not in encoded.columns]
    return pl.concat([prepared.select("rid", "record_key", *plain), encoded], how="horizontal")


@dataclass(frozen=True)
class _Compared:
    """The candidates' gamma vectors, spilled to disk a slice at a time."""

    files: list[Path]
    patterns: tuple[np.ndarray, np.ndarray]  # of the blocked candidates (not reviewer-only)
    candidates: int
    blocking: list[RuleReport]
    seconds: dict[str, float]


def _compare(
    prepared: pl.DataFrame,
    settings: MatchSettings,
    focus: pl.Series | None,
    reviewed: pl.DataFrame,
    spill: Path,
) -> _Compared:
    """Block and compare slice by slice; write each slice's gammas to ``spill``.

    A slice is written as Arrow IPC and let go, so memory holds one rule's
    pairs and one slice's comparison frame, never every candidate: at ten
    million records they are billions of bytes. The reviewed pairs no rule
    found are compared last, in their own file, and left out of the pattern
    counts the prior is estimated on.
    """
    comparisons = settings.comparisons
    names = [c.name for c in comparisons]
    stream = CandidateStream(
        prepared,
        settings.blocking.rules,
        settings.blocking.max_block_size,
        focus,
        slice_size=settings.limits.pair_slice,
        records_per_part=settings.limits.records_per_part,
    )
    # Reviewed pairs are looked up among the candidates as one integer each.
    n = max(prepared.height, 1)
    pair_key = pl.col("rid_l") * n + pl.col("rid_r")
    reviewed_keys = reviewed.select(pair_key).to_series().implode()
    cache = ScoreCache()  # names recur across slices: each pair of values is scored once
    files: list[Path] = []
    parts: list[pl.DataFrame] = []
    found: list[pl.DataFrame] = []
    seconds = {"blocking": 0.0, "compare": 0.0}
    candidates = 0
    slices = iter(stream)
    while True:
        clock = time.perf_counter()
        pairs = next(slices, None)
        seconds["blocking"] += time.perf_counter() - clock
        if pairs is None:
            break
        clock = time.perf_counter()
        found.append(pairs.filter(pair_key.is_in(reviewed_keys)).select("rid_l", "rid_r"))
        gammas = comparison_vectors(prepared, pairs, comparisons, cache=cache)
        parts.append(pattern_counts(gammas, names))
        files.append(spill / f"{len(files):06d}.arrow")
        gammas.write_ipc(files[-1], compression="lz4")
        candidates += gammas.height
        seconds["compare"] += time.perf_counter() - clock
    clock = time.perf_counter()
    extra = reviewed.select("rid_l", "rid_r").join(
        pl.concat(found, how="vertical_relaxed") if found else reviewed.clear(),
        on=["rid_l", "rid_r"],
        how="anti",
    )
    if extra.height or not files:  # no candidate at all: one empty slice keeps the schema
        gammas = comparison_vectors(
            prepared,
            extra.with_columns(blocked_by=pl.lit(REVIEWER)).sort("rid_l", "rid_r"),
            comparisons,
        )
        files.append(spill / f"{len(files):06d}.arrow")
        gammas.write_ipc(files[-1], compression="lz4")
        candidates += gammas.height
    seconds["compare"] += time.perf_counter() - clock
    return _Compared(
        files=files,
        patterns=merge_pattern_counts(parts, names),
        candidates=candidates,
        blocking=stream.reports,
        seconds={step: round(t, 3) for step, t in seconds.items()},
    )


def _decide_kept(
    prepared: pl.DataFrame,
    files: list[Path],
    model: MatchModel,
    settings: MatchSettings,
    reviewed: pl.DataFrame,
    frequencies: dict[str, pl.Series],
) -> pl.DataFrame:
    """Score and decide the compared slices; keep the pairs worth keeping.

    Kept: ``link`` and ``review`` pairs, and any pair a rule or a reviewer
    decided. A model ``non_link`` is dropped with its weights: clustering
    only follows links, and at a million records the non-links are tens of
    millions of rows. Sorted by ``rid_l, rid_r``.
    """
    tf_columns = {c.name: c.tf_column for c in settings.comparisons if c.tf_column}
    kept = []
    for path in files:
        some = pl.read_ipc(path)
        some = some.with_columns(
            frequencies[column].gather(some["rid_l"]).alias(f"tf_{name}")
            for name, column in tf_columns.items()
        )
        decided = decide(prepared, score_pairs(some, model), settings, reviewed)
        kept.append(
            decided.filter(
                (pl.col("decision") != "non_link") | (pl.col("decided_by") != "model")
            ).drop(f"tf_{name}" for name in tf_columns)
        )
    return pl.concat(kept).sort("rid_l", "rid_r")


def link_records(
    records: pl.DataFrame,
    settings: MatchSettings | None = None,
    *,
    new_keys: pl.Series | None = None,
    prior_clusters: pl.DataFrame | None = None,
    decisions: pl.DataFrame | None = None,
    fallback: Sequence[MatchModel] = (),
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
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 3)
        clock = now

    prepared = prepare_records(records)
    focus = None
    if new_keys is not None:
        focus = _rids(prepared, new_keys)
        if focus.len() != new_keys.cast(pl.String).drop_nulls().n_unique():
            raise ValueError("new_keys must name records given in `records`")
    reviewed = _reviewed(prepared, decisions)
    frequencies = {
        c.tf_column: term_frequencies(prepared, c.tf_column)
        for c in settings.comparisons
        if c.tf_column
    }
    lap("prepare")
    prepared = _matching_frame(prepared, settings)
    with tempfile.TemporaryDirectory(prefix="dancu-gammas-") as spill:
        compared = _compare(prepared, settings, focus, reviewed, Path(spill))
        seconds.update(compared.seconds)
        clock = time.perf_counter()
        model = fit_model(prepared, compared.patterns, settings, focus=focus, fallback=fallback)
        lap("estimate")
        decided = _decide_kept(prepared, compared.files, model, settings, reviewed, frequencies)
    candidates = compared.candidates
    blocking = compared.blocking

    def weigh(some: pl.DataFrame) -> np.ndarray:
        gammas = comparison_vectors(prepared, some, settings.comparisons, frequencies)
        scored = score_pairs(gammas, model)
        return scored["match_weight"].to_numpy()

    touched = None
    if focus is not None:
        touched = pl.concat([focus, reviewed["rid_l"], reviewed["rid_r"]]).unique().sort()
    constraints = Constraints(
        groups=_prior_groups(prepared, prior_clusters),
        must=reviewed.filter(pl.col("same")).select("rid_l", "rid_r"),
        cannot=reviewed.filter(~pl.col("same")).select("rid_l", "rid_r"),
        touched=touched,
    )
    clusters, decided, cluster_report = cluster_records(
        prepared, decided, settings, constraints, weigh
    )
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
    decided_counts = dict(out["decision"].value_counts().sort("decision").iter_rows())
    if candidates > out.height:
        decided_counts["non_link"] = decided_counts.get("non_link", 0) + candidates - out.height
    stats = {
        "records": prepared.height,
        "new_records": prepared.height if focus is None else focus.len(),
        "candidate_pairs": candidates,
        "reviewer_decisions": reviewed.height,
        "decisions": dict(sorted(decided_counts.items())),
        "blocking": [asdict(r) for r in blocking],
        "clusters": asdict(cluster_report),
        "model_source": model.source,
        "seconds": seconds,
    }
    return LinkResult(pairs=out, clusters=clusters.sort("record_key"), model=model, stats=stats)
