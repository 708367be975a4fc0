"""Summarise a warehouse for people: what the runs read, loaded and issued."""

from __future__ import annotations

from pathlib import Path

from pipelines.load import connect
from pipelines.storage import REGISTRY_FILE, REPORT_FILE


def warehouse_summary(warehouse: Path) -> str:
    """Return the latest run of each batch and the registry totals, as text."""
    path = warehouse / REGISTRY_FILE
    if not path.exists():
        raise FileNotFoundError(f"no registry at '{path}': run `dancu run` first")
    with connect(path, read_only=True) as con:
        runs = con.execute(
            """
            SELECT batch_id, rows_read, rows_loaded, rows_quarantined, rows_skipped,
                   persons_new, persons_merged, pins_issued
            FROM run QUALIFY row_number() OVER (PARTITION BY batch_id ORDER BY ended_at DESC) = 1
            ORDER BY batch_id
            """
        ).fetchall()
        totals = con.execute(
            """
            SELECT count(*) FILTER (status = 'active'), count(*) FILTER (status = 'pending'),
                   count(*) FILTER (status = 'retired'),
                   (SELECT count(*) FROM source_record),
                   (SELECT count(*) FROM match_link WHERE decision = 'review')
            FROM person
            """
        ).fetchall()[0]
    lines = ["batch        read  = loaded + quarantined + skipped | new persons  merged  PINs"]
    for batch, read, loaded, bad, skipped, new, merged, pins in runs:
        lines.append(
            f"{batch:<10} {read:>6} = {loaded:>6} + {bad:>11} + {skipped:>7} |"
            f" {new:>11} {merged:>7} {pins:>5}"
        )
    active, pending, retired, records, review = totals
    lines += [
        f"registry: {records:,} source records -> {active + pending:,} persons"
        f" ({active:,} with a PIN, {pending:,} pending verification);"
        f" {records - active - pending:,} records linked as duplicates;"
        f" {retired:,} PINs retired by merges; {review:,} pairs await clerical review",
        f"registry file: {path.resolve()}",
        f"HTML report:   {(warehouse / REPORT_FILE).resolve()}",
    ]
    return "\n".join(lines)
