"""Benchmark: dancu's deduplication against Splink 5 (DuckDB) on the same records CSV.

    make bench-env   # once: Splink in .bench-venv/, not a project dependency
    .venv/bin/python -m bench.vs_splink --records 1000000 [--seed 1] [--repeat 1]
        [--workdir /tmp/dancu-bench-match] [--csv FILE --truth FILE --twins FILE]
        [--dancu-rev HEAD] [--max-rss-mb 21000] [--splink-u-pairs 1e8] [--only splink]

Generates (or reuses) N plain UTF-8 CSV person records with known truth
(``bench.data``), then runs each tool in its own process on that file, one
after the other in this run (``--repeat`` alternates them several times):
dancu through ``bench/run_dancu.py`` (``link_records``: blocking to
clusters), Splink through ``bench/run_splink.py`` in ``.bench-venv``. Prints,
for each: wall time of the process (from start to the clusters on disk, CSV
read included), its steps, peak RSS (the child's own ``ru_maxrss``), pairwise
precision / recall / F1 and B-cubed F1 against the truth, twin pairs merged;
then the time and memory ratios (Splink / dancu, > 1 means dancu is better).
``--dancu-rev`` measures a commit (exported with ``git archive``) instead of
the working tree; a child whose RSS passes ``--max-rss-mb`` is killed and
reported (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from bench.data import generate_bench_data
from bench.measure import Measured, child_env, run_measured, source_tree
from quality.metrics import Evaluation, evaluate_frames

REPO = Path(__file__).resolve().parents[1]
SPLINK_PYTHON = REPO / ".bench-venv" / "bin" / "python"


@dataclass(frozen=True)
class ToolRun:
    """One tool's run: measurements, its own stats and its accuracy."""

    tool: str
    measured: Measured
    stats: dict[str, Any]
    evaluation: Evaluation


def _evaluate(clusters: Path, truth: pl.DataFrame, twins: pl.DataFrame) -> Evaluation:
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


def _run_tool(
    tool: str,
    csv: Path,
    workdir: Path,
    truth: pl.DataFrame,
    twins: pl.DataFrame,
    source: Path,
    max_rss_mb: float,
    u_pairs: float,
) -> ToolRun | None:
    out = workdir / tool
    script = "run_dancu.py" if tool == "dancu" else "run_splink.py"
    python = sys.executable if tool == "dancu" else str(SPLINK_PYTHON)
    command = [python, str(REPO / "bench" / script), "--csv", str(csv), "--out", str(out)]
    command += [] if tool == "dancu" else ["--u-max-pairs", str(u_pairs)]
    (out / "stats.json").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{tool}.log"
    if tool == "dancu":
        measured = run_measured(
            command, log, cwd=source, env=child_env(source), max_rss_mb=max_rss_mb
        )
    else:
        measured = run_measured(command, log, cwd=REPO, max_rss_mb=max_rss_mb)
    if measured.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        why = (
            "RSS passed --max-rss-mb, stopped by this bench"
            if measured.killed_at_limit
            else "SIGKILL: the kernel's out-of-memory killer, most likely"
            if measured.returncode == -9
            else "see the log"
        )
        print(
            f"{tool} FAILED (exit {measured.returncode}: {why}) after "
            f"{measured.wall_seconds:.0f} s, peak RSS {measured.peak_rss_mb:,.0f} MB; "
            f"log {log}\n{tail}"
        )
        trace = out / "trace.jsonl"
        if trace.exists() and trace.stat().st_size:
            print(f"  last trace line: {trace.read_text().splitlines()[-1]}")
        return None
    stats = json.loads((out / "stats.json").read_text())
    evaluation = _evaluate(out / "clusters.parquet", truth, twins)
    return ToolRun(tool=tool, measured=measured, stats=stats, evaluation=evaluation)


def _steps(run: ToolRun) -> str:
    seconds = dict(run.stats["seconds"])
    if run.tool == "dancu":
        seconds = {"read_csv": run.stats["read_seconds"], **seconds}
    return ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())


def _dedup_seconds(run: ToolRun) -> float:
    """Seconds from the records in memory to the clusters (CSV read and write excluded)."""
    seconds = run.stats["seconds"]
    if run.tool == "dancu":
        return float(sum(seconds.values()))
    return float(sum(v for k, v in seconds.items() if k not in ("load", "write")))


def _print_run(run: ToolRun) -> None:
    e = run.evaluation
    print(f"{run.tool}")
    print(
        f"  wall {run.measured.wall_seconds:7.1f} s   dedup (no CSV I/O) "
        f"{_dedup_seconds(run):7.1f} s   peak RSS {run.measured.peak_rss_mb:8,.0f} MB"
    )
    print(f"  steps (s): {_steps(run)}")
    print(
        f"  pairwise P {e.pairwise_precision:.4f}  R {e.pairwise_recall:.4f}  "
        f"F1 {e.pairwise_f1:.4f}   B-cubed F1 {e.bcubed_f1:.4f}   "
        f"twin pairs merged {e.twin_pairs_merged} of {e.twin_pairs}"
    )
    print(
        f"  pairs correct {e.correct_pairs:,} / predicted {e.predicted_pairs:,} / "
        f"true {e.true_pairs:,}; persons predicted {e.predicted_persons:,} "
        f"(true {e.true_persons:,})"
    )


def main() -> None:
    """Run the comparison and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="alternate the tools this often")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dancu-bench-match"))
    parser.add_argument("--csv", type=Path, help="records CSV to use instead of generating")
    parser.add_argument("--truth", type=Path, help="with --csv: record_key,person_id")
    parser.add_argument("--twins", type=Path, help="with --csv: person_id,twin_of (optional)")
    parser.add_argument(
        "--dancu-rev", help="git revision or source folder to measure (default: working tree)"
    )
    parser.add_argument("--max-rss-mb", type=float, default=21_000)
    parser.add_argument("--splink-u-pairs", type=float, default=1e8, help="Splink u sample")
    parser.add_argument("--only", choices=["dancu", "splink"], help="run one tool (no ratio)")
    args = parser.parse_args()
    source, label = source_tree(args.dancu_rev, args.workdir)
    print(f"dancu: {label}")
    if not SPLINK_PYTHON.exists():
        raise SystemExit("no Splink environment: run `make bench-env` first")
    if args.csv:
        if not args.truth:
            raise SystemExit("--csv needs --truth")
        csv, truth_csv, twins_csv = args.csv, args.truth, args.twins
    else:
        data = generate_bench_data(
            args.records, args.workdir / f"data-{args.records}-seed{args.seed}", args.seed
        )
        csv, truth_csv, twins_csv = data.records_csv, data.truth_csv, data.twins_csv
        print(
            f"data: {data.records:,} records of {data.persons:,} persons, {data.profile} "
            f"profile, seed {data.seed}: {csv} ({csv.stat().st_size / 1e6:,.0f} MB)"
        )
    truth = (
        pl.read_csv(truth_csv, infer_schema=False)
        .select(
            pl.col("record_key")
            .str.split_exact(":", 1)
            .struct.rename_fields(["province_code", "local_id"]),
            "person_id",
        )
        .unnest("record_key")
    )
    twins = (
        pl.read_csv(twins_csv, infer_schema=False)
        if twins_csv and twins_csv.exists()
        else pl.DataFrame(schema={"person_id": pl.String, "twin_of": pl.String})
    )
    workdir = args.workdir / "vs_splink"
    workdir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[ToolRun]] = {"dancu": [], "splink": []}
    for round_no in range(args.repeat):
        order = ["dancu", "splink"] if round_no % 2 == 0 else ["splink", "dancu"]
        for tool in order:
            if args.only and tool != args.only:
                continue
            run = _run_tool(
                tool, csv, workdir, truth, twins, source, args.max_rss_mb, args.splink_u_pairs
            )
            if run is None:
                continue
            runs[tool].append(run)
            print(f"[round {round_no + 1}] ", end="")
            _print_run(run)
    if not runs["dancu"] or not runs["splink"]:
        raise SystemExit("no ratio: a tool did not finish")
    dancu, splink = runs["dancu"], runs["splink"]
    wall = {t: statistics.median(r.measured.wall_seconds for r in rs) for t, rs in runs.items()}
    dedup = {t: statistics.median(_dedup_seconds(r) for r in rs) for t, rs in runs.items()}
    rss = {t: max(r.measured.peak_rss_mb for r in rs) for t, rs in runs.items()}
    f1 = {t: rs[-1].evaluation.pairwise_f1 for t, rs in runs.items()}
    print(f"\nsummary over {args.repeat} run(s) each (median time, largest peak RSS)")
    print(f"  {'':8}{'wall s':>9}{'dedup s':>9}{'peak MB':>10}{'F1':>8}")
    for tool in runs:
        print(f"  {tool:8}{wall[tool]:9.1f}{dedup[tool]:9.1f}{rss[tool]:10,.0f}{f1[tool]:8.4f}")
    print(
        f"  ratios Splink/dancu: wall {wall['splink'] / wall['dancu']:.2f}x, "
        f"dedup {dedup['splink'] / dedup['dancu']:.2f}x, "
        f"peak memory {rss['splink'] / rss['dancu']:.2f}x; "
        f"F1 dancu - Splink {f1['dancu'] - f1['splink']:+.4f}"
    )
    config = splink[-1].stats["config"]
    print(f"\nSplink {config['splink']} (DuckDB {config['duckdb']}) configuration")
    for key in ("blocking_rules", "comparisons", "prior_rules", "em_rules"):
        print(f"  {key}:")
        for item in config[key]:
            print(f"    {item}")
    print(
        f"  prior recall {config['prior_recall']}, u from {config['u_max_pairs']:.0e} random "
        f"pairs, predict >= {config['predict_threshold']}, "
        f"cluster >= {config['cluster_threshold']}"
    )
    print(f"dancu: default MatchSettings; candidate pairs {dancu[-1].stats['candidate_pairs']:,}")


if __name__ == "__main__":
    main()
