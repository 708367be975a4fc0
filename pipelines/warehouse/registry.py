"""The registry database: the only code that opens ``registry.duckdb``.

``connect`` opens it (creating the contract's tables, ``sql/registry.sql``,
on first use); the functions below are every read and write of the registry
that is not the batch load itself (``pipelines.warehouse.load``): the
register's state, the registered records, the loaded batches, reviewers'
decisions and the summary figures. Each takes an open connection, so a stage
decides how long it holds the database and whether it writes.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from importlib import metadata, resources
from pathlib import Path

import duckdb
import polars as pl

from domain.reference import provinces
from domain.schema import DECISION_SCHEMA, RECORD_SCHEMA
from pipelines.register.update import PreviousRegister

_VERSIONED = ("dancu", "polars", "duckdb", "rapidfuzz", "pyarrow", "great-expectations")


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the registry, creating its tables when it is new."""
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    create_schema(con)
    return con


def _sql_text(name: str) -> str:
    return resources.files("pipelines.warehouse").joinpath("sql", name).read_text("utf-8")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables, the province reference, the analyst views and their comments.

    Idempotent: tables are created when missing, views replaced, comments set
    again (``sql/comments.csv`` is their single source, also for docs/registry.md).
    """
    con.execute(_sql_text("registry.sql"))
    if not con.execute("SELECT count(*) FROM province").fetchall()[0][0]:
        rows = [(p.code, p.name, p.name_ascii, p.region_en) for p in provinces().values()]
        con.executemany("INSERT INTO province VALUES (?, ?, ?, ?)", rows)
    con.execute(_sql_text("views.sql"))
    kinds = dict(
        con.execute(
            "SELECT table_name, 'TABLE' FROM duckdb_tables() "
            "UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    )
    statements = []
    for row in schema_comments():
        target = row["object"]
        if row["column"]:
            statements.append(
                f"COMMENT ON COLUMN {target}.{row['column']} IS {_literal(row['comment'])};"
            )
        else:
            statements.append(f"COMMENT ON {kinds[target]} {target} IS {_literal(row['comment'])};")
    con.execute("\n".join(statements))


def schema_comments() -> list[dict[str, str]]:
    """The documentation of every table, view and column (``sql/comments.csv``)."""
    return list(csv.DictReader(_sql_text("comments.csv").splitlines()))


def versions() -> str:
    """JSON of the versions of dancu and the libraries that shape its output."""
    found = {}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return json.dumps(found, sort_keys=True)


def read_previous(con: duckdb.DuckDBPyConnection) -> PreviousRegister:
    """Read the register's state as it was before this run."""
    record_person = con.sql("SELECT record_key, person_id FROM source_record").pl()
    persons = con.sql(
        """
        SELECT p.*, e.first_issued
        FROM person p
        LEFT JOIN (SELECT pin, min(event_id) AS first_issued FROM pin_event
                   WHERE event = 'issued' GROUP BY pin) e USING (pin)
        """
    ).pl()
    serials = dict(con.execute("SELECT prefix, issued FROM pin_serial").fetchall())
    return PreviousRegister(record_person=record_person, persons=persons, serials_issued=serials)


def registered_records(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """All standardised records already in the registry."""
    frame = con.sql(f"SELECT {', '.join(RECORD_SCHEMA)} FROM source_record").pl()
    return frame.cast(RECORD_SCHEMA)  # type: ignore[arg-type]


def registry_person_keys(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """``province_code``, ``local_id`` and ``predicted`` (the person) of every source record."""
    return con.sql("SELECT province_code, local_id, person_id AS predicted FROM source_record").pl()


class UnknownRecordError(ValueError):
    """A decision names a record that is not in the registry."""


def record_decision(
    con: duckdb.DuckDBPyConnection,
    record_a: str,
    record_b: str,
    *,
    same: bool,
    reviewer: str,
    note: str | None = None,
) -> tuple[str, str]:
    """Store (or replace) a reviewer's decision on a pair; return the ordered pair.

    Raises:
        UnknownRecordError: If either record is not in ``source_record``.
        ValueError: If both keys are the same record, or no reviewer is named.
    """
    if record_a == record_b:
        raise ValueError(f"a decision needs two different records, got '{record_a}' twice")
    if not reviewer.strip():
        raise ValueError("name the reviewer (--reviewer)")
    known = {
        k
        for (k,) in con.execute(
            "SELECT record_key FROM source_record WHERE record_key IN (?, ?)", [record_a, record_b]
        ).fetchall()
    }
    missing = [k for k in (record_a, record_b) if k not in known]
    if missing:
        raise UnknownRecordError(f"no source record '{missing[0]}' in the registry")
    left, right = sorted((record_a, record_b))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute(
        "INSERT OR REPLACE INTO review_decision VALUES (?, ?, ?, ?, ?, ?)",
        [left, right, same, reviewer.strip(), now, note],
    )
    return left, right


def read_decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """All decisions, as matching takes them (``record_key_l``, ``record_key_r``, ``same``)."""
    frame = con.sql(
        "SELECT record_key_l, record_key_r, same FROM review_decision ORDER BY ALL"
    ).pl()
    return frame.cast(DECISION_SCHEMA)  # type: ignore[arg-type]


def undecided_pairs(con: duckdb.DuckDBPyConnection, limit: int = 20) -> pl.DataFrame:
    """The undecided review pairs, most likely matches first."""
    return con.sql(
        """
        SELECT record_key_l, full_name_l, date_of_birth_l, sex_l,
               record_key_r, full_name_r, date_of_birth_r, sex_r,
               round(match_probability, 4) AS match_probability
        FROM review_queue
        ORDER BY match_probability DESC, record_key_l, record_key_r
        LIMIT ?
        """,
        params=[limit],
    ).pl()


def review_queue_keys(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The review queue's pairs, each record as ``province_code_*`` and ``local_id_*``."""
    return con.sql(
        "SELECT DISTINCT province_code_l, local_id_l, province_code_r, local_id_r "
        "FROM match_link WHERE decision = 'review'"
    ).pl()


def loaded_fingerprint(con: duckdb.DuckDBPyConnection, batch_id: str) -> str | None:
    """The file fingerprint the latest loaded run of ``batch_id`` recorded, if any."""
    found = con.execute(
        "SELECT batch_fingerprint FROM run WHERE batch_id = ? AND status = 'loaded' "
        "ORDER BY ended_at DESC LIMIT 1",
        [batch_id],
    ).fetchall()
    return str(found[0][0]) if found else None


def record_clusters(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """``record_key`` and its person as ``cluster_id``: the registered clusters."""
    return con.sql("SELECT record_key, person_id AS cluster_id FROM source_record").pl()


def batch_model(con: duckdb.DuckDBPyConnection, batch_id: str) -> str | None:
    """The model JSON stored for ``batch_id``, if any."""
    found = con.execute("SELECT parameters FROM match_model WHERE batch_id = ?", [batch_id])
    rows = found.fetchall()
    return str(rows[0][0]) if rows else None


def latest_runs(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    """The latest run of each batch: batch, rows read/loaded/quarantined/skipped, persons, PINs."""
    return con.execute(
        """
        SELECT batch_id, rows_read, rows_loaded, rows_quarantined, rows_skipped,
               persons_new, persons_merged, pins_issued
        FROM run QUALIFY row_number() OVER (PARTITION BY batch_id ORDER BY ended_at DESC) = 1
        ORDER BY batch_id
        """
    ).fetchall()


def registry_totals(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int, int, int]:
    """Persons active, pending and retired; source records; pairs in the review queue."""
    row = con.execute(
        """
        SELECT count(*) FILTER (status = 'active'), count(*) FILTER (status = 'pending'),
               count(*) FILTER (status = 'retired'),
               (SELECT count(*) FROM source_record),
               (SELECT count(*) FROM match_link WHERE decision = 'review')
        FROM person
        """
    ).fetchall()[0]
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))


def describe_schema() -> list[tuple[str, str, str, list[tuple[str, str, str]]]]:
    """Every table and view of a new registry: name, kind, comment and columns (with theirs)."""
    with duckdb.connect() as con:
        create_schema(con)
        objects = con.sql(
            """
            SELECT table_name AS name, 'table' AS kind, comment FROM duckdb_tables()
            UNION ALL
            SELECT view_name, 'view', comment FROM duckdb_views() WHERE NOT internal
            ORDER BY kind, name
            """
        ).fetchall()
        out = []
        for name, kind, comment in objects:
            columns = con.execute(
                "SELECT column_name, data_type, comment FROM duckdb_columns() "
                "WHERE table_name = ? ORDER BY column_index",
                [name],
            ).fetchall()
            out.append((name, kind, comment, [(c, t, m) for c, t, m in columns]))
    return out


def fitted_models_before(con: duckdb.DuckDBPyConnection, batch_id: str) -> list[tuple[str, str]]:
    """(batch, model JSON) of the other loaded batches, the latest run first."""
    return [
        (str(batch), str(parameters))
        for batch, parameters in con.execute(
            """
            SELECT m.batch_id, m.parameters FROM match_model m
            JOIN (SELECT batch_id, max(ended_at) AS ended_at FROM run GROUP BY batch_id) r
              USING (batch_id)
            WHERE m.batch_id <> ?
            ORDER BY r.ended_at DESC, m.batch_id DESC
            """,
            [batch_id],
        ).fetchall()
    ]
