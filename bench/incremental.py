"""Benchmark: the cost of a later batch against a registry, incremental vs full re-match.

    .venv/bin/python -m bench.incremental --persons 50000 [--seed 5] [--workdir /tmp/dancu-incr]

Generates two batches, loads the first, then runs the second stage by stage
and prints, per stage, the time and what it worked on: the registry's size,
the batch's records, the records matched (new or changed), the candidate
pairs and the records whose persons were re-decided. Then it links every
record of the registry from scratch (what a non-incremental run would do) and
prints that time and its pair count for comparison, and the peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import time
from pathlib import Path

from dancu.inbox import batch_folders
from dancu.keys import load_keys
from dancu.settings import load_settings
from dancu.stages import match_batch, plan_batch, register_and_load, run_batch
from matching import link_records
from pipelines.ingest.province import ingest_province
from pipelines.warehouse.registry import connect, registered_records
from synth import generate

KEYS = load_keys({}, demo=True)


def _count(registry: Path, sql: str) -> int:
    with connect(registry, read_only=True) as con:
        return int(con.execute(sql).fetchall()[0][0])


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dancu-incr"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    generate(persons=args.persons, seed=args.seed, out=args.workdir / "gen", batches=2)
    first, second = batch_folders(args.workdir / "gen" / "inbox")
    warehouse = args.workdir / "warehouse"
    registry = warehouse / "registry.duckdb"
    settings = load_settings(None, demo=True)

    started = time.perf_counter()
    run_batch(first, warehouse, settings)
    print(f"batch {first.name}: loaded in {time.perf_counter() - started:.1f} s (whole run)")
    records_before = _count(registry, "SELECT count(*) FROM source_record")
    persons_before = _count(registry, "SELECT count(*) FROM person")

    clock = time.perf_counter()
    begun = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for code in plan_batch(second, warehouse, "bench"):
        ingest_province(second, code, warehouse / "staging")
    t_ingest = time.perf_counter() - clock
    clock = time.perf_counter()
    match = match_batch(warehouse, second.name, settings, "bench").to_dict()
    t_match = time.perf_counter() - clock
    clock = time.perf_counter()
    counts = register_and_load(warehouse, second.name, settings, begun, "bench")
    t_load = time.perf_counter() - clock
    touched = _count(
        registry,
        "SELECT count(*) FROM source_record WHERE person_id IN "
        f"(SELECT person_id FROM person WHERE last_batch_id = '{second.name}')",
    )

    print(
        f"registry before batch {second.name}: {records_before:,} records, "
        f"{persons_before:,} persons"
    )
    print(
        f"batch {second.name}: {counts['rows_loaded']:,} records loaded, "
        f"{match['records_matched']:,} matched (new or changed)"
    )
    print(f"  ingest   {t_ingest:7.1f} s")
    print(
        f"  match    {t_match:7.1f} s   {match['pairs']:,} candidate pairs, "
        "each with a record of the batch"
    )
    print(f"  register+load {t_load:4.1f} s   {touched:,} records of persons the batch touched")

    with connect(registry, read_only=True) as con:
        everyone = registered_records(con)
    clock = time.perf_counter()
    full = link_records(everyone, settings.match)
    t_full = time.perf_counter() - clock
    print(
        f"full re-match of all {everyone.height:,} records: {t_full:.1f} s, "
        f"{full.stats['candidate_pairs']:,} candidate pairs"
    )
    print(
        f"incremental match / full re-match: {t_match / t_full:.2f} of the time, "
        f"{match['pairs'] / max(full.stats['candidate_pairs'], 1):.2f} of the pairs"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MB")


if __name__ == "__main__":
    main()
