"""Linking in steps over a work folder, so that each step can be a task of its own.

``link_records`` runs these steps in one process; the ``dancu_batch`` DAG
runs each as an Airflow task, the partitions as mapped tasks on any worker
that sees the folder:

1. ``LinkWork.start``: prepare the records (one task): the matching frame,
   term frequencies, reviewers' decisions, prior clusters and fallback
   models are written to the folder, with the number of partitions;
2. ``compare(part)``: block and compare the candidate pairs of one
   partition (the blocks whose smallest ``rid`` falls in it, for every
   rule), spill their gamma vectors and count their patterns;
3. ``fit``: add up the partitions' pattern counts and fit the model;
4. ``score(part)``: score and decide one partition's pairs, keeping links,
   reviews and the pairs a rule decided;
5. ``finish``: cluster over the kept pairs of every partition.

No step holds every candidate pair: a partition's pairs are compared a
slice at a time and written to disk, and only the kept ones (links and
reviews, a few per cent) reach the last step. A block lies in one partition
for a given rule, and a pair is kept by the first rule that finds it over
*all* records, so the partitions' pairs are the union's, each once, however
many partitions there are; pattern counts are added and the kept pairs
sorted, so the result does not depend on the number of partitions.

The folder holds personal data: its files are written 0600 in 0700
folders; the caller removes it when the run is done.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from matching.blocking import PAIR_SCHEMA, CandidateStream, RuleBlocks, rule_blocks
from matching.clustering import REVIEWER, Constraints, cluster_records
from matching.comparisons import comparison_vectors, term_frequencies
from matching.estimate import MatchModel, fit_model, merge_pattern_counts, pattern_counts
from matching.keystore import KeyStore
from matching.pair_values import ScoreCache, encode_strings
from matching.prepare import prepare_records
from matching.scoring import decide, score_pairs
from matching.settings import MatchSettings

_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class LinkResult:
    """What ``link_records`` (and ``LinkWork.finish``) returns.

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


def _frame_columns(prepared: pl.DataFrame, settings: MatchSettings) -> list[str]:
    """The prepared columns the rest of the run reads (see ``_matching_frame``)."""
    read = [c for comp in settings.comparisons for c in comp.columns]
    read += [c for rule in settings.rules for c in rule.columns]
    rules = (*settings.blocking.rules, *settings.training.rules)
    for rule in rules:
        read += [*rule.keys, *rule.split_keys, *([rule.lacking] if rule.lacking else [])]
    return ["rid", "record_key", *(c for c in dict.fromkeys(read) if c in prepared.columns)]


def _matching_frame(prepared: pl.DataFrame, settings: MatchSettings) -> pl.DataFrame:
    """The prepared records as the rest of the run reads them, strings encoded once.

    Kept: the ``rid``, the ``record_key``, the keys of the blocking and
    training rules, and the columns of the comparisons and rules. Those of
    the comparisons and rules are encoded (``encode_strings``: one shared
    Categorical), so every slice gathers codes instead of strings and the
    score cache of one process applies to them all; equal strings have equal
    codes, so blocking on the codes forms the same blocks. The codes are
    private to a process: the work folder keeps the strings. The other
    derived strings are let go: at ten million records each string column
    costs 160 MB of views.
    """
    read = [c for comp in settings.comparisons for c in comp.columns]
    read += [c for rule in settings.rules for c in rule.columns]
    encoded = encode_strings(prepared.select(list(dict.fromkeys(read))))
    plain = [c for c in prepared.columns if c not in encoded.columns]
    return pl.concat([prepared.select(plain), encoded], how="horizontal")


def _write_private(path: Path, write: Any) -> None:
    """Call ``write(tmp)`` and move the file into place, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    _write_private(path, lambda tmp: frame.write_parquet(tmp, compression="zstd"))


def _write_json(data: Any, path: Path) -> None:
    _write_private(path, lambda tmp: tmp.write_text(json.dumps(data, sort_keys=True, indent=1)))


def _merge_reports(parts: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One report per rule over the partitions: pairs and blocks added up.

    The skipped blocks are those of all records, the same in every partition.
    """
    merged = [dict(report) for report in parts[0]]
    for reports in parts[1:]:
        for total, report in zip(merged, reports, strict=True):
            total["pairs"] += report["pairs"]
            total["blocks"] += report["blocks"]
    return merged


class LinkWork:
    """One linking run's state in a folder; each method is one step.

    Open an existing folder with ``LinkWork(folder, settings)`` (any process
    that sees it); create one with ``LinkWork.start``. A process that ran
    an earlier step keeps the frames it read or built, so ``link_records``
    reads nothing back.
    """

    def __init__(self, folder: Path, settings: MatchSettings) -> None:
        """Open the work folder ``start`` wrote, with the same settings."""
        self.folder = folder
        self.settings = settings
        self.manifest: dict[str, Any] = json.loads((folder / _MANIFEST).read_text())
        self._frame: pl.DataFrame | None = None
        self._frequencies: dict[str, pl.Series] | None = None
        self._reviewed: pl.DataFrame | None = None

    @property
    def partitions(self) -> int:
        """How many partitions ``compare`` and ``score`` are called for."""
        return int(self.manifest["partitions"])

    @classmethod
    def start(
        cls,
        folder: Path,
        records: pl.DataFrame,
        settings: MatchSettings,
        *,
        partitions: int = 1,
        new_keys: pl.Series | None = None,
        prior_clusters: pl.DataFrame | None = None,
        decisions: pl.DataFrame | None = None,
        fallback: Sequence[MatchModel] = (),
        keys: KeyStore | None = None,
    ) -> LinkWork:
        """Prepare the records and write what the later steps read into ``folder``.

        The arguments are ``link_records``'; ``partitions`` (at least 1) is
        how many ``compare`` and ``score`` tasks share the candidate pairs;
        ``keys``, when given, keeps the records' derived keys between runs
        (only records it does not hold as they are are derived: the same
        result, cheaper). ``folder`` is emptied first (a retried step starts afresh).

        Raises:
            ValueError: If ``partitions`` < 1, ``record_key`` is null or
                repeated, or a new key is not among the records.
        """
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, not {partitions}")
        clock = time.perf_counter()
        reuse: dict[str, int] = {}
        if keys is None:
            prepared = prepare_records(records)
        else:
            prepared, reuse = keys.prepare(records)
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
        groups = _prior_groups(prepared, prior_clusters)
        prepared = prepared.select(_frame_columns(prepared, settings))
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(mode=0o700, parents=True)
        _write_parquet(prepared, folder / "records.parquet")
        _write_parquet(pl.DataFrame(frequencies), folder / "frequencies.parquet")
        _write_parquet(reviewed, folder / "reviewed.parquet")
        _write_parquet(groups, folder / "groups.parquet")
        if focus is not None:
            _write_parquet(focus.to_frame("rid"), folder / "focus.parquet")
        _write_json([m.to_dict() for m in fallback], folder / "fallback.json")
        frame = _matching_frame(prepared, settings)
        # Each rule's blocks are formed once, here: the partitions read them.
        formed = []
        for index, rule in enumerate(settings.blocking.rules):
            blocks = rule_blocks(frame, rule, settings.blocking.max_block_size, focus)
            _write_parquet(blocks.kept, folder / f"blocks-{index:03d}.parquet")
            formed.append({"on": blocks.on, "skipped": blocks.skipped})
        manifest = {
            "blocks": formed,
            "partitions": partitions,
            "records": prepared.height,
            "new_records": prepared.height if focus is None else focus.len(),
            "incremental": focus is not None,
            "seconds": {"prepare": round(time.perf_counter() - clock, 3)},
            "keys": reuse,
        }
        _write_json(manifest, folder / _MANIFEST)
        work = cls(folder, settings)
        work._frame = frame
        work._frequencies = frequencies
        work._reviewed = reviewed
        return work

    # -- what the steps read ---------------------------------------------------------

    def _prepared(self) -> pl.DataFrame:
        if self._frame is None:
            read = pl.read_parquet(self.folder / "records.parquet")
            self._frame = _matching_frame(read, self.settings)
        return self._frame

    def _freq(self) -> dict[str, pl.Series]:
        if self._frequencies is None:
            read = pl.read_parquet(self.folder / "frequencies.parquet")
            self._frequencies = {name: read[name] for name in read.columns}
        return self._frequencies

    def _decisions(self) -> pl.DataFrame:
        if self._reviewed is None:
            self._reviewed = pl.read_parquet(self.folder / "reviewed.parquet")
        return self._reviewed

    def _focus(self) -> pl.Series | None:
        if not self.manifest["incremental"]:
            return None
        return pl.read_parquet(self.folder / "focus.parquet")["rid"]

    def _blocks(self, index: int) -> RuleBlocks:
        formed = self.manifest["blocks"][index]
        kept = pl.read_parquet(self.folder / f"blocks-{index:03d}.parquet")
        return RuleBlocks(kept, list(formed["on"]), dict(formed["skipped"]))

    def _part(self, part: int) -> Path:
        if not 0 <= part < self.partitions:
            raise ValueError(f"partition {part} is not one of 0..{self.partitions - 1}")
        return self.folder / f"part-{part:04d}"

    def _names(self) -> list[str]:
        return [c.name for c in self.settings.comparisons]

    # -- the steps -------------------------------------------------------------------

    def compare(self, part: int) -> int:
        """Block and compare partition ``part``'s candidate pairs; return how many.

        Each slice's gamma vectors are written as Arrow IPC and let go, so
        memory holds one rule's pairs of the partition and one slice's
        comparison frame. Also written: the partition's pattern counts, the
        reviewed pairs it found, and its report (pairs per rule, seconds).
        """
        out = self._part(part)
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(mode=0o700)
        prepared, settings, names = self._prepared(), self.settings, self._names()
        stream = CandidateStream(
            prepared,
            settings.blocking.rules,
            settings.blocking.max_block_size,
            self._focus(),
            slice_size=settings.limits.pair_slice,
            records_per_part=settings.limits.records_per_part,
            partition=(part, self.partitions),
            blocks=self._blocks,
        )
        reviewed = self._decisions()
        n = max(prepared.height, 1)  # a reviewed pair is looked up as one integer
        pair_key = pl.col("rid_l") * n + pl.col("rid_r")
        reviewed_keys = reviewed.select(pair_key).to_series().implode()
        cache = ScoreCache()  # names recur across slices: each pair of values scored once
        counts: list[pl.DataFrame] = []
        found: list[pl.DataFrame] = []
        seconds = {"blocking": 0.0, "compare": 0.0}
        candidates, files = 0, 0
        slices = iter(stream)
        while True:
            clock = time.perf_counter()
            pairs = next(slices, None)
            seconds["blocking"] += time.perf_counter() - clock
            if pairs is None:
                break
            clock = time.perf_counter()
            found.append(pairs.filter(pair_key.is_in(reviewed_keys)).select("rid_l", "rid_r"))
            gammas = comparison_vectors(prepared, pairs, settings.comparisons, cache=cache)
            counts.append(pattern_counts(gammas, names))
            _write_private(
                out / f"gammas-{files:06d}.arrow",
                lambda tmp, g=gammas: g.write_ipc(tmp, compression="lz4"),
            )
            files += 1
            candidates += gammas.height
            seconds["compare"] += time.perf_counter() - clock
        if files == 0:  # no pair in this partition: an empty file keeps the schema
            empty = pl.DataFrame(schema={**PAIR_SCHEMA, "blocked_by": pl.String()})
            gammas = comparison_vectors(prepared, empty, settings.comparisons)
            counts.append(pattern_counts(gammas, names))
            _write_private(
                out / "gammas-000000.arrow", lambda tmp: gammas.write_ipc(tmp, compression="lz4")
            )
        patterns = (
            pl.concat(counts)
            .group_by(f"gamma_{name}" for name in names)
            .agg(pl.col("n").sum().cast(pl.Int64))
        )
        _write_parquet(patterns, out / "patterns.parquet")
        found_frame = pl.concat(found) if found else pl.DataFrame(schema=PAIR_SCHEMA)
        _write_parquet(found_frame, out / "found.parquet")
        report = {
            "candidates": candidates,
            "blocking": [asdict(r) for r in stream.reports],
            "seconds": {step: round(t, 3) for step, t in seconds.items()},
        }
        _write_json(report, out / "report.json")
        return candidates

    def _reports(self) -> list[dict[str, Any]]:
        return [
            json.loads((self._part(p) / "report.json").read_text()) for p in range(self.partitions)
        ]

    def fit(self) -> MatchModel:
        """Fit the model on every partition's pattern counts; write it and the extra pairs.

        The reviewed pairs no blocking rule found are compared here, in their
        own file, and left out of the pattern counts the prior is estimated on.
        """
        clock = time.perf_counter()
        prepared, names = self._prepared(), self._names()
        parts = [
            pl.read_parquet(self._part(p) / "patterns.parquet") for p in range(self.partitions)
        ]
        fallback = [
            MatchModel.from_dict(m) for m in json.loads((self.folder / "fallback.json").read_text())
        ]
        patterns = merge_pattern_counts([p for p in parts if p.height], names)
        model = fit_model(prepared, patterns, self.settings, focus=self._focus(), fallback=fallback)
        _write_json(model.to_dict(), self.folder / "model.json")
        reviewed = self._decisions()
        found = pl.concat(
            [pl.read_parquet(self._part(p) / "found.parquet") for p in range(self.partitions)]
        )
        extra = reviewed.select("rid_l", "rid_r").join(found, on=["rid_l", "rid_r"], how="anti")
        gammas = comparison_vectors(
            prepared,
            extra.with_columns(blocked_by=pl.lit(REVIEWER)).sort("rid_l", "rid_r"),
            self.settings.comparisons,
        )
        _write_private(
            self.folder / "extra.arrow", lambda tmp: gammas.write_ipc(tmp, compression="lz4")
        )
        _write_json({"seconds": round(time.perf_counter() - clock, 3)}, self.folder / "fit.json")
        return model

    def _model(self) -> MatchModel:
        return MatchModel.from_dict(json.loads((self.folder / "model.json").read_text()))

    def _decide(self, paths: Sequence[Path], model: MatchModel) -> pl.DataFrame:
        """Score and decide the pairs of ``paths``; keep those worth keeping.

        Kept: ``link`` and ``review`` pairs, and any pair a rule or a reviewer
        decided. A model ``non_link`` is dropped with its weights: clustering
        only follows links, and at a million records the non-links are tens
        of millions of rows.
        """
        prepared, frequencies = self._prepared(), self._freq()
        tf_columns = {c.name: c.tf_column for c in self.settings.comparisons if c.tf_column}
        kept = []
        for path in paths:
            some = pl.read_ipc(path)
            some = some.with_columns(
                frequencies[column].gather(some["rid_l"]).alias(f"tf_{name}")
                for name, column in tf_columns.items()
            )
            decided = decide(prepared, score_pairs(some, model), self.settings, self._decisions())
            kept.append(
                decided.filter(
                    (pl.col("decision") != "non_link") | (pl.col("decided_by") != "model")
                ).drop(f"tf_{name}" for name in tf_columns)
            )
        return pl.concat(kept)

    def score(self, part: int) -> int:
        """Score and decide partition ``part``'s pairs; write the kept ones; return how many."""
        clock = time.perf_counter()
        out = self._part(part)
        kept = self._decide(sorted(out.glob("gammas-*.arrow")), self._model())
        _write_parquet(kept, out / "kept.parquet")
        _write_json({"seconds": round(time.perf_counter() - clock, 3)}, out / "score.json")
        return kept.height

    def finish(self) -> LinkResult:
        """Cluster over every partition's kept pairs and return the result of the run."""
        clock = time.perf_counter()
        prepared, settings, model = self._prepared(), self.settings, self._model()
        reviewed, focus = self._decisions(), self._focus()
        decided = pl.concat(
            [
                *(pl.read_parquet(self._part(p) / "kept.parquet") for p in range(self.partitions)),
                self._decide([self.folder / "extra.arrow"], model),
            ],
            how="vertical_relaxed",
        ).sort("rid_l", "rid_r")
        frequencies = self._freq()

        def weigh(some: pl.DataFrame) -> np.ndarray:
            gammas = comparison_vectors(prepared, some, settings.comparisons, frequencies)
            return score_pairs(gammas, model)["match_weight"].to_numpy()

        touched = None
        if focus is not None:
            touched = pl.concat([focus, reviewed["rid_l"], reviewed["rid_r"]]).unique().sort()
        constraints = Constraints(
            groups=pl.read_parquet(self.folder / "groups.parquet"),
            must=reviewed.filter(pl.col("same")).select("rid_l", "rid_r"),
            cannot=reviewed.filter(~pl.col("same")).select("rid_l", "rid_r"),
            touched=touched,
        )
        clusters, decided, cluster_report = cluster_records(
            prepared, decided, settings, constraints, weigh
        )
        keys = prepared["record_key"]
        names = self._names()
        out = (
            decided.with_columns(
                record_key_l=keys.gather(decided["rid_l"]),
                record_key_r=keys.gather(decided["rid_r"]),
            )
            .select(
                "record_key_l",
                "record_key_r",
                "blocked_by",
                *(f"gamma_{n}" for n in names),
                *(f"w_{n}" for n in names),
                "match_weight",
                "match_probability",
                "decision",
                "decided_by",
            )
            .sort("record_key_l", "record_key_r")
        )
        reports = self._reports()
        extra = pl.scan_ipc(self.folder / "extra.arrow").select(pl.len()).collect().item()
        candidates = sum(r["candidates"] for r in reports) + extra
        decided_counts = dict(out["decision"].value_counts().sort("decision").iter_rows())
        if candidates > out.height:
            decided_counts["non_link"] = decided_counts.get("non_link", 0) + candidates - out.height
        seconds = dict(self.manifest["seconds"])
        for step in ("blocking", "compare"):
            seconds[step] = round(sum(r["seconds"][step] for r in reports), 3)
        seconds["estimate"] = json.loads((self.folder / "fit.json").read_text())["seconds"]
        scored = sum(
            json.loads((self._part(p) / "score.json").read_text())["seconds"]
            for p in range(self.partitions)
        )
        seconds["decide_and_cluster"] = round(scored + time.perf_counter() - clock, 3)
        stats = {
            "records": prepared.height,
            "new_records": self.manifest["new_records"],
            "candidate_pairs": candidates,
            "reviewer_decisions": reviewed.height,
            "decisions": dict(sorted(decided_counts.items())),
            "blocking": _merge_reports([r["blocking"] for r in reports]),
            "clusters": asdict(cluster_report),
            "model_source": model.source,
            "partitions": self.partitions,
            "keys": dict(self.manifest["keys"]),
            "seconds": seconds,
        }
        return LinkResult(pairs=out, clusters=clusters.sort("record_key"), model=model, stats=stats)
