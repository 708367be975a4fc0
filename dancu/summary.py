"""What a user reads at the end of a run, and the state of a warehouse, as text."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.warehouse import REGISTRY_FILE, REPORT_FILE, connect
from pipelines.warehouse.registry import latest_runs, registry_totals


@dataclass(frozen=True)
class RunSummary:
    """The figures a user sees at the end of a run."""

    batch_id: str
    provinces: int
    counts: dict[str, int]
    match: dict[str, Any]
    report: str
    registry: str
    skipped: bool = False
    seconds: dict[str, float] = field(default_factory=dict)  # per stage (and match.<step>)
    decisions_applied: int = 0

    def _model_line(self) -> str:
        source = self.match.get("model_source", "fitted")
        if source == "fitted":
            return "  model: fitted on this batch's records"
        note = self.match.get("model_note", "")
        why = f" (this batch's fit failed: {note})" if note else ""
        return f"  model: {source}{why}"

    def to_text(self) -> str:
        """Human-readable summary lines."""
        if self.skipped:
            return f"batch {self.batch_id}: already loaded with these files; nothing changed"
        c = self.counts
        return "\n".join(
            [
                f"batch {self.batch_id}: {self.provinces} provinces",
                f"  rows read {c['rows_read']:,} = loaded {c['rows_loaded']:,}"
                f" + quarantined {c['rows_quarantined']:,} + skipped {c['rows_skipped']:,}",
                f"  persons {c['persons_total']:,} (new {c['persons_new']:,},"
                f" pending {c['persons_pending']:,}); registered persons merged"
                f" {c['persons_merged']:,}",
                f"  PINs issued {c['pins_issued']:,}; candidate pairs {self.match['pairs']:,}"
                f" (link {self.match.get('pairs_link', 0):,},"
                f" review {self.match.get('pairs_review', 0):,})",
                self._model_line(),
                f"  reviewers' decisions applied {self.decisions_applied:,}",
                f"  registry: {self.registry}",
                f"  report:   {self.report}",
                *self._stage_lines(),
            ]
        )

    def _stage_lines(self) -> list[str]:
        stages = {k: v for k, v in self.seconds.items() if "." not in k}
        steps = {k.split(".", 1)[1]: v for k, v in self.seconds.items() if k.startswith("match.")}
        lines = []
        if stages:
            lines.append("  stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
        if steps:
            lines.append("  match (s):  " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))
        return lines


def warehouse_summary(warehouse: Path) -> str:
    """Return the latest run of each batch and the registry totals, as text."""
    path = warehouse / REGISTRY_FILE
    if not path.exists():
        raise FileNotFoundError(f"no registry at '{path}': run `dancu run` first")
    with connect(path, read_only=True) as con:
        runs = latest_runs(con)
        totals = registry_totals(con)
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
