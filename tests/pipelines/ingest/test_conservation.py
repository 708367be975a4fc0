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
from tests.registry_helpers import demo_settings

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
    from pipelines.warehouse import Retention

    warehouse = tmp_path / "warehouse"
    for batch in sorted((delivery / "inbox").iterdir()):
        summary = run_batch(batch, warehouse, demo_settings(retention=Retention(keep_staging=True)))
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


def test_every_generated_person_row_loads_and_sheets_without_persons_are_quarantined(
    delivery: Path, staged: dict[str, tuple[pl.DataFrame, pl.DataFrame]]
) -> None:
    """Against the generator's truth: what each physical row became.

    Person rows load (a person row is quarantined only as the repeat of a
    local_id a flawed row took first); junk never loads; the non-blank rows of
    summary and notes sheets are quarantined with their reason; a flawed row
    that loads carries a flaw code.
    """
    from domain.schema import QUARANTINE_SCHEMA
    from pipelines.warehouse.parquet import read_staged

    key = ["batch_id", "source_file", "source_sheet", "source_row"]
    truth = pl.read_csv(delivery / "truth" / "records.csv", infer_schema=False).with_columns(
        pl.col("source_row").cast(pl.Int64)
    )
    sheets = pl.read_csv(delivery / "truth" / "files.csv", infer_schema=False)
    records = pl.concat([r for r, _ in staged.values()])
    quarantine = pl.concat(
        read_staged(delivery / "warehouse-staged" / "staging", b, "quarantine", QUARANTINE_SCHEMA)
        for b in staged
    )
    fates = truth.join(
        records.select(*key[:3], "source_row", "flaws", loaded=pl.lit(True)).with_columns(
            pl.col("source_sheet").fill_null("")
        ),
        on=key,
        how="left",
    ).join(
        quarantine.select(*key, "reason").with_columns(pl.col("source_sheet").fill_null("")),
        on=key,
        how="left",
    )
    people = fates.filter(pl.col("row_kind") == "person")
    lost = people.filter(pl.col("loaded").is_null())
    repeated = fates.filter(pl.col("note").str.contains("flaw:repeated_local_id"))
    assert lost["reason"].str.starts_with("duplicate local_id").all(), lost
    assert lost["local_id"].is_in(repeated["local_id"].implode()).all(), lost
    assert people.height > 500 and lost.height <= repeated.height
    assert fates.filter(pl.col("row_kind") == "junk")["loaded"].is_null().all()
    # Totals rows, in any encoding (NFD workbooks included), are skipped as totals.
    totals = fates.filter(pl.col("note") == "total")
    assert totals.height and totals["reason"].is_null().all(), totals
    # A repeated local_id is the flaw of the row that comes second, whatever its kind.
    flawed = fates.filter(
        pl.col("row_kind") == "flawed", pl.col("loaded"), ~pl.col("note").str.contains("repeated")
    )
    assert flawed.height and flawed["flaws"].is_not_null().all(), flawed
    without = fates.join(
        sheets.filter(pl.col("sheet_kind").is_in(["summary", "notes"])).select(key[:3]),
        on=key[:3],
    )
    assert without.height > 10
    reasons = without.filter(pl.col("reason").is_not_null())["reason"]
    assert (reasons == "sheet without a person header: " + NO_HEADER).all()
    # Each of those rows is quarantined, but for the blank rows of the notes sheets.
    assert (
        without.height - reasons.len()
        == without.filter(pl.col("note") == "notes_sheet").height // 5
    )


NO_HEADER = "no header row with a name column found in the first rows"
