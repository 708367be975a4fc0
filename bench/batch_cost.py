"""Benchmark: what a later batch costs against a registry of R persons (issue 14, target 3).

    .venv/bin/python -m bench.batch_cost --registry 1000000 --batch 100000 [--seed 1]
        [--workdir /tmp/dancu-batch-cost] [--max-rss-mb 21000]

One clean delivery (``dancu generate --profile clean``) of R + B persons is cut
in two batches by household (a household's records travel together; a
person registered in two provinces may land in both batches, so the second
batch finds some of its persons registered): the first, about R persons,
is loaded with ``dancu run``; then the second, about B persons, with another
``dancu run``, each in its own process. Printed for each: wall time, peak RSS,
each stage's time and matching's steps. A batch should cost what it holds:
compare the second run's figures across registry sizes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import polars as pl

from bench.measure import run_measured
from bench.whole_run import DANCU, REPO, clean_delivery, load_average, stage_seconds

FIRST, SECOND = "2021-06-15", "2021-09-30"


def split_delivery(delivery: Path, out: Path, second_share: float) -> dict[str, int]:
    """Cut the delivery's one batch in two by household; return the rows of each batch."""
    if (out / "split.json").exists():
        return dict(json.loads((out / "split.json").read_text()))
    shutil.rmtree(out, ignore_errors=True)
    (source,) = (delivery / "inbox").iterdir()
    rows = {FIRST: 0, SECOND: 0}
    cut = int(second_share * 2**32)
    for csv in sorted(source.glob("*/*.csv")):
        frame = pl.read_csv(csv, infer_schema=False)
        household = frame.columns[1]  # Số hộ khẩu
        digest = pl.Series(
            [
                int.from_bytes(
                    hashlib.blake2b(f"{csv.parent.name}:{h}".encode(), digest_size=4).digest()
                )
                for h in frame[household]
            ]
        )
        second = digest < cut
        for batch, part in ((FIRST, frame.filter(~second)), (SECOND, frame.filter(second))):
            if part.height:
                folder = out / "inbox" / batch / csv.parent.name
                folder.mkdir(parents=True, exist_ok=True)
                part.write_csv(folder / csv.name)
                rows[batch] += part.height
    (out / "split.json").write_text(json.dumps(rows))
    return rows


def _run(inbox: Path, warehouse: Path, log: Path, max_rss_mb: float) -> None:
    # The public demo keys, unless DANCU_*_KEY_FILE name others.
    command = [str(DANCU), "run", "--inbox", str(inbox), "--warehouse", str(warehouse), "--demo"]
    measured = run_measured(command, log, cwd=REPO, max_rss_mb=max_rss_mb)
    text = log.read_text()
    if measured.returncode != 0:
        raise SystemExit(
            f"dancu run failed (exit {measured.returncode}); log {log}\n{text[-2000:]}"
        )
    seconds = stage_seconds(text)
    print(
        f"  {inbox.name}: wall {measured.wall_seconds:.1f} s, peak RSS "
        f"{measured.peak_rss_mb:,.0f} MB (load average {load_average()})"
    )
    for line in text.splitlines():
        if line.startswith(("  rows read", "  persons", "  PINs")):
            print(f"    {line.strip()}")
    stages = ", ".join(f"{k} {v:.1f}" for k, v in seconds.items() if "." not in k)
    steps = ", ".join(f"{k[6:]} {v:.1f}" for k, v in seconds.items() if k.startswith("match."))
    print(f"    stages (s): {stages}\n    match steps (s): {steps}")


def main() -> None:
    """Load the first batch, then the second, and print what each cost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=int, default=1_000_000, help="persons registered first")
    parser.add_argument("--batch", type=int, default=100_000, help="persons of the later batch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dancu-batch-cost"))
    parser.add_argument("--max-rss-mb", type=float, default=21_000)
    args = parser.parse_args()
    persons = args.registry + args.batch
    delivery = clean_delivery(persons, args.seed, args.workdir)
    split = args.workdir / f"split-{args.registry}-{args.batch}-seed{args.seed}"
    rows = split_delivery(delivery, split, args.batch / persons)
    print(
        f"delivery: {persons:,} persons (clean profile, seed {args.seed}) cut by household: "
        f"batch {FIRST} {rows[FIRST]:,} records, batch {SECOND} {rows[SECOND]:,} records"
    )
    print(f"load average at start: {load_average()}")
    warehouse = args.workdir / "warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)
    print("first batch (the registry):")
    _run(split / "inbox" / FIRST, warehouse, args.workdir / "first.log", args.max_rss_mb)
    print("second batch (against the registry):")
    _run(split / "inbox" / SECOND, warehouse, args.workdir / "second.log", args.max_rss_mb)


if __name__ == "__main__":
    main()
