"""The registry quality report: self-contained, offline HTML, in Vietnamese and in English.

For quality reviewers: headline counts, records per province, match weights
by decision, the thresholds, cluster sizes, quarantine reasons, the model's
m and u per level, the clerical-review queue (each pair side by side, its
explanation as per-field rows and a weight waterfall, with a link to the
review workspace for the rest of the queue) and the Great Expectations
results. The page comes from Jinja2 templates (``quality/templates``, with
autoescaping) and its words from the message catalogs (``quality.i18n``):
``report.html`` in Vietnamese, ``report.en.html`` in English, each linking
the other. CSS is inline and charts are embedded PNGs, so the files open
on a machine with no network. The same registry gives the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quality.expectations import ValidationReport
from quality.explain import AGREEMENT, model_levels
from quality.i18n import LANGUAGES, N_, environment, province_name
from quality.pairs import review_pairs
from quality.plots import bar_chart, png_data_uri, stacked_histogram

if TYPE_CHECKING:
    import duckdb

_DECISION_COLOURS = {"link": "#2e7d32", "review": "#ef8f00", "non_link": "#9e9e9e"}
DECISION_NAMES = {"link": N_("link"), "review": N_("review"), "non_link": N_("non-link")}
DOUBT_NAMES = {
    "model": N_("the model: between the review and link thresholds"),
    "rule:cluster_split": N_("a link that would join records that cannot be one person"),
    "rule:weak_bridge": N_("a weak link that alone joins two groups of records"),
    "rule:sex_conflict": N_("the records state different sexes"),
}
#: The default address of the review workspace (``make review``).
WORKSPACE_URL = "http://127.0.0.1:8765/"

# Per batch, the latest run that loaded it (a re-run that changed nothing
# would otherwise count the batch twice).
_LATEST_RUNS = """
SELECT * FROM run
QUALIFY row_number() OVER (
    PARTITION BY batch_id ORDER BY (status = 'loaded') DESC, ended_at DESC, run_id DESC) = 1
"""

_RUN_COLUMNS = (
    N_("Batch"),
    N_("Run"),
    N_("Status"),
    N_("Started"),
    N_("Ended"),
    N_("Rows read"),
    N_("Rows loaded"),
    N_("Rows quarantined"),
    N_("Rows skipped"),
    N_("New persons"),
    N_("Persons merged"),
    N_("PINs issued"),
    N_("Pending"),
    N_("Model"),
)


def report_path(out_html: Path, lang: str) -> Path:
    """Where the report in ``lang`` goes: ``out_html`` for Vietnamese, ``*.en.html`` for English."""
    return out_html if lang == "vi" else out_html.with_name(f"{out_html.stem}.{lang}.html")


def write_report(
    con: duckdb.DuckDBPyConnection,
    out_html: Path,
    validations: Sequence[ValidationReport],
    *,
    max_review_pairs: int = 100,
    thresholds: Mapping[str, float] | None = None,
    workspace_url: str = WORKSPACE_URL,
) -> Path:
    """Write the quality report of the registry behind ``con``, in Vietnamese and English.

    Works on an empty registry (every section then says it has no rows).

    Args:
        con: Connection to the registry (tables of ``pipelines/warehouse/sql/registry.sql``).
        out_html: The Vietnamese page (written atomically, parent folders
            created); the English one is written beside it (``report_path``).
        validations: Great Expectations reports to include.
        max_review_pairs: At most this many clerical-review pairs are shown,
            highest match weight first; the workspace holds the rest.
        thresholds: The run's ``link``, ``review`` and ``bridge`` probabilities.
        workspace_url: Where reviewers decide the queue.

    Returns:
        ``out_html``.
    """
    data = _data(con, max_review_pairs)
    charts = _charts(data)
    for lang in LANGUAGES:
        page = (
            environment(lang)
            .get_template("report.html.j2")
            .render(
                **data,
                **charts,
                colours=_DECISION_COLOURS,
                thresholds=thresholds,
                workspace_url=workspace_url,
                validations=validations,
                switch=[(o, report_path(out_html, o).name) for o in LANGUAGES if o != lang],
                agreement=AGREEMENT,
                decision_names=DECISION_NAMES,
                doubt_names=DOUBT_NAMES,
                run_columns=_RUN_COLUMNS,
            )
        )
        target = report_path(out_html, lang)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    return out_html


def _data(con: duckdb.DuckDBPyConnection, limit: int) -> dict[str, Any]:
    """Everything the page shows, read once for both languages."""
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
    headline = [
        (N_("Batches"), batches, N_("batches with a run")),
        (N_("Rows read"), read, N_("per batch, its latest loading run")),
        (N_("Rows loaded"), loaded, N_("into source_record")),
        (N_("Rows quarantined"), quarantined, N_("see quarantine reasons")),
        (N_("Rows skipped"), skipped, N_("not a person (headers, totals, blank lines)")),
        (N_("Source records"), records, N_("rows of source_record")),
        (N_("Persons"), active + pending, N_("active and pending persons")),
        (N_("PINs"), pins, N_("active persons holding a PIN")),
        (N_("PINs ever issued"), pins_issued, N_("issued events in pin_event")),
        (N_("Pending"), pending, N_("persons without a PIN, listed for verification")),
        (N_("Duplicates merged"), merged, N_("records that joined another record's person")),
        (N_("Retired persons"), retired, N_("merged away; their PIN points to the survivor")),
        (N_("Review queue"), queue, N_("pairs for a clerk to decide")),
    ]
    cursor = con.execute(
        "SELECT batch_id, run_id, status, started_at, ended_at, rows_read, rows_loaded,"
        " rows_quarantined, rows_skipped, persons_new, persons_merged, pins_issued,"
        " persons_pending, model_source FROM run ORDER BY batch_id, started_at, run_id"
    )
    names = [d[0] for d in cursor.description]
    runs = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    decisions = _rows(
        con,
        """SELECT decision, count(*), list(match_weight ORDER BY match_weight)
                  FILTER (match_weight IS NOT NULL)
           FROM match_link GROUP BY decision ORDER BY decision""",
    )
    model = _rows(
        con,
        "SELECT batch_id, parameters FROM match_model ORDER BY batch_id DESC LIMIT 1",
    )
    ((queue_total,),) = _rows(con, "SELECT count(*) FROM review_queue")
    ((decided,),) = _rows(con, "SELECT count(*) FROM review_decision_in_force")
    return {
        "headline": headline,
        "share": 100 * queue / records if records else None,
        "runs": runs,
        "provinces": _rows(
            con, "SELECT province_code, count(*) FROM source_record GROUP BY 1 ORDER BY 1"
        ),
        "decisions": [(d, n) for d, n, _ in decisions],
        "weights": {d: w or [] for d, _, w in decisions},
        "clusters": _rows(
            con,
            """SELECT n, count(*) FROM (SELECT count(*) AS n FROM source_record
                                        GROUP BY person_id) GROUP BY n ORDER BY n""",
        ),
        "quarantine": _rows(
            con,
            """SELECT reason, count(*) AS rows,
                      count(DISTINCT batch_id || '/' || source_file) AS files,
                      count(*) FILTER (source_row IS NULL) AS whole_files
               FROM quarantine GROUP BY reason ORDER BY rows DESC, reason""",
        ),
        "model_batch": model[0][0] if model else None,
        "model": model_levels(model[0][1]) if model else [],
        "queue_total": queue_total,
        "decided": decided,
        "pairs": review_pairs(con, limit=limit) if queue_total else [],
    }


def _charts(data: dict[str, Any]) -> dict[str, str | None]:
    """The charts as data URIs, drawn once for both languages: no words inside them.

    The page captions each chart and its axes, and gives the histogram's
    legend, in its own language.
    """
    provinces = data["provinces"]
    weights = data["weights"]
    clusters = data["clusters"]
    order = [d for d in _DECISION_COLOURS if d in weights] + [
        d for d in weights if d not in _DECISION_COLOURS
    ]
    return {
        "province_chart": _uri(
            bar_chart([province_name(c) for c, _n in provinces], [n for _c, n in provinces])
        )
        if provinces
        else None,
        "weight_chart": _uri(
            stacked_histogram(
                {d: weights[d] for d in order}, _DECISION_COLOURS, ylabel=None, legend={}
            )
        )
        if any(weights.values())
        else None,
        "cluster_chart": _uri(
            bar_chart(
                [str(size) for size, _n in clusters],
                [n for _s, n in clusters],
                log_y=max(n for _s, n in clusters) > 100,
            )
        )
        if clusters
        else None,
    }


def _uri(png: bytes) -> str:
    return png_data_uri(png)


def _rows(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple[Any, ...]]:
    return con.execute(query).fetchall()
