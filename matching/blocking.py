"""Candidate pairs: the union of several blocking rules, with a cap on block size.

Each rule joins the prepared records to themselves on its keys (polars
equi-join, vectorised) and keeps ``rid_l < rid_r``. Blocks above the cap are
first split by the rule's ``split_keys``; what is still too large is skipped
and counted, because a block of every Nguyễn born in 1980 is not worth
comparing pair by pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from matching.settings import BlockingRule

_PAIR_SCHEMA = {"rid_l": pl.Int64, "rid_r": pl.Int64}


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
    prepared: pl.DataFrame, rule: BlockingRule, cap: int
) -> tuple[pl.DataFrame, list[str], dict[str, int]]:
    """Return kept records with their block hash, the join columns, and skip counts."""
    keys = list(rule.keys)
    year = ["birth_year"] if rule.year_window > 0 else []
    if year and "birth_year" not in keys:
        raise ValueError(f"rule {rule.name}: year_window needs birth_year among the keys")
    hash_keys = [k for k in keys if k not in year]
    keyed = _sized(prepared.select("rid", *keys).drop_nulls(keys), keys, hash_keys)
    small = keyed.filter(pl.col("block_size") <= cap)
    large = keyed.filter(pl.col("block_size") > cap)
    if rule.split_keys and large.height:
        keys = [*keys, *rule.split_keys]
        split = _sized(
            prepared.select("rid", *keys).join(large.select("rid"), on="rid").drop_nulls(keys),
            keys,
            [*hash_keys, *rule.split_keys],
        )
        small = pl.concat([small, split.filter(pl.col("block_size") <= cap)], how="diagonal")
        large = split.filter(pl.col("block_size") > cap)
    sizes = large.group_by(keys).len("n")
    skipped = {
        "blocks": sizes.height,
        "records": int(sizes["n"].sum() or 0),
        "pairs": int((sizes["n"] * (sizes["n"] - 1) // 2).sum() or 0),
    }
    on = ["block", *year]
    return small.select("rid", *on), on, skipped


def _join(left: pl.DataFrame, right: pl.DataFrame, on: list[str], year_window: int) -> pl.DataFrame:
    """``rid``, ``rid_r`` of the records of ``left`` and ``right`` sharing a block."""
    if year_window > 0:
        offsets = pl.int_ranges(-year_window, year_window + 1, dtype=pl.Int32)
        left = (
            left.with_columns(offset=offsets)
            .explode("offset")
            .with_columns(pl.col("birth_year") + pl.col("offset"))
            .drop("offset")
        )
    return left.join(right, on=on, suffix="_r").select("rid", "rid_r")


def _rule_pairs(
    prepared: pl.DataFrame, rule: BlockingRule, cap: int, focus: pl.Series | None
) -> tuple[pl.DataFrame, RuleReport]:
    cap = min(cap, rule.max_block_size) if rule.max_block_size else cap
    kept, on, skipped = _blocks_within_cap(prepared, rule, cap)
    left = kept if focus is None else kept.filter(pl.col("rid").is_in(focus.implode()))
    sides = [(left, kept)]
    if rule.lacking is not None:  # one record of the pair must lack the column
        lacks = pl.col("rid").is_in(
            prepared.filter(pl.col(rule.lacking).is_null())["rid"].implode()
        )
        sides = [(left.filter(lacks), kept)]
        if focus is not None:  # the focus record need not be the one lacking it
            sides.append((left, kept.filter(lacks)))
    joined = pl.concat([_join(a, b, on, rule.year_window) for a, b in sides])
    if focus is not None or rule.lacking is not None:  # either side of the pair
        joined = joined.select(
            pl.min_horizontal("rid", "rid_r").alias("rid"),
            pl.max_horizontal("rid", "rid_r").alias("rid_r"),
        )
    pairs = (
        joined.select(rid_l="rid", rid_r="rid_r").filter(pl.col("rid_l") < pl.col("rid_r")).unique()
    )
    report = RuleReport(
        rule=rule.name,
        pairs=pairs.height,
        blocks=kept.select(on).n_unique() if kept.height else 0,
        skipped_blocks=skipped["blocks"],
        skipped_records=skipped["records"],
        skipped_pairs=skipped["pairs"],
    )
    return pairs, report


def candidate_pairs(
    prepared: pl.DataFrame,
    rules: Sequence[BlockingRule],
    max_block_size: int,
    focus: pl.Series | None = None,
) -> tuple[pl.DataFrame, list[RuleReport]]:
    """Return the union of the rules' pairs and a report per rule.

    Args:
        prepared: Output of ``prepare_records``.
        rules: Blocking rules; a pair found by several keeps the first one's name.
        max_block_size: Largest block, in records, that is turned into pairs.
        focus: When given, the ``rid`` values whose pairs are wanted: only
            pairs with at least one of them are formed, by joining those
            records alone to their blocks (cost: focus records × block size).
            Block sizes and the cap are still those of all the records.

    Returns:
        A frame ``rid_l < rid_r``, ``blocked_by`` (rule name), sorted by
        ``rid_l, rid_r``; and one ``RuleReport`` per rule.
    """
    # Each pair travels as one integer ``rid_l * n + rid_r`` with its rule's
    # order (9 bytes): the union of tens of millions of pairs then needs a
    # fraction of the memory of two-column frames.
    n = max(prepared.height, 1)
    frames = []
    reports = []
    for order, rule in enumerate(rules):
        pairs, report = _rule_pairs(prepared, rule, max_block_size, focus)
        frames.append(
            pairs.select(
                pair=pl.col("rid_l").cast(pl.Int64) * n + pl.col("rid_r"),
                rule_order=pl.lit(order, pl.Int8),
            )
        )
        del pairs
        reports.append(report)
    names = pl.Series([r.name for r in rules], dtype=pl.String)
    if not frames:
        return pl.DataFrame(schema={**_PAIR_SCHEMA, "blocked_by": pl.String}), reports
    union = pl.concat(frames, rechunk=False)
    frames.clear()
    # The first rule to find a pair names it.
    union = union.sort("pair", "rule_order").filter(pl.col("pair").diff().fill_null(1) != 0)
    blocked_by = names.gather(union["rule_order"]).alias("blocked_by")
    return union.select(
        rid_l=pl.col("pair") // n, rid_r=pl.col("pair") % n, blocked_by=blocked_by
    ), reports
