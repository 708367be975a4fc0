"""Matching in partitions: the same pairs, model and clusters for any number of them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import polars as pl
import pytest

from matching import link_records
from matching.blocking import CandidateStream, candidate_pairs
from matching.prepare import prepare_records
from matching.settings import MatchSettings
from matching.steps import LinkWork
from synth.records import synthetic_records

pytestmark = pytest.mark.unit


def test_the_partitions_hand_out_every_candidate_pair_once() -> None:
    records, _ = synthetic_records(1500, seed=4)
    prepared = prepare_records(records)
    rules, cap = MatchSettings().blocking.rules, MatchSettings().blocking.max_block_size
    whole, _ = candidate_pairs(prepared, rules, cap)
    parts = []
    for part in range(4):
        stream = CandidateStream(prepared, rules, cap, partition=(part, 4), records_per_part=97)
        parts.append(pl.concat(list(stream)).with_columns(part=pl.lit(part)))
    joined = pl.concat(parts)
    assert whole.height > 500
    assert joined.select("rid_l", "rid_r").is_duplicated().sum() == 0
    assert joined.drop("part").sort("rid_l", "rid_r").equals(whole)
    assert joined["part"].n_unique() == 4  # no partition is left empty on 1,500 persons
    with pytest.raises(ValueError, match="partition 4 of 4"):
        CandidateStream(prepared, rules, cap, partition=(4, 4))


def _same(left: object, right: object) -> None:
    from matching import LinkResult

    assert isinstance(left, LinkResult) and isinstance(right, LinkResult)
    assert left.pairs.equals(right.pairs)
    assert left.clusters.equals(right.clusters)
    assert left.model.to_dict() == right.model.to_dict()
    drop = ("seconds", "partitions")
    assert {k: v for k, v in left.stats.items() if k not in drop} == {
        k: v for k, v in right.stats.items() if k not in drop
    }


def test_a_run_in_partitions_gives_the_run_in_one() -> None:
    records, _ = synthetic_records(1500, seed=21)
    one = link_records(records)
    assert one.stats["decisions"]["link"] > 100
    for partitions in (2, 5):
        many = link_records(records, partitions=partitions)
        assert many.stats["partitions"] == partitions
        _same(one, many)


def test_an_incremental_run_with_decisions_in_partitions_gives_the_run_in_one() -> None:
    records, _ = synthetic_records(1500, seed=22)
    keys = records["record_key"].sort()
    new_keys = keys.gather_every(4)
    first = link_records(records.filter(~pl.col("record_key").is_in(new_keys.implode())))
    linked = first.pairs.filter(pl.col("decision") == "link").head(3)
    decisions = pl.DataFrame(
        {
            "record_key_l": [*linked["record_key_l"], keys[1]],
            "record_key_r": [*linked["record_key_r"], keys[2]],  # keys 1, 2: no rule pairs them
            "same": [False] * linked.height + [True],
        }
    )
    args = {"new_keys": new_keys, "prior_clusters": first.clusters, "decisions": decisions}
    one = link_records(records, **args)
    assert one.stats["reviewer_decisions"] == 4
    _same(one, link_records(records, partitions=3, **args))


def test_the_work_folder_is_private_and_a_step_can_run_in_another_process(
    tmp_path: Path,
) -> None:
    records, _ = synthetic_records(600, seed=5)
    settings = MatchSettings()
    folder = tmp_path / "work"
    LinkWork.start(folder, records, settings, partitions=2)
    # A fresh LinkWork reads everything back from the folder, as a task on another worker.
    for part in range(2):
        LinkWork(folder, settings).compare(part)
    LinkWork(folder, settings).fit()
    for part in range(2):
        LinkWork(folder, settings).score(part)
    result = LinkWork(folder, settings).finish()
    _same(link_records(records, settings), result)
    assert json.loads((folder / "manifest.json").read_text())["partitions"] == 2
    files = [p for p in folder.rglob("*")]
    assert files and all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in files), [
        (p.name, oct(p.stat().st_mode)) for p in files if p.stat().st_mode & 0o077
    ]
    with pytest.raises(ValueError, match=r"partition 2 is not one of 0\.\.1"):
        LinkWork(folder, settings).compare(2)
    with pytest.raises(ValueError, match="at least 1"):
        LinkWork.start(tmp_path / "none", records, settings, partitions=0)
