"""Conservation on generated batches, checked by real Great Expectations validations.

For every file ingest stages, rows read = loaded + quarantined + skipped. The
``records`` suite checks it on the staged per-file counts (table
``staged_files``) before anything is loaded, and the ``registry`` suite on the
loaded ``ingest_file`` and ``run`` tables; ``dancu run`` runs both on every batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from dancu.stages import plan_batch, run_batch, staged_files, staged_records
from pipelines.ingest.province import ingest_province
from pipelines.warehouse.paths import staging_dir
from quality.expectations import MUST, QualityError, validate_records
from synth import generate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two generated batches of the hard profile, broken files included."""
    out = tmp_path_factory.mktemp("conservation")
    generate(persons=600, seed=21, out=out, batches=2, profile="hard", broken_files=True)
    return out


@pytest.fixture(scope="module")
def staged(delivery: Path) -> dict[str, tuple[pl.DataFrame, pl.DataFrame]]:
    """Each batch ingested (not loaded): its staged records and per-file counts."""
    warehouse = delivery / "warehouse-staged"
    out = {}
    for batch in sorted((delivery / "inbox").iterdir()):
        for code in plan_batch(batch, warehouse):
            ingest_province(batch, code, warehouse / "staging")
        out[batch.name] = (
            staged_records(warehouse, batch.name),
            staged_files(warehouse, batch.name),
        )
    return out


def _conservation(report_results: list, table: str) -> object:  # type: ignore[type-arg]
    return next(r for r in report_results if r.table == table and r.name == "counts_add_up")


def test_every_generated_batch_passes_the_staged_conservation_check(
    staged: dict[str, tuple[pl.DataFrame, pl.DataFrame]],
) -> None:
    assert len(staged) == 2
    for batch, (records, files) in staged.items():
        report = validate_records(records, files)
        assert report.success, (batch, [r.qualified_name for r in report.failures(MUST)])
        check = _conservation(report.results, "staged_files")
        assert check.element_count == files.height > 30  # type: ignore[attr-defined]
        assert check.unexpected_count == 0  # type: ignore[attr-defined]


def test_a_count_that_does_not_add_up_fails_the_suite(
    staged: dict[str, tuple[pl.DataFrame, pl.DataFrame]],
) -> None:
    records, files = next(iter(staged.values()))
    victim = files.filter(pl.col("rows_read") > 2)["source_file"][0]
    broken = files.with_columns(
        pl.when(pl.col("source_file") == victim)
        .then(pl.col("rows_skipped") + 1)
        .otherwise(pl.col("rows_skipped"))
        .alias("rows_skipped")
    )
    report = validate_records(records, broken)
    assert [r.qualified_name for r in report.failures(MUST)] == ["staged_files.counts_add_up"]
    check = _conservation(report.results, "staged_files")
    assert check.unexpected_count == 1  # type: ignore[attr-defined]
    assert victim in json.dumps(check.unexpected_examples)  # type: ignore[attr-defined]
    with pytest.raises(QualityError, match=r"staged_files\.counts_add_up"):
        report.raise_for_failures()


def test_a_missing_count_column_fails_instead_of_passing(
    staged: dict[str, tuple[pl.DataFrame, pl.DataFrame]],
) -> None:
    records, files = next(iter(staged.values()))
    report = validate_records(records, files.drop("rows_skipped"))
    assert "staged_files.counts_add_up" in [r.qualified_name for r in report.failures(MUST)]


def test_the_pipeline_checks_conservation_on_every_batch(delivery: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    for batch in sorted((delivery / "inbox").iterdir()):
        summary = run_batch(batch, warehouse)
        c = summary.counts
        assert c["rows_read"] == c["rows_loaded"] + c["rows_quarantined"] + c["rows_skipped"]
        stage = staging_dir(warehouse, batch.name)
        checks = {}
        for suite in ("records", "registry"):
            saved = json.loads((stage / f"validation-{suite}.json").read_text(encoding="utf-8"))
            assert saved["success"], (batch.name, suite)
            checks |= {
                f"{r['table']}.{r['name']}": r for r in saved["results"] if r["success"] is True
            }
        for name in (
            "staged_files.counts_add_up",
            "ingest_file.counts_add_up",
            "run.counts_add_up",
        ):
            assert name in checks, (batch.name, name)
        assert checks["staged_files.counts_add_up"]["element_count"] == len(
            list((delivery / "inbox" / batch.name).glob("*/*"))
        )
