"""Provinces ingested in one group stage the same parts as one at a time.

``ingest_provinces`` standardises the person rows of several provinces
together (the Airflow ingest task and ``dancu run`` give it groups of small
provinces); standardising is row by row, so every staged part must be the
one ``ingest_province`` writes alone, extras included (each province keeps
its own extra columns, not the group's).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.ingest import ReadLimits, ingest_province, ingest_provinces
from synth import generate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated batch of the hard profile, broken files included."""
    out = tmp_path_factory.mktemp("groups")
    generate(persons=500, seed=5, out=out, batches=1, profile="hard", broken_files=True)
    return next((out / "inbox").iterdir())


def _parts(staging: Path) -> dict[str, bytes]:
    return {
        p.relative_to(staging).as_posix(): p.read_bytes()
        for p in sorted(staging.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("standardise_rows", [200_000, 40])
def test_a_group_stages_what_its_provinces_stage_one_at_a_time(
    batch: Path, tmp_path: Path, standardise_rows: int
) -> None:
    codes = sorted(p.name for p in batch.iterdir() if p.is_dir())
    limits = ReadLimits(standardise_rows=standardise_rows)
    alone = tmp_path / "alone"
    singles = [ingest_province(batch, code, alone, limits) for code in codes]
    grouped = tmp_path / "grouped"
    summaries = ingest_provinces(batch, codes, grouped, limits)

    assert summaries == singles
    assert _parts(grouped) == _parts(alone)
    # The group mixes provinces whose files have different extra columns.
    records = pl.read_parquet(alone / batch.name / "records" / "**" / "*.parquet")
    keys = {
        code: frozenset(k for e in group.get_column("extras").drop_nulls() for k in json.loads(e))
        for (code,), group in records.group_by("province_code")
    }
    assert len(codes) >= 3 and len(set(keys.values())) >= 2, keys
