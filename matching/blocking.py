"""Candidate pairs: the union of several blocking rules, with a cap on block size.

Each rule joins the prepared records to themselves on its keys (polars
equi-join, vectorised) and keeps ``rid_l < rid_r``. Blocks above the cap are
first split by the rule's ``split_keys``; what is still too large is skipped
and counted, because a block of every Nguyễn born in 1980 is not worth
comparing pair by pair.

The union is formed rule by rule without holding every pair at once: a pair
is kept by the first rule that finds it, and a later rule drops the pairs an
earlier one found by looking up both records' blocks in that rule (Splink's
``AND NOT (earlier rule)``). ``CandidateStream`` hands the pairs out in
slices, so the caller can compare and score a slice and let it go; at ten
million records the union does not fit in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from matching.settings import BlockingRule

#: The columns of a frame of candidate pairs (``blocked_by`` aside).
PAIR_SCHEMA: dict[str, pl.DataType] = {"rid_l": pl.Int64(), "rid_r": pl.Int64()}


@dataclass(frozen=True)
class RuleReport:
    """What one blocking rule produced."""

    rule: str
    pairs: int
    blocks: int
    skipped_blocks: int
    skipped_records: int
    skipped_pairs: int


def _sized(keyed: pl.DataFrame, keys: Sequence[str], hash_keys: Sequence[str]) -> pl.DataFrame:
    """Add ``block_size`` (records sharing ``keys``) and ``block`` (hash of ``hash_keys``)."""
    return keyed.join(keyed.group_by(keys).len("block_size"), on=keys, how="left").with_columns(
        block=pl.struct(hash_keys).hash(seed=0)
    )


def _blocks_within_cap(
    prepared: pl.DataFrame, rule: BlockingRule, cap: int, focus: pl.Series | None = None
) -> tuple[pl.DataFrame, list[str], dict[str, int]]:
    """Return kept records with their block hash, the join columns, and skip counts.

    The kept records carry ``lacks``: whether the record may stand for the
    rule's ``lacking`` side (always True for a rule without ``lacking``). The
    skip counts are of the pairs the rule would have formed (at least one
    record lacking the column), not of every pair of an oversized block.

    With ``focus`` (the ``rid`` of an incremental run's records), only the
    blocks holding a focus record are formed, whole (their sizes, cap and
    split are those of all the records), and counted: every pair the run
    forms has a focus record, so the other blocks never pair anything.
    """
    keys = list(rule.keys)
    year = ["birth_year"] if rule.year_window > 0 else []
    if year and "birth_year" not in keys:
        raise ValueError(f"rule {rule.name}: year_window needs birth_year among the keys")
    hash_keys = [k for k in keys if k not in year]
    lacks = pl.col(rule.lacking).is_null() if rule.lacking else pl.lit(True)
    keyed = prepared.select("rid", *keys, lacks=lacks).drop_nulls(keys)
    if focus is not None:  # the blocks (any birth year, for a year window) of a focus record
        touched = keyed.filter(pl.col("rid").is_in(focus.implode())).select(hash_keys).unique()
        keyed = keyed.join(touched, on=hash_keys, how="semi")
    keyed = _sized(keyed, keys, hash_keys)
    small = keyed.filter(pl.col("block_size") <= cap)
    large = keyed.filter(pl.col("block_size") > cap)
    if rule.split_keys and large.height:
        keys = [*keys, *rule.split_keys]
        split = _sized(
            prepared.select("rid", *keys, lacks=lacks)
            .join(large.select("rid"), on="rid")
            .drop_nulls(keys),
            keys,
            [*hash_keys, *rule.split_keys],
        )
        small = pl.concat([small, split.filter(pl.col("block_size") <= cap)], how="diagonal")
        large = split.filter(pl.col("block_size") > cap)
    # Pairs of a block the rule forms: all of them, less those of two records not lacking.
    sizes = (
        large.group_by(keys)
        .agg(n=pl.len(), others=(~pl.col("lacks")).sum())
        .select(
            "n",
            pairs=pl.col("n") * (pl.col("n") - 1) // 2
            - pl.col("others") * (pl.col("others") - 1) // 2,
        )
        .filter(pl.col("pairs") > 0)
    )
    skipped = {
        "blocks": sizes.height,
        "records": int(sizes["n"].sum() or 0),
        "pairs": int(sizes["pairs"].sum() or 0),
    }
    on = ["block", *year]
    return small.select("rid", *on, "lacks"), on, skipped


@dataclass(frozen=True)
class RuleBlocks:
    """One rule's records in blocks within the cap: what its pairs are formed from.

    Attributes:
        kept: ``rid``, ``block`` (hash of the block's keys), ``birth_year``
            for a rule with a year window, ``lacks`` (see ``_blocks_within_cap``)
            and ``owner``, the smallest ``rid`` of the record's block (which
            partition the block belongs to).
        on: The columns two records must share to be paired.
        skipped: Blocks, records and pairs of the blocks above the cap.
    """

    kept: pl.DataFrame
    on: list[str]
    skipped: dict[str, int]


def _cap(rule: BlockingRule, max_block_size: int) -> int:
    """The largest block ``rule`` turns into pairs: its own cap or the run's, the smaller."""
    return min(max_block_size, rule.max_block_size or max_block_size)


def rule_blocks(
    prepared: pl.DataFrame, rule: BlockingRule, max_block_size: int, focus: pl.Series | None = None
) -> RuleBlocks:
    """Put ``prepared``'s records in ``rule``'s blocks (the cap is the smaller of the two).

    With ``focus``, only the blocks holding a focus record (``_blocks_within_cap``).
    A block's hash depends on how the records' strings are encoded: blocks
    kept to be read by other processes must be formed once, here.
    """
    kept, on, skipped = _blocks_within_cap(prepared, rule, _cap(rule, max_block_size), focus)
    kept = kept.with_columns(owner=pl.col("rid").min().over("block"))
    return RuleBlocks(kept, on, skipped)


@dataclass(frozen=True)
class _Membership:
    """Each record's block in one rule (to tell whether the rule pairs two records)."""

    block: np.ndarray  # uint64 by rid; meaningless where ``member`` is False
    member: np.ndarray  # bool by rid: the record is in a block within the cap
    year: np.ndarray | None  # int64 birth year by rid, for a rule with a year window
    year_window: int
    lacks: np.ndarray | None  # bool by rid, for a rule on pairs where a record lacks a column

    def pairs(self, rid_l: np.ndarray, rid_r: np.ndarray) -> np.ndarray:
        """Whether the rule pairs ``rid_l[i]`` with ``rid_r[i]``."""
        found = self.member[rid_l] & self.member[rid_r] & (self.block[rid_l] == self.block[rid_r])
        if self.year is not None:
            found &= np.abs(self.year[rid_l] - self.year[rid_r]) <= self.year_window
        if self.lacks is not None:
            found &= self.lacks[rid_l] | self.lacks[rid_r]
        return found


def _membership(n: int, kept: pl.DataFrame, rule: BlockingRule) -> _Membership:
    rid = kept["rid"].to_numpy()
    block = np.zeros(n, dtype=np.uint64)
    block[rid] = kept["block"].to_numpy()
    member = np.zeros(n, dtype=bool)
    member[rid] = True
    year = None
    if rule.year_window > 0:
        year = np.zeros(n, dtype=np.int64)
        year[rid] = kept["birth_year"].to_numpy()
    lacks = None
    if rule.lacking is not None:
        lacks = np.zeros(n, dtype=bool)
        lacks[rid] = kept["lacks"].to_numpy()
    return _Membership(block, member, year, rule.year_window, lacks)


def _join(left: pl.DataFrame, right: pl.DataFrame, on: list[str], year_window: int) -> pl.DataFrame:
    """``rid_l``, ``rid_r`` of the records of ``left`` and ``right`` sharing a block."""
    if year_window > 0:
        offsets = pl.int_ranges(-year_window, year_window + 1, dtype=pl.Int32)
        left = (
            left.with_columns(offset=offsets)
            .explode("offset")
            .with_columns(pl.col("birth_year") + pl.col("offset"))
            .drop("offset")
        )
    return left.join(right, on=on, suffix="_r").select(rid_l="rid", rid_r="rid_r")


def _rule_pairs(
    kept: pl.DataFrame, on: list[str], rule: BlockingRule, focus: pl.Series | None
) -> pl.DataFrame:
    """Pairs ``rid_l < rid_r`` of the records ``kept`` that share a block (each pair once)."""
    left = kept if focus is None else kept.filter(pl.col("rid").is_in(focus.implode()))
    if rule.lacking is None:
        joined = _join(left, kept, on, rule.year_window)
        if focus is None:
            # Each record is in one block of the rule: every pair comes once each way.
            return joined.filter(pl.col("rid_l") < pl.col("rid_r"))
    else:  # one record of the pair must lack the column; it may be on either side
        lacks = pl.col("lacks")
        sides = [(left.filter(lacks), kept)]
        if focus is not None:  # the focus record need not be the one lacking it
            sides.append((left, kept.filter(lacks)))
        joined = pl.concat([_join(a, b, on, rule.year_window) for a, b in sides])
    # A pair may come both ways round, and twice (two focus records, two lacking ones).
    return (
        joined.select(
            pl.min_horizontal("rid_l", "rid_r").alias("rid_l"),
            pl.max_horizontal("rid_l", "rid_r").alias("rid_r"),
        )
        .filter(pl.col("rid_l") < pl.col("rid_r"))
        .unique()
    )


class CandidateStream:
    """The candidate pairs of several rules, each pair once, handed out in slices.

    Iterating yields frames ``rid_l < rid_r``, ``blocked_by`` (the first rule
    that finds the pair) of at most ``slice_size`` rows: the pairs of the
    first rule, then those of the second that the first did not find, and so
    on, in no particular order within a rule. After the
    iteration, ``reports`` holds one ``RuleReport`` per rule (its own pairs,
    before the union). Memory: the pairs of one rule, not of the union.
    """

    def __init__(
        self,
        prepared: pl.DataFrame,
        rules: Sequence[BlockingRule],
        max_block_size: int,
        focus: pl.Series | None = None,
        slice_size: int = 2_000_000,
        records_per_part: int = 2_000_000,
        partition: tuple[int, int] = (0, 1),
        blocks: Callable[[int], RuleBlocks] | None = None,
    ) -> None:
        """See ``candidate_pairs`` for the arguments; ``slice_size`` bounds each frame.

        ``partition`` = (p, n) hands out only the pairs of partition p of n: for
        each rule, those of the blocks whose smallest ``rid`` is p modulo n. A
        pair is still dropped when an earlier rule finds it anywhere, so the n
        partitions together hand out the pairs of ``(0, 1)``, each once.
        ``blocks(i)``, when given, returns rule i's ``rule_blocks`` formed
        before (by another process: a partition's task reads them instead of
        forming every rule's blocks again).
        """
        if not 0 <= partition[0] < partition[1]:
            raise ValueError(f"partition {partition[0]} of {partition[1]} does not exist")
        self.partition = partition
        self.blocks = blocks
        self.prepared = prepared
        self.rules = tuple(rules)
        self.max_block_size = max_block_size
        self.focus = focus
        self.slice_size = slice_size
        self.records_per_part = records_per_part
        self.reports: list[RuleReport] = []

    def __iter__(self) -> Iterator[pl.DataFrame]:
        """Yield the slices; fill ``reports`` as each rule is done."""
        self.reports = []
        earlier: list[_Membership] = []
        for index, rule in enumerate(self.rules):
            part_of, partitions = self.partition
            if self.blocks is not None:
                formed = self.blocks(index)
            elif partitions > 1:
                formed = rule_blocks(self.prepared, rule, self.max_block_size, self.focus)
            else:  # one partition: the blocks' owners are not needed
                cap = _cap(rule, self.max_block_size)
                formed = RuleBlocks(*_blocks_within_cap(self.prepared, rule, cap, self.focus))
            kept, on, skipped = formed.kept, formed.on, formed.skipped
            del formed
            mine = kept
            if partitions > 1:
                mine = kept.filter(pl.col("owner") % partitions == part_of)
            mine = mine.drop("owner", strict=False)
            # Whole blocks at a time: a rule's join (both ways round) is the
            # largest frame of the stream, so at ten million records it is
            # formed for a part of the blocks at a time.
            parts = max(1, -(-mine.height // self.records_per_part))
            found_by_rule = 0
            for part in range(parts):
                some = mine if parts == 1 else mine.filter(pl.col("block") % parts == part)
                pairs = _rule_pairs(some, on, rule, self.focus)
                del some
                found_by_rule += pairs.height
                if earlier and pairs.height:
                    rid_l, rid_r = pairs["rid_l"].to_numpy(), pairs["rid_r"].to_numpy()
                    found = np.zeros(pairs.height, dtype=bool)
                    for membership in earlier:
                        found |= membership.pairs(rid_l, rid_r)
                    pairs = pairs.filter(~found)
                # Unsorted: every later step decides a pair on its own, and the
                # kept pairs are sorted at the end.
                pairs = pairs.with_columns(blocked_by=pl.lit(rule.name))
                for start in range(0, pairs.height, self.slice_size):
                    yield pairs.slice(start, self.slice_size)
                del pairs
            self.reports.append(
                RuleReport(
                    rule=rule.name,
                    pairs=found_by_rule,
                    blocks=mine.select(on).n_unique() if mine.height else 0,
                    skipped_blocks=skipped["blocks"],
                    skipped_records=skipped["records"],
                    skipped_pairs=skipped["pairs"],
                )
            )
            earlier.append(_membership(self.prepared.height, kept, rule))
            del kept, mine


def candidate_pairs(
    prepared: pl.DataFrame,
    rules: Sequence[BlockingRule],
    max_block_size: int,
    focus: pl.Series | None = None,
    records_per_part: int = 2_000_000,
) -> tuple[pl.DataFrame, list[RuleReport]]:
    """Return the union of the rules' pairs and a report per rule.

    Args:
        prepared: Output of ``prepare_records``.
        rules: Blocking rules; a pair found by several keeps the first one's name.
        max_block_size: Largest block, in records, that is turned into pairs.
        focus: When given, the ``rid`` values whose pairs are wanted: only
            pairs with at least one of them are formed, by joining those
            records alone to their blocks (cost: focus records × block size).
            Block sizes and the cap are still those of all the records; only
            the blocks holding a focus record are formed and reported.
        records_per_part: Records of one rule joined at a time (whole blocks;
            a memory limit, the pairs are the same).

    Returns:
        A frame ``rid_l < rid_r``, ``blocked_by`` (rule name), sorted by
        ``rid_l, rid_r``; and one ``RuleReport`` per rule. All in memory: a
        large run iterates a ``CandidateStream`` instead.
    """
    stream = CandidateStream(
        prepared, rules, max_block_size, focus, records_per_part=records_per_part
    )
    frames = list(stream)
    if not frames:
        empty = pl.DataFrame(schema={**PAIR_SCHEMA, "blocked_by": pl.String})
        return empty, stream.reports
    return pl.concat(frames).sort("rid_l", "rid_r"), stream.reports
