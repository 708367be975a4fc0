"""The registry quality report: one self-contained, offline HTML file.

For quality reviewers: headline counts, records per province, match weights
by decision, cluster sizes, quarantine reasons, the clerical-review queue and
the Great Expectations results. CSS is inline and charts are embedded as
base64 PNGs, so the file opens on a machine with no network. The same
registry gives the same bytes: the only times shown are values read from it.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quality.expectations import ValidationReport
from quality.plots import bar_chart, png_data_uri, stacked_histogram

if TYPE_CHECKING:
    import duckdb

_DECISION_COLOURS = {"link": "#2e7d32", "review": "#ef8f00", "non_link": "#9e9e9e"}

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:80em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#2e7d32;font-weight:bold}.fail{color:#c62828;font-weight:bold}
.warn{color:#ef8f00;font-weight:bold}.empty{color:#777;font-style:italic}
pre{margin:0;font-size:.8em;white-space:pre-wrap;max-width:40em}
dl{margin:0;display:grid;grid-template-columns:auto auto;gap:0 .8em}dt{color:#666}dd{margin:0}
img{max-width:100%}
"""

# Per batch, the latest run that loaded it (a re-run that changed nothing
# would otherwise count the batch twice).
_LATEST_RUNS = """
SELECT * FROM run
QUALIFY row_number() OVER (
    PARTITION BY batch_id ORDER BY (status = 'loaded') DESC, ended_at DESC, run_id DESC) = 1
"""

_REVIEW_FIELDS = (
    "record_key",
    "full_name",
    "date_of_birth",
    "birth_year",
    "birth_month",
    "birth_day",
    "sex",
    "province_code",
    "birth_province_code",
    "household_id",
    "father_name",
    "mother_name",
    "batch_id",
    "source_file",
    "source_row",
)


def write_report(
    con: duckdb.DuckDBPyConnection,
    out_html: Path,
    validations: Sequence[ValidationReport],
    *,
    max_review_pairs: int = 500,
) -> Path:
    """Write the quality report of the registry behind ``con``.

    Works on an empty registry (every section then says it has no rows).

    Args:
        con: Connection to the registry (tables of ``pipelines/warehouse/sql/registry.sql``).
        out_html: The HTML file to write (atomically); parent folders are created.
        validations: Great Expectations reports to include.
        max_review_pairs: At most this many clerical-review pairs are listed,
            highest match weight first.

    Returns:
        ``out_html``.
    """
    sections = [
        _headline_section(con),
        _runs_section(con),
        _province_section(con),
        _match_weight_section(con),
        _cluster_section(con),
        _quarantine_section(con),
        _review_section(con, max_review_pairs),
        _validation_section(validations),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>dancu registry quality report</title>"
        f"<style>{_CSS}</style></head><body>\n"
        "<h1>dancu registry quality report</h1>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
    out_html.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_html.with_name(f".{out_html.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out_html)
    return out_html


def _rows(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple[Any, ...]]:
    return con.execute(query).fetchall()


def _headline_section(con: duckdb.DuckDBPyConnection) -> str:
    ((batches, read, loaded, quarantined, skipped),) = _rows(
        con,
        f"""SELECT count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0),
                   coalesce(sum(rows_quarantined), 0), coalesce(sum(rows_skipped), 0)
            FROM ({_LATEST_RUNS})""",
    )
    ((active, pending, retired, pins),) = _rows(
        con,
        """SELECT count(*) FILTER (status = 'active'), count(*) FILTER (status = 'pending'),
                  count(*) FILTER (status = 'retired'), count(pin) FILTER (status = 'active')
           FROM person""",
    )
    ((records, merged),) = _rows(
        con, "SELECT count(*), count(*) - count(DISTINCT person_id) FROM source_record"
    )
    ((pins_issued,),) = _rows(con, "SELECT count(*) FROM pin_event WHERE event = 'issued'")
    ((queue,),) = _rows(
        con,
        "SELECT count(*) FROM (SELECT DISTINCT record_key_l, record_key_r FROM match_link "
        "WHERE decision = 'review')",
    )
    share = f"{100 * queue / records:.2f} % of the source records" if records else "no records"
    rows = [
        ("Batches", batches, "batches with a run"),
        ("Rows read", read, "per batch, its latest loading run"),
        ("Rows loaded", loaded, "into source_record"),
        ("Rows quarantined", quarantined, "see quarantine reasons"),
        ("Rows skipped", skipped, "not a person (headers, totals, blank lines)"),
        ("Source records", records, "rows of source_record"),
        ("Persons", active + pending, "active and pending persons"),
        ("PINs", pins, "active persons holding a PIN"),
        ("PINs ever issued", pins_issued, "issued events in pin_event"),
        ("Pending", pending, "persons without a PIN, listed for verification"),
        ("Duplicates merged", merged, "records that joined another record's person"),
        ("Retired persons", retired, "merged away; their PIN points to the survivor"),
        ("Review queue", queue, f"pairs for a clerk to decide: {share}"),
    ]
    body = "".join(
        f'<tr><th>{_e(label)}</th><td class="n">{_num(value)}</td><td>{_e(note)}</td></tr>'
        for label, value, note in rows
    )
    return f"<h2>Headline</h2><table>{body}</table>"


def _runs_section(con: duckdb.DuckDBPyConnection) -> str:
    columns = [
        "batch_id",
        "run_id",
        "status",
        "started_at",
        "ended_at",
        "rows_read",
        "rows_loaded",
        "rows_quarantined",
        "rows_skipped",
        "persons_new",
        "persons_merged",
        "pins_issued",
        "persons_pending",
        "model_source",
    ]
    rows = _rows(con, f"SELECT {', '.join(columns)} FROM run ORDER BY batch_id, started_at, run_id")
    return "<h2>Runs</h2>" + _table(columns, rows, empty="No runs recorded.")


def _province_section(con: duckdb.DuckDBPyConnection) -> str:
    rows = _rows(
        con,
        "SELECT province_code, count(*) FROM source_record GROUP BY 1 ORDER BY 1",
    )
    if not rows:
        return "<h2>Records per province</h2>" + _empty("No source records.")
    png = bar_chart(
        [str(code) for code, _ in rows],
        [n for _, n in rows],
        title="Source records per province",
        xlabel="province code",
        ylabel="records",
    )
    return "<h2>Records per province</h2>" + _img(png, "records per province")


def _match_weight_section(con: duckdb.DuckDBPyConnection) -> str:
    rows = _rows(
        con,
        """SELECT decision, count(*), list(match_weight ORDER BY match_weight)
                  FILTER (match_weight IS NOT NULL)
           FROM match_link GROUP BY decision ORDER BY decision""",
    )
    title = "<h2>Match weights by decision</h2>"
    if not rows:
        return title + _empty("No scored pairs.")
    counts = _table(["decision", "pairs"], [(d, n) for d, n, _ in rows], empty="")
    order = [d for d in _DECISION_COLOURS if any(r[0] == d for r in rows)]
    order += [r[0] for r in rows if r[0] not in _DECISION_COLOURS]
    weights = {r[0]: r[2] or [] for r in rows}
    if not any(weights.values()):
        return title + counts + _empty("No pair has a match weight.")
    png = stacked_histogram(
        {d: weights[d] for d in order},
        _DECISION_COLOURS,
        title="Match weight of scored pairs",
        xlabel="match weight (log2 Bayes factor)",
    )
    return title + counts + _img(png, "match weight histogram")


def _cluster_section(con: duckdb.DuckDBPyConnection) -> str:
    rows = _rows(
        con,
        """SELECT n, count(*) FROM (SELECT count(*) AS n FROM source_record GROUP BY person_id)
           GROUP BY n ORDER BY n""",
    )
    title = "<h2>Records per person</h2>"
    if not rows:
        return title + _empty("No persons with records.")
    png = bar_chart(
        [str(size) for size, _ in rows],
        [n for _, n in rows],
        title="Cluster sizes",
        xlabel="source records per person",
        ylabel="persons",
        log_y=max(n for _, n in rows) > 100,
    )
    table = _table(["records per person", "persons"], rows, empty="")
    return title + _img(png, "cluster size distribution") + table


def _quarantine_section(con: duckdb.DuckDBPyConnection) -> str:
    rows = _rows(
        con,
        """SELECT reason, count(*) AS rows, count(DISTINCT batch_id || '/' || source_file) AS files,
                  count(*) FILTER (source_row IS NULL) AS whole_files
           FROM quarantine GROUP BY reason ORDER BY rows DESC, reason""",
    )
    return "<h2>Quarantine reasons</h2>" + _table(
        ["reason", "rows", "files", "whole files"], rows, empty="Nothing quarantined."
    )


_UNDECIDED = """m.decision = 'review' AND NOT EXISTS (
    SELECT 1 FROM review_decision AS d
    WHERE d.record_key_l = m.record_key_l AND d.record_key_r = m.record_key_r)"""


def _review_section(con: duckdb.DuckDBPyConnection, limit: int) -> str:
    fields_l = ", ".join(f"l.{f} AS l_{f}" for f in _REVIEW_FIELDS)
    fields_r = ", ".join(f"r.{f} AS r_{f}" for f in _REVIEW_FIELDS)
    ((total,),) = _rows(con, f"SELECT count(*) FROM match_link AS m WHERE {_UNDECIDED}")
    ((decided,),) = _rows(con, "SELECT count(*) FROM review_decision")
    command = "dancu review decide --warehouse WAREHOUSE KEY_A KEY_B --same|--different"
    title = (
        f"<h2>Clerical review queue ({_num(total)} pairs)</h2>"
        f'<p class="empty">{_num(decided)} pairs decided by reviewers so far. Decide a pair'
        f" with <code>{_e(command)} --reviewer NAME</code>; the decision applies from the"
        " next run.</p>"
    )
    if total == 0:
        return title + _empty("No pairs await review.")
    cursor = con.execute(
        f"""SELECT m.record_key_l, m.record_key_r, m.match_weight, m.match_probability,
                   m.decided_by, m.batch_id AS link_batch, m.explanation, {fields_l}, {fields_r}
            FROM match_link AS m
            LEFT JOIN source_record AS l ON l.record_key = m.record_key_l
            LEFT JOIN source_record AS r ON r.record_key = m.record_key_r
            WHERE {_UNDECIDED}
            ORDER BY m.match_weight DESC NULLS LAST, m.record_key_l, m.record_key_r
            LIMIT {int(limit)}"""
    )
    names = [d[0] for d in cursor.description]
    pairs = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    note = "" if total <= limit else _empty(f"Showing the {limit} highest-weight pairs.")
    body = "".join(
        "<tr>"
        f'<td class="n">{i}</td>'
        f'<td class="n">{_fmt(p["match_weight"])}<br>p={_fmt(p["match_probability"])}'
        f"<br>{_e(p['decided_by'])}</td>"
        f"<td>{_record_cell(p, 'l_', p['record_key_l'])}</td>"
        f"<td>{_record_cell(p, 'r_', p['record_key_r'])}</td>"
        f"<td><pre>{_e(_pretty_json(p['explanation']))}</pre></td>"
        "</tr>"
        for i, p in enumerate(pairs, start=1)
    )
    head = (
        "<tr><th>#</th><th>weight</th><th>record A</th><th>record B</th><th>explanation</th></tr>"
    )
    return title + note + f"<table>{head}{body}</table>"


def _record_cell(pair: dict[str, Any], prefix: str, key: str) -> str:
    rec = {name: pair[prefix + name] for name in _REVIEW_FIELDS}
    if rec["record_key"] is None:
        return f'<span class="fail">{_e(key)} not in source_record</span>'
    born = _birth(rec["date_of_birth"], rec["birth_year"], rec["birth_month"], rec["birth_day"])
    items = [
        ("key", rec["record_key"]),
        ("name", rec["full_name"]),
        ("born", born),
        ("sex", rec["sex"]),
        ("province", rec["province_code"]),
        ("birth prov.", rec["birth_province_code"]),
        ("household", rec["household_id"]),
        ("father", rec["father_name"]),
        ("mother", rec["mother_name"]),
        ("source", f"{rec['batch_id']}/{rec['source_file']}:{rec['source_row']}"),
    ]
    cells = "".join(f"<dt>{_e(k)}</dt><dd>{_e('' if v is None else v)}</dd>" for k, v in items)
    return f"<dl>{cells}</dl>"


def _birth(date: Any, year: Any, month: Any, day: Any) -> str:
    if date is not None:
        return str(date)
    if year is None:
        return "unknown"
    parts = [f"{year:04d}"] + [f"{p:02d}" for p in (month, day) if p is not None]
    return "-".join(parts)


def _validation_section(validations: Sequence[ValidationReport]) -> str:
    title = "<h2>Great Expectations validations</h2>"
    if not validations:
        return title + _empty("No validations were run.")
    parts = [title]
    for report in validations:
        verdict = (
            '<span class="pass">passed</span>'
            if report.success
            else ('<span class="fail">FAILED</span>')
        )
        rows = []
        for r in report.results:
            state = "pass" if r.success else ("fail" if r.severity == "must" else "warn")
            label = "ok" if r.success else ("failed" if r.severity == "must" else "warning")
            detail = r.exception or json.dumps(
                r.unexpected_examples, ensure_ascii=False, default=str
            )
            rows.append(
                f"<tr><td>{_e(r.table)}</td><td>{_e(r.name)}</td><td>{_e(r.column or '')}</td>"
                f'<td>{_e(r.severity)}</td><td class="{state}">{label}</td>'
                f'<td class="n">{_num(r.element_count)}</td>'
                f'<td class="n">{_num(r.unexpected_count)}</td>'
                f"<td><pre>{_e('' if r.success else detail)}</pre></td></tr>"
            )
        head = (
            "<tr><th>table</th><th>expectation</th><th>column</th><th>severity</th>"
            "<th>result</th><th>rows</th><th>unexpected</th><th>examples</th></tr>"
        )
        parts.append(
            f"<h3>{_e(report.suite_name)}: {verdict}</h3><table>{head}{''.join(rows)}</table>"
        )
    return "".join(parts)


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str) -> str:
    if not rows:
        return _empty(empty) if empty else ""
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_num(v)}</td>'
            if isinstance(v, int | float) and not isinstance(v, bool)
            else f"<td>{_e('' if v is None else v)}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img src="{png_data_uri(png)}" alt="{_e(alt)}">'


def _empty(message: str) -> str:
    return f'<p class="empty">{_e(message)}</p>'


def _pretty_json(text: str | None) -> str:
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=1, ensure_ascii=False)
    except ValueError:
        return text


def _num(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return _fmt(value)
    return f"{value:,}"


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _e(value: Any) -> str:
    return html.escape(str(value))
