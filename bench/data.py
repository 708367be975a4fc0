"""Benchmark records: N standardised person records with known truth, as plain UTF-8 CSV.

    .venv/bin/python -m bench.data --records 1000000 --out /tmp/dancu-bench-data [--seed 1]

The persons, their registrations and the corruptions of repeated records come
from the project generator (``synth``: population, registrations,
corruptions, by default with the ``hard`` profile and two batches), so the
records carry every difficulty it has: Nguyễn about a third of family names,
many same-name same-year namesakes, twins (same household, date and parents,
different given names), typos, dropped or changed middle names, Hoàng/Huỳnh
and Vũ/Võ, day/month swaps, year-only and 01/01 dates, missing sex, mistyped
ID numbers and moves between provinces. Rendering to legacy file formats is
skipped: the raw text goes straight through ``pipelines.ingest.standardise``, the
code ingest runs, which is what makes 10 M records possible in minutes.

Persons are drawn in chunks (each its own seeded population), so memory stays
bounded at any N; the last chunk is sampled down to exactly N records. The
output folder holds ``records.csv`` (the columns of :data:`CSV_COLUMNS`),
``truth.csv`` (``record_key``, ``person_id``), ``twins.csv`` (``person_id``,
``twin_of``) and ``meta.json``; an existing folder made with the same
arguments is reused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from domain.schema import RECORD_SCHEMA
from pipelines.ingest.standardise import standardise
from synth.generate import simulate
from synth.places import Geography
from synth.profiles import get_profile
from synth.registrations import batch_ids

#: Record columns written to ``records.csv`` (the person-describing part of RECORD_SCHEMA).
CSV_COLUMNS: tuple[str, ...] = (
    "record_key",
    "batch_id",
    "province_code",
    "local_id",
    "household_id",
    "relation_to_head",
    "full_name",
    "family_name",
    "middle_name",
    "given_name",
    "date_of_birth",
    "birth_year",
    "birth_month",
    "birth_day",
    "dob_precision",
    "dob_placeholder",
    "sex",
    "birth_place",
    "birth_province_code",
    "ethnicity",
    "religion",
    "id_number",
    "occupation",
    "address",
    "father_name",
    "mother_name",
    "residence_type",
    "registered_on",
    "flaws",
)

#: Persons drawn per chunk (about 1.27 M records with the hard profile, 2.5 GB peak).
CHUNK_PERSONS = 1_000_000
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class BenchData:
    """Where a generated data set lives and what it holds."""

    folder: Path
    records: int
    persons: int
    seed: int
    profile: str
    batches: int
    seconds: float

    @property
    def records_csv(self) -> Path:
        """The records, one per line, UTF-8."""
        return self.folder / "records.csv"

    @property
    def truth_csv(self) -> Path:
        """``record_key``, ``person_id`` for every record."""
        return self.folder / "truth.csv"

    @property
    def twins_csv(self) -> Path:
        """``person_id``, ``twin_of`` for every twin."""
        return self.folder / "twins.csv"


def _dob_text(records: pl.DataFrame) -> pl.Expr:
    """The birth date as a clerk writes it: dd/mm/yyyy, mm/yyyy, yyyy or nothing."""
    y, m, d = pl.col("dob_y"), pl.col("dob_m"), pl.col("dob_d")
    return (
        pl.when(y == 0)
        .then(None)
        .when(m == 0)
        .then(y.cast(pl.String))
        .when(d == 0)
        .then(pl.format("{}/{}", m.cast(pl.String).str.zfill(2), y))
        .otherwise(
            pl.format("{}/{}/{}", d.cast(pl.String).str.zfill(2), m.cast(pl.String).str.zfill(2), y)
        )
    )


def _places(geography: Geography, names: list[str]) -> pl.DataFrame:
    """One row per (province, district, commune) index with their names."""
    rows = [
        (p, d, c, district, commune, names[p])
        for p, districts in enumerate(geography.districts)
        for d, district in enumerate(districts)
        for c, commune in enumerate(geography.communes[p][d])
    ]
    return pl.DataFrame(
        rows,
        schema={
            "prov": pl.Int64,
            "district": pl.Int64,
            "commune": pl.Int64,
            "district_name": pl.String,
            "commune_name": pl.String,
            "province_name": pl.String,
        },
        orient="row",
    )


def _chunk(
    persons: int, seed: int, chunk: int, profile: str, batches: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Standardised records (with ``person_id``) and twins of one seeded population."""
    sim = simulate(persons, np.random.default_rng([seed, chunk]), get_profile(profile), batches)
    provinces, geography, raw, people = sim.provinces, sim.geography, sim.records, sim.people
    prefix = f"C{chunk:02d}"
    codes = pl.Series(provinces.codes, dtype=pl.String)
    batch_names = pl.Series(batch_ids(batches), dtype=pl.String)
    raw = raw.join(
        _places(geography, provinces.names), on=["prov", "district", "commune"], how="left"
    ).with_columns(
        pl.col(c).replace("", None) for c in ("family", "middle", "given", "father", "mother")
    )
    text = raw.select(
        pl.concat_str(["family", "middle", "given"], separator=" ", ignore_nulls=True).alias(
            "full_name"
        ),
        _dob_text(raw).alias("date_of_birth"),
        pl.col("sex"),
        pl.Series("birth_place", provinces.names, pl.String).gather(raw["birth_prov"]),
        pl.col("ethnicity"),
        pl.col("religion"),
        pl.col("occupation"),
        pl.col("id_number"),
        pl.col("father").alias("father_name"),
        pl.col("mother").alias("mother_name"),
        pl.format("{}-{}", pl.lit(prefix), pl.col("household_key")).alias("household_id"),
        pl.col("relation").alias("relation_to_head"),
        pl.col("residence").alias("residence_type"),
        pl.col("registered_on").cast(pl.String),
        pl.col("house_number").cast(pl.String),
        pl.format("Thôn {}", pl.col("hamlet")).alias("hamlet"),
        pl.col("commune_name").alias("commune"),
        pl.col("district_name").alias("district"),
        pl.lit(None, pl.String).alias("address"),
    )
    reference_date = dt.date.fromisoformat(batch_ids(batches)[-1])
    std = standardise(text, reference_date)
    records = std.with_columns(
        province_code=codes.gather(raw["prov"]),
        batch_id=batch_names.gather(raw["batch"]),
        person_id=pl.format("{}-{}", pl.lit(prefix), raw["person_id"]),
    )
    twins = people.filter(pl.col("twin_of") != "").select(
        pl.format("{}-{}", pl.lit(prefix), "person_id").alias("person_id"),
        pl.format("{}-{}", pl.lit(prefix), "twin_of").alias("twin_of"),
    )
    return records, twins


def _meta(records: int, seed: int, profile: str, batches: int) -> dict[str, object]:
    return {
        "version": _FORMAT_VERSION,
        "records": records,
        "seed": seed,
        "profile": profile,
        "batches": batches,
    }


def generate_bench_data(
    records: int, out: Path, seed: int = 1, profile: str = "hard", batches: int = 2
) -> BenchData:
    """Write ``records`` standardised records and their truth to ``out`` (reused if present).

    Args:
        records: Exact number of records.
        out: Output folder (created; replaced if made with other arguments).
        seed: Seed of every random draw.
        profile: Generator profile (``hard`` or ``default``).
        batches: Batches the generator spreads registrations over.

    Returns:
        What was written.
    """
    out = Path(out)
    meta_path = out / "meta.json"
    wanted = _meta(records, seed, profile, batches)
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in wanted} == wanted:
            return BenchData(folder=out, **{k: meta[k] for k in _DATA_FIELDS})
    out.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    started = time.perf_counter()
    written = persons = chunk = 0
    with (
        open(out / "records.csv", "wb") as rec_file,
        open(out / "truth.csv", "wb") as truth_file,
        open(out / "twins.csv", "wb") as twin_file,
    ):
        while written < records:
            remaining = records - written
            # About 1.27 records per person (hard profile, 2 batches); draw a little more.
            n_persons = min(CHUNK_PERSONS, max(10, math.ceil(remaining / 1.2)))
            frame, twins = _chunk(n_persons, seed, chunk, profile, batches)
            take = min(remaining, frame.height)
            frame = frame.sample(n=take, shuffle=True, seed=seed + chunk)
            frame = frame.with_columns(
                local_id=pl.int_range(written, written + take, dtype=pl.Int64)
                .cast(pl.String)
                .str.zfill(9)
            ).with_columns(record_key=pl.format("{}:{}", "province_code", "local_id"))
            header = chunk == 0
            frame.select(CSV_COLUMNS).write_csv(rec_file, include_header=header)
            frame.select("record_key", "person_id").write_csv(truth_file, include_header=header)
            twins.write_csv(twin_file, include_header=header)
            written += take
            persons += frame["person_id"].n_unique()
            chunk += 1
    data = BenchData(
        folder=out,
        records=written,
        persons=persons,
        seed=seed,
        profile=profile,
        batches=batches,
        seconds=round(time.perf_counter() - started, 1),
    )
    meta_path.write_text(json.dumps(wanted | asdict(data) | {"folder": str(out)}, indent=2))
    return data


_DATA_FIELDS = ("records", "persons", "seed", "profile", "batches", "seconds")


def read_records(path: Path) -> pl.DataFrame:
    """Read ``records.csv`` into a frame with the types of ``RECORD_SCHEMA``."""
    header = pl.read_csv(path, n_rows=0).columns
    return pl.read_csv(path, schema={c: RECORD_SCHEMA[c] for c in header})


def main() -> None:
    """Generate a data set and print what was written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/dancu-bench-data"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", default="hard")
    parser.add_argument("--batches", type=int, default=2)
    args = parser.parse_args()
    data = generate_bench_data(args.records, args.out, args.seed, args.profile, args.batches)
    print(
        f"{data.records:,} records of {data.persons:,} persons in {data.records_csv} "
        f"({data.records_csv.stat().st_size / 1e6:,.0f} MB, generated in {data.seconds} s)"
    )


if __name__ == "__main__":
    main()
