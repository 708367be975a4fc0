"""Benchmark: the whole ``dancu run`` against Splink 5's dedupe alone, on one clean delivery.

    make bench-env   # once: Splink in .bench-venv/, not a project dependency
    .venv/bin/python -m bench.whole_run --persons 1000000 [--seed 1]
        [--workdir /tmp/dancu-whole] [--splink-u-pairs 1e8] [--only dancu|splink]
        [--max-rss-mb 21000]

The delivery is ``dancu generate --profile clean``: one UTF-8 CSV per
province, 1.24 records per person, the default corruptions of repeated
records (generated once per persons and seed, then reused). In one invocation,
one after the other, each in its own process:

1. ``dancu run`` on the inbox: raw exports to ``registry.duckdb``, every
   stage (ingest, the Great Expectations checks, matching, the PIN register,
   the load, the registry's checks and the HTML report), Python's imports
   included. Printed: wall time, peak RSS, each stage's time and matching's
   steps (from ``dancu run``'s own output), and the share of the run spent in
   the Great Expectations checks. It runs on the public demo keys
   (``--demo``) and keeps the batch's staging (``[retention] keep_staging``)
   for step 2.
2. Splink 5 (``bench/run_splink.py``, DuckDB, in ``.bench-venv``) on the same
   records as ``dancu run`` staged them (standardised, one CSV): matching
   alone, from the CSV to the clusters. Its input is written between the two
   runs and not counted.

Both are scored against the generator's truth (pairwise precision, recall,
F1; B-cubed F1). Then the ratios. Check the machine is quiet first (the
load average is printed at the start and at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

import polars as pl

from bench.measure import Measured, run_measured
from dancu.keys import load_keys
from quality.metrics import Evaluation, evaluate_frames

REPO = Path(__file__).resolve().parents[1]
SPLINK_PYTHON = REPO / ".bench-venv" / "bin" / "python"
DANCU = Path(sys.executable).with_name("dancu")
#: The public demo keys (``dancu run --demo``), unless DANCU_*_KEY_FILE name others.
KEYS = load_keys({}, demo=True)
#: Splink reads the records ``dancu run`` staged: they are kept after the load.
KEEP_STAGING = "[retention]\nkeep_staging = true\n"
#: The columns ``bench/run_splink.py`` reads.
SPLINK_COLUMNS = (
    "record_key",
    "family_name",
    "middle_name",
    "given_name",
    "father_name",
    "mother_name",
    "address",
    "date_of_birth",
    "dob_placeholder",
    "birth_year",
    "birth_month",
    "birth_day",
    "sex",
    "birth_province_code",
    "id_number",
)
#: Stages that are Great Expectations checks (all of ``validate_staged``; ``quality``
#: also writes the HTML report).
GX_STAGES = ("validate_staged", "quality")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def clean_delivery(persons: int, seed: int, workdir: Path) -> Path:
    """The clean delivery's folder (``inbox/``, ``truth/``), generated once."""
    out = workdir / f"clean-{persons}-seed{seed}"
    done = out / "meta.json"
    if done.exists():
        return out
    from synth import generate

    summary = generate(persons=persons, seed=seed, out=out, profile="clean")
    meta = {"persons": summary.persons, "records": summary.records, "files": summary.files}
    done.write_text(json.dumps(meta))
    return out


def stage_seconds(log: str) -> dict[str, float]:
    """Each stage's and matching step's seconds from ``dancu run``'s output."""
    out: dict[str, float] = {}
    for prefix, line in re.findall(r"^  (stages|match) \(s\):\s+(.*)$", log, re.M):
        for item in line.split(", "):
            name, value = item.rsplit(" ", 1)
            out[name if prefix == "stages" else f"match.{name}"] = float(value)
    return out


def _truth(delivery: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    truth = pl.read_csv(delivery / "truth" / "records.csv", infer_schema=False)
    twins = pl.read_csv(delivery / "truth" / "persons.csv", infer_schema=False).select(
        "person_id", "twin_of"
    )
    return truth, twins


def _score_dancu(delivery: Path, warehouse: Path) -> Evaluation:
    from dancu.evaluate import evaluate

    return evaluate(delivery / "truth", warehouse)


def _score_splink(delivery: Path, clusters: Path) -> Evaluation:
    truth, twins = _truth(delivery)
    predicted = (
        pl.read_parquet(clusters)
        .select(
            pl.col("record_key")
            .str.split_exact(":", 1)
            .struct.rename_fields(["province_code", "local_id"]),
            pl.col("cluster_id").cast(pl.String).alias("predicted"),
        )
        .unnest("record_key")
    )
    return evaluate_frames(truth, predicted, twins)


def splink_input(warehouse: Path, out: Path) -> int:
    """Write the records ``dancu run`` staged as one CSV for Splink; return the rows."""
    staged = pl.scan_parquet(warehouse / "staging" / "*" / "records" / "**" / "*.parquet")
    frame = staged.select(SPLINK_COLUMNS).collect()
    frame.write_csv(out)
    return frame.height


def _print_eval(e: Evaluation) -> str:
    return (
        f"pairwise P {e.pairwise_precision:.4f} R {e.pairwise_recall:.4f} "
        f"F1 {e.pairwise_f1:.4f}; B-cubed F1 {e.bcubed_f1:.4f}; "
        f"persons predicted {e.predicted_persons:,} (true {e.true_persons:,}); "
        f"twin pairs merged {e.twin_pairs_merged:,} of {e.twin_pairs:,}"
    )


def _failed(tool: str, measured: Measured, log: Path) -> None:
    tail = log.read_text(errors="replace")[-2000:]
    print(
        f"{tool} FAILED (exit {measured.returncode}) after {measured.wall_seconds:.0f} s, "
        f"peak RSS {measured.peak_rss_mb:,.0f} MB; log {log}\n{tail}"
    )


def run_dancu(delivery: Path, workdir: Path, max_rss_mb: float) -> tuple[Measured, Path] | None:
    """``dancu run`` on the delivery's inbox into a fresh warehouse; print its figures."""
    warehouse = workdir / "warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)
    log = workdir / "dancu.log"
    settings = workdir / "settings.toml"
    settings.write_text(KEEP_STAGING)
    command = [str(DANCU), "run", "--inbox", str(delivery / "inbox"), "--warehouse", str(warehouse)]
    command += ["--demo", "--settings", str(settings)]
    measured = run_measured(command, log, cwd=REPO, max_rss_mb=max_rss_mb)
    if measured.returncode != 0:
        _failed("dancu run", measured, log)
        return None
    text = log.read_text()
    seconds = stage_seconds(text)
    stages = {k: v for k, v in seconds.items() if "." not in k}
    accounted = sum(stages.values())
    gx = sum(stages.get(s, 0.0) for s in GX_STAGES)
    print("dancu run (the whole pipeline: raw exports to registry, checks and report)")
    print(
        f"  wall {measured.wall_seconds:7.1f} s   peak RSS {measured.peak_rss_mb:8,.0f} MB   "
        f"(start-up and imports {measured.wall_seconds - accounted:.1f} s)"
    )
    for line in text.splitlines():
        if line.startswith(("batch ", "  rows read", "  persons", "  PINs")):
            print(f"  {line.strip()}")
    print("  stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    steps = {k[6:]: v for k, v in seconds.items() if k.startswith("match.")}
    print("  match steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))
    print(
        f"  Great Expectations stages ({' + '.join(GX_STAGES)}): {gx:.1f} s = "
        f"{100 * gx / measured.wall_seconds:.1f} % of the run"
    )
    print(f"  {_print_eval(_score_dancu(delivery, warehouse))}")
    return measured, warehouse


def run_splink(
    delivery: Path, workdir: Path, records_csv: Path, u_pairs: float, max_rss_mb: float
) -> Measured | None:
    """Splink 5 on the staged records; print its figures."""
    out = workdir / "splink"
    out.mkdir(parents=True, exist_ok=True)
    log = workdir / "splink.log"
    command = [str(SPLINK_PYTHON), str(REPO / "bench" / "run_splink.py")]
    command += ["--csv", str(records_csv), "--out", str(out), "--u-max-pairs", str(u_pairs)]
    measured = run_measured(command, log, cwd=REPO, max_rss_mb=max_rss_mb)
    if measured.returncode != 0:
        _failed("splink", measured, log)
        return None
    stats = json.loads((out / "stats.json").read_text())
    print("Splink 5 dedupe (matching alone: records CSV to clusters)")
    print(f"  wall {measured.wall_seconds:7.1f} s   peak RSS {measured.peak_rss_mb:8,.0f} MB")
    steps = ", ".join(f"{k} {v:.1f}" for k, v in stats["seconds"].items())
    print(f"  steps (s): {steps}; u from {u_pairs:.0e} random pairs")
    print(f"  {_print_eval(_score_splink(delivery, out / 'clusters.parquet'))}")
    return measured


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dancu-whole"))
    parser.add_argument("--splink-u-pairs", type=float, default=1e8)
    parser.add_argument("--only", choices=["dancu", "splink"])
    parser.add_argument("--max-rss-mb", type=float, default=21_000)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    delivery = clean_delivery(args.persons, args.seed, args.workdir)
    meta = json.loads((delivery / "meta.json").read_text())
    print(
        f"delivery: {meta['records']:,} records of {meta['persons']:,} persons in "
        f"{meta['files']} UTF-8 CSV files (clean profile, seed {args.seed}): {delivery}"
    )
    print(f"load average at start: {load_average()}; {os.cpu_count()} cores")
    runs = args.workdir / "runs"
    runs.mkdir(exist_ok=True)
    dancu = None
    if args.only != "splink":
        dancu = run_dancu(delivery, runs, args.max_rss_mb)
    warehouse = runs / "warehouse"
    splink = None
    if args.only != "dancu":
        if not SPLINK_PYTHON.exists():
            raise SystemExit("no Splink environment: run `make bench-env` first")
        if not (warehouse / "registry.duckdb").exists():
            raise SystemExit("Splink reads the records dancu run staged: run without --only first")
        records_csv = runs / "splink-records.csv"
        splink_input(warehouse, records_csv)
        splink = run_splink(delivery, runs, records_csv, args.splink_u_pairs, args.max_rss_mb)
    print(f"load average at end: {load_average()}")
    if dancu and splink:
        d, s = dancu[0], splink
        print(
            f"dancu whole run / Splink matching alone: time {d.wall_seconds / s.wall_seconds:.2f}"
            f" ({d.wall_seconds:.1f} s / {s.wall_seconds:.1f} s), peak memory "
            f"{d.peak_rss_mb / s.peak_rss_mb:.2f} ({d.peak_rss_mb:,.0f} MB / "
            f"{s.peak_rss_mb:,.0f} MB); <= 1 means dancu's whole run is within Splink's"
        )


if __name__ == "__main__":
    main()
