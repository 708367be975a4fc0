"""Great Expectations suites for standardised records and for the registry.

Each table to check is declared as data: a list of named checks, each naming a
Great Expectations expectation class and its arguments. Adding a check is a
new entry, not new code. The suites run in an ephemeral, offline GX context on
pandas frames (GX's SQL path does not work on DuckDB, so registry tables are
read through DuckDB into pandas first; derived truth columns such as "does the
PIN's century digit agree with sex and birth year" are computed in SQL and the
expectation asks them to be true).

Great Expectations takes several seconds to import, so it is imported inside
the functions that run the suites, never at module level.

Great Expectations decides every check, on a reduced frame that gives the
same outcome as the whole table (``_reduced``): the table's rows are grouped in
polars first, and GX sees one row per group with the rows it stands for. A
check of values (in a set, between bounds, all true) sees each distinct value
once; a not-null check one null and one non-null value; a pattern check every
value the pattern rejects and one it accepts; a uniqueness check every row
whose value is repeated (the others cannot break it). Element and unexpected
counts are the table's rows, the examples the first offending rows' keys. At a
million records GX then validates thousands of rows instead of millions.

The outcome is a small, JSON-serialisable :class:`ValidationReport`. Every
check declared here is must-hold (GX severity ``critical``); a check declared
with ``severity=WARN`` (GX ``warning``) is reported but never fails the run.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import polars as pl

MUST = "must"
WARN = "warn"

_GX_SEVERITY = {MUST: "critical", WARN: "warning"}
_MAX_EXAMPLES = 5


class QualityError(Exception):
    """Raised when a must-hold expectation failed."""


_LOG = logging.getLogger("dancu.quality")


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation.

    Attributes:
        name: Short name of the check, e.g. ``pin_format``.
        table: The table or frame checked, e.g. ``person``.
        column: The column (or comma-joined columns) checked, if any.
        expectation: The GX expectation type, e.g. ``expect_column_values_to_be_unique``.
        severity: ``must`` (fails the run) or ``warn`` (reported only).
        success: Whether the expectation held.
        element_count: Rows seen.
        unexpected_count: Rows that broke it.
        unexpected_examples: Up to five offending rows (their key columns and value).
        exception: GX's error message when the expectation could not run.
    """

    name: str
    table: str
    column: str | None
    expectation: str
    severity: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_examples: list[Any] = field(default_factory=list)
    exception: str | None = None

    @property
    def qualified_name(self) -> str:
        """``table.name``, how failures are named in messages."""
        return f"{self.table}.{self.name}"


@dataclass(frozen=True)
class ValidationReport:
    """The results of one validation run, small enough to keep as JSON.

    Attributes:
        suite_name: ``records`` or ``registry``.
        success: True when every must-hold expectation held.
        results: One entry per expectation, in declaration order.
    """

    suite_name: str
    success: bool
    results: list[ExpectationResult]

    def failures(self, severity: str = MUST) -> list[ExpectationResult]:
        """Return the failed expectations of ``severity``."""
        return [r for r in self.results if not r.success and r.severity == severity]

    def summary_line(self) -> str:
        """One line: the suite, its checks passed and failed (must-hold and should-hold)."""
        failed = [r for r in self.results if not r.success]
        must = sum(1 for r in failed if r.severity == MUST)
        verdict = "passed" if self.success else "FAILED"
        return (
            f"Great Expectations suite '{self.suite_name}' {verdict}: {len(self.results)} checks,"
            f" {len(self.results) - len(failed)} passed, {len(failed)} failed"
            f" ({must} must-hold, {len(failed) - must} warnings)"
        )

    def raise_for_failures(self) -> None:
        """Raise :class:`QualityError` when a must-hold expectation failed.

        Raises:
            QualityError: One line naming each failed must-hold expectation
                and how many rows broke it.
        """
        failed = self.failures(MUST)
        if not failed:
            return
        parts = [
            f"{r.qualified_name} ({r.unexpected_count} unexpected)"
            if r.exception is None
            else f"{r.qualified_name} (error: {r.exception.splitlines()[0][:120]})"
            for r in failed
        ]
        raise QualityError(
            f"{self.suite_name}: {len(failed)} must-hold expectation(s) failed: " + "; ".join(parts)
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-compatible data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        """Rebuild a report from :meth:`to_dict` output."""
        return cls(
            suite_name=data["suite_name"],
            success=data["success"],
            results=[ExpectationResult(**r) for r in data["results"]],
        )


def write_validation_json(report: ValidationReport, path: Path) -> Path:
    """Write ``report`` as JSON, atomically (temporary name, then rename).

    Args:
        report: The report to save.
        path: Destination file; parent folders are created.

    Returns:
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(
        json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    os.replace(tmp, path)
    return path


def read_validation_json(path: Path) -> ValidationReport:
    """Read a report written by :func:`write_validation_json`."""
    return ValidationReport.from_dict(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class _Check:
    """One expectation: a name, a GX expectation class name and its arguments."""

    name: str
    expectation: str
    kwargs: Mapping[str, Any]
    severity: str = MUST


@dataclass(frozen=True)
class _Table:
    """A frame to validate: its name, the key columns that identify a row, its checks."""

    name: str
    key_columns: tuple[str, ...]
    checks: tuple[_Check, ...]
    query: str = ""


def _columns(check: _Check) -> list[str]:
    """The columns a check reads."""
    if "column" in check.kwargs:
        return [check.kwargs["column"]]
    return list(check.kwargs.get("column_list", []))


def _not_null(column: str) -> _Check:
    return _Check(f"{column}_not_null", "ExpectColumnValuesToNotBeNull", {"column": column})


def _all_true(name: str, column: str) -> _Check:
    # Nulls are skipped by GX: a null helper column means "does not apply".
    return _Check(name, "ExpectColumnValuesToBeInSet", {"column": column, "value_set": [True]})


_RECORDS = _Table(
    name="records",
    key_columns=("record_key",),
    checks=(
        _not_null("record_key"),
        _Check("record_key_unique", "ExpectColumnValuesToBeUnique", {"column": "record_key"}),
        _not_null("local_id"),
        _not_null("province_code"),
        _Check(
            "province_code_format",
            "ExpectColumnValuesToMatchRegex",
            {"column": "province_code", "regex": r"^\d{3}$"},
        ),
        _Check(
            "sex_in_set", "ExpectColumnValuesToBeInSet", {"column": "sex", "value_set": ["M", "F"]}
        ),
        _not_null("dob_precision"),
        _Check(
            "dob_precision_in_set",
            "ExpectColumnValuesToBeInSet",
            {"column": "dob_precision", "value_set": ["day", "month", "year", "unknown"]},
        ),
        _Check(
            "birth_year_range",
            "ExpectColumnValuesToBeBetween",
            {"column": "birth_year", "min_value": 1880, "max_value": 2030},
        ),
        _Check(
            "birth_month_range",
            "ExpectColumnValuesToBeBetween",
            {"column": "birth_month", "min_value": 1, "max_value": 12},
        ),
        _Check(
            "birth_day_range",
            "ExpectColumnValuesToBeBetween",
            {"column": "birth_day", "min_value": 1, "max_value": 31},
        ),
        _not_null("full_name"),
    ),
)

# PIN digit 4: 0/1 for 1900-1999, 2/3 for 2000-2099, ... 8/9 for 2300-2399 (male/female).
# Helper columns are null where the rule does not apply (not active, no PIN).
_PERSON_QUERY = """
SELECT
    person_id,
    pin,
    status,
    CASE WHEN status = 'active' AND pin IS NOT NULL THEN coalesce(
        birth_year BETWEEN 1900 AND 2399
        AND substr(pin, 4, 1) = CAST(
            2 * (birth_year // 100 - 19) + CASE sex WHEN 'M' THEN 0 WHEN 'F' THEN 1 END
            AS VARCHAR),
        false) END AS pin_century_sex_ok,
    CASE WHEN status = 'active' AND pin IS NOT NULL THEN coalesce(
        substr(pin, 5, 2) = lpad(CAST(birth_year % 100 AS VARCHAR), 2, '0'),
        false) END AS pin_year_ok,
    CASE WHEN status = 'active' AND pin IS NOT NULL AND birth_province_code IS NOT NULL
        THEN substr(pin, 1, 3) = birth_province_code END AS pin_province_ok
FROM person
ORDER BY person_id
"""

_SOURCE_RECORD_QUERY = """
SELECT s.record_key, s.province_code, s.local_id, s.person_id,
       p.person_id IS NOT NULL AS person_exists,
       CASE WHEN p.person_id IS NOT NULL THEN p.status IN ('active', 'pending') END
           AS person_current,
       CASE WHEN p.person_id IS NOT NULL THEN s.pin IS NOT DISTINCT FROM p.pin END
           AS pin_agrees
FROM source_record AS s
LEFT JOIN person AS p ON p.person_id = s.person_id
ORDER BY s.record_key
"""

# Never reused: each PIN is issued once, and each prefix's serial counter has
# drawn at least as many serials as PINs were issued under it.
_ISSUED_QUERY = """
SELECT event_id, pin FROM pin_event WHERE event = 'issued' ORDER BY event_id
"""
_SERIAL_QUERY = """
WITH issued AS (
    SELECT substr(pin, 1, 6) AS prefix, count(*) AS pins_issued
    FROM pin_event WHERE event = 'issued' GROUP BY 1
)
SELECT i.prefix, coalesce(s.issued, 0) AS serials_drawn, i.pins_issued,
       coalesce(s.issued, 0) >= i.pins_issued AS counter_covers_issued
FROM issued i LEFT JOIN pin_serial s USING (prefix)
ORDER BY i.prefix
"""

_COUNTS_QUERY = """
SELECT {keys}, rows_read, rows_loaded, rows_quarantined, rows_skipped,
       rows_read = rows_loaded + rows_quarantined + rows_skipped AS counts_add_up
FROM {table}
ORDER BY {keys}
"""

_REGISTRY = (
    _Table(
        name="person",
        key_columns=("person_id", "pin"),
        query=_PERSON_QUERY,
        checks=(
            _Check(
                "pin_format",
                "ExpectColumnValuesToMatchRegex",
                {"column": "pin", "regex": r"^\d{12}$"},
            ),
            _Check("pin_unique", "ExpectColumnValuesToBeUnique", {"column": "pin"}),
            _Check(
                "status_in_set",
                "ExpectColumnValuesToBeInSet",
                {"column": "status", "value_set": ["active", "retired", "pending"]},
            ),
            _all_true("pin_century_sex", "pin_century_sex_ok"),
            _all_true("pin_year", "pin_year_ok"),
            _all_true("pin_province", "pin_province_ok"),
        ),
    ),
    _Table(
        name="source_record",
        key_columns=("record_key",),
        query=_SOURCE_RECORD_QUERY,
        checks=(
            _Check(
                "province_local_id_unique",
                "ExpectCompoundColumnsToBeUnique",
                {"column_list": ["province_code", "local_id"]},
            ),
            _all_true("person_exists", "person_exists"),
            _all_true("person_current", "person_current"),
            _all_true("pin_agrees", "pin_agrees"),
        ),
    ),
    _Table(
        name="pin_event",
        key_columns=("event_id",),
        query=_ISSUED_QUERY,
        checks=(_Check("issued_once", "ExpectColumnValuesToBeUnique", {"column": "pin"}),),
    ),
    _Table(
        name="pin_serial",
        key_columns=("prefix",),
        query=_SERIAL_QUERY,
        checks=(_all_true("counter_covers_issued", "counter_covers_issued"),),
    ),
    _Table(
        name="ingest_file",
        key_columns=("batch_id", "source_file"),
        query=_COUNTS_QUERY.format(keys="batch_id, source_file", table="ingest_file"),
        checks=(_all_true("counts_add_up", "counts_add_up"),),
    ),
    _Table(
        name="run",
        key_columns=("run_id", "batch_id"),
        query=_COUNTS_QUERY.format(keys="run_id, batch_id", table="run"),
        checks=(_all_true("counts_add_up", "counts_add_up"),),
    ),
)


#: Ingest's per-file counts as staged, before anything is loaded.
_STAGED_FILES = _Table(
    name="staged_files",
    key_columns=("province_code", "source_file"),
    checks=(
        _not_null("source_file"),
        _Check("source_file_unique", "ExpectColumnValuesToBeUnique", {"column": "source_file"}),
        _all_true("counts_add_up", "counts_add_up"),
        _all_true("counts_not_negative", "counts_not_negative"),
    ),
)
_COUNT_COLUMNS = ("rows_read", "rows_loaded", "rows_quarantined", "rows_skipped")


def validate_records(records: pl.DataFrame, files: pl.DataFrame | None = None) -> ValidationReport:
    """Validate standardised records (columns of ``domain.schema.RECORD_SCHEMA``).

    Checks: record_key unique and not null; local_id, province_code, full_name
    and dob_precision not null; province_code three digits; sex M/F or null;
    dob_precision day/month/year/unknown; birth_year 1880-2030, birth_month
    1-12, birth_day 1-31, each or null. A missing column fails its checks.

    With ``files``, ingest's staged per-file counts (``domain.schema.FILE_COUNT_SCHEMA``)
    are checked in the same suite, as table ``staged_files``: for every file
    rows read = loaded + quarantined + skipped, no count below zero, and each
    source file named once. A missing count column fails the conservation check.

    Args:
        records: Standardised records.
        files: Ingest's per-file counts for the same batch.

    Returns:
        The report for suite ``records``.
    """
    wanted = {col for check in _RECORDS.checks for col in _columns(check)}
    wanted |= set(_RECORDS.key_columns)
    frames = [(_RECORDS, records.select(sorted(wanted & set(records.columns))))]
    if files is not None:
        frames.append((_STAGED_FILES, _file_counts_frame(files)))
    return _run_suites("records", frames)


def _file_counts_frame(files: pl.DataFrame) -> pl.DataFrame:
    """Per-file counts with the conservation helper columns (False where a count is missing)."""
    import polars as pl

    absent = [
        pl.lit(None, dtype=pl.Int64).alias(c)
        for c in ("province_code", "source_file", *_COUNT_COLUMNS)
        if c not in files.columns
    ]
    read, loaded, quarantined, skipped = (pl.col(c) for c in _COUNT_COLUMNS)
    return files.with_columns(absent).select(
        "province_code",
        "source_file",
        *_COUNT_COLUMNS,
        (read == loaded + quarantined + skipped).fill_null(False).alias("counts_add_up"),
        (pl.min_horizontal(*_COUNT_COLUMNS) >= 0).fill_null(False).alias("counts_not_negative"),
    )


def validate_registry(con: duckdb.DuckDBPyConnection) -> ValidationReport:
    """Validate the registry tables of ``pipelines/warehouse/sql/registry.sql``.

    Checks: person.pin twelve digits and unique; for active persons the PIN's
    century/sex digit, year digits and (when known) province digits agree with
    the person; status active/retired/pending; source_record unique on
    (province_code, local_id) and every person_id present in person; for every
    ``ingest_file`` and ``run`` row, rows_read = loaded + quarantined + skipped.

    Args:
        con: An open connection to the registry.

    Returns:
        The report for suite ``registry``.
    """
    frames = [(table, con.sql(table.query).pl()) for table in _REGISTRY]
    return _run_suites("registry", frames)


_GROUP = "_group"  # a reduced frame's row number
_ROWS = "_rows"  # the table's rows a reduced row stands for
_UNIQUENESS = ("ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique")
_NOT_NULL = "ExpectColumnValuesToNotBeNull"
_PATTERN = "ExpectColumnValuesToMatchRegex"


def _reduction(check: _Check) -> tuple[str, tuple[str, ...]]:
    """How a check's frame can be reduced (``unique``, ``null``, ``pattern:<regex>`` or
    ``values``), with its columns: checks that share both share one reduced frame."""
    columns = tuple(_columns(check))
    if check.expectation in _UNIQUENESS:
        return "unique", columns
    if check.expectation == _NOT_NULL:
        return "null", columns
    if check.expectation == _PATTERN:
        return f"pattern:{check.kwargs['regex']}", columns
    return "values", columns


def _reduced(
    frame: pl.DataFrame, how: str, columns: tuple[str, ...], keys: list[str]
) -> pl.DataFrame:
    """The rows GX needs to decide a check as on ``frame``, each with the rows it stands for.

    Rows keep their first appearance's order and the key of the first row they
    stand for (its example). A check whose column is missing gets the keys
    alone, so GX reports the missing column as it would on the whole frame.
    """
    import polars as pl

    if not set(columns) <= set(frame.columns):
        return (
            frame.select(keys).head(0).with_columns(pl.lit(1).alias(_ROWS)).with_row_index(_GROUP)
        )
    others = [pl.col(k).first() for k in keys if k not in columns]
    if how == "unique":  # a value seen once cannot break uniqueness
        repeated = pl.struct(columns) if len(columns) > 1 else pl.col(columns[0])
        out = frame.filter(repeated.is_duplicated()).select(
            *dict.fromkeys([*keys, *columns]), pl.lit(1).alias(_ROWS)
        )
    elif how == "null":
        (column,) = columns
        out = (
            frame.group_by(pl.col(column).is_null().alias("_null"), maintain_order=True)
            .agg(pl.col(column).first(), pl.len().alias(_ROWS), *others)
            .drop("_null")
        )
    elif how.startswith("pattern:"):
        # every value the pattern rejects (and nulls) once, one value it accepts
        (column,) = columns
        accepted = pl.col(column).str.contains(how.removeprefix("pattern:")).fill_null(False)
        value = pl.when(accepted).then(None).otherwise(pl.col(column))
        out = (
            frame.group_by(accepted.alias("_ok"), value.alias("_value"), maintain_order=True)
            .agg(pl.col(column).first(), pl.len().alias(_ROWS), *others)
            .drop("_ok", "_value")
        )
    else:
        out = frame.group_by(list(columns), maintain_order=True).agg(pl.len().alias(_ROWS), *others)
    return out.with_row_index(_GROUP)


def _run_suites(suite_name: str, frames: Sequence[tuple[_Table, pl.DataFrame]]) -> ValidationReport:
    """Run each table's checks on its reduced frames in one ephemeral GX context.

    Great Expectations' own logging (hundreds of lines per run at INFO and
    DEBUG) is kept to warnings; the suite's outcome is logged as one line on
    the ``dancu.quality`` logger instead.
    """
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]:
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(f"dancu_{suite_name}")
    # One asset for every reduced frame (each given at run time): GX writes its
    # configuration out again for each asset or batch definition added.
    batch = source.add_dataframe_asset(suite_name).add_batch_definition_whole_dataframe("all")
    results: list[ExpectationResult] = []
    for table, frame in frames:
        keys = [c for c in table.key_columns if c in frame.columns]
        groups: dict[tuple[str, tuple[str, ...]], list[_Check]] = {}
        for check in table.checks:
            groups.setdefault(_reduction(check), []).append(check)
        table_results = []
        for number, ((how, columns), checks) in enumerate(groups.items()):
            reduced = _reduced(frame, how, columns, keys)
            name = f"{suite_name}.{table.name}.{number}"
            suite = context.suites.add(gx.ExpectationSuite(name=name))
            for check in checks:
                expectation_class = getattr(gxe, check.expectation)
                suite.add_expectation(
                    expectation_class(
                        **check.kwargs,
                        meta={"name": check.name},
                        severity=_GX_SEVERITY[check.severity],
                    )
                )
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=name, data=batch, suite=suite)
            )
            outcome = definition.run(
                batch_parameters={
                    "dataframe": reduced.drop(_ROWS).to_pandas(use_pyarrow_extension_array=False)
                },
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": [_GROUP, *keys],
                },
            )
            rows = reduced[_ROWS].to_list()
            table_results += [_result(table.name, r, rows, frame.height) for r in outcome.results]
        order = {check.name: i for i, check in enumerate(table.checks)}
        results.extend(sorted(table_results, key=lambda r: order.get(r.name, len(order))))
    success = not any(not r.success and r.severity == MUST for r in results)
    report = ValidationReport(suite_name=suite_name, success=success, results=results)
    _LOG.info("%s", report.summary_line())
    return report


def _result(table: str, gx_result: Any, rows: list[int], table_rows: int) -> ExpectationResult:
    """Reduce one GX ExpectationValidationResult (on a reduced frame whose row ``g``
    stands for ``rows[g]`` of the table's ``table_rows``) to an :class:`ExpectationResult`."""
    config = gx_result.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column") or ",".join(kwargs.get("column_list") or []) or None
    severity = (
        MUST if str(getattr(config.severity, "value", config.severity)) == "critical" else WARN
    )
    info = gx_result.result or {}
    exception = _exception_message(gx_result.exception_info or {})
    offending = [
        entry for entry in info.get("unexpected_index_list") or [] if isinstance(entry, Mapping)
    ]
    examples = [{k: v for k, v in entry.items() if k != _GROUP} for entry in offending]
    return ExpectationResult(
        name=(config.meta or {}).get("name", config.type),
        table=table,
        column=column,
        expectation=config.type,
        severity=severity,
        success=bool(gx_result.success),
        element_count=None if exception else table_rows,
        unexpected_count=None
        if exception
        else sum(rows[int(entry[_GROUP])] for entry in offending),
        unexpected_examples=_plain(examples[:_MAX_EXAMPLES]),
        exception=exception,
    )


def _exception_message(info: Mapping[str, Any]) -> str | None:
    """GX's error message, from a flat exception_info or one keyed by metric."""
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for nested in info.values():
        if isinstance(nested, Mapping) and nested.get("exception_message"):
            return str(nested["exception_message"])
    return None


def _plain(value: Any) -> Any:
    """Turn numpy / pandas scalars and containers into JSON-compatible Python values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if type(value).__name__ in {"NAType", "NaTType"}:
        return None
    return str(value)
