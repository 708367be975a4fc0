"""Write a batch into the registry (``registry.duckdb``) in one transaction.

The only module that writes the registry. It creates the contract's tables
(``sql/registry.sql``) on first use, then replaces the batch's rows and the
register's state inside a single transaction: a failed load leaves the
registry as it was, and loading the same batch twice leaves the same tables.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import duckdb
import polars as pl

from pipelines.refdata import provinces
from pipelines.register import PreviousRegister, RegisterUpdate
from pipelines.schema import RECORD_SCHEMA

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
    return resources.files("pipelines.sql").joinpath(name).read_text("utf-8")


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


@dataclass(frozen=True)
class BatchTables:
    """What a batch brings to the registry besides the register update."""

    batch_id: str
    records: pl.DataFrame  # RECORD_SCHEMA, this batch's loaded rows
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA
    files: pl.DataFrame  # FILE_COUNT_SCHEMA
    pairs: pl.DataFrame  # match_link columns
    model_json: str
    fingerprint: str  # digest of the batch's files (see pipelines.run.batch_fingerprint)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])


def load_batch(
    con: duckdb.DuckDBPyConnection,
    batch: BatchTables,
    update: RegisterUpdate,
    started_at: dt.datetime,
    run_id: str,
) -> dict[str, int]:
    """Write one batch and the updated register; return the run's counts."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    serials = pl.DataFrame(
        {"prefix": list(update.serials_issued), "issued": list(update.serials_issued.values())},
        schema={"prefix": pl.String, "issued": pl.Int32},
    )
    frames = {
        "records": batch.records,
        "record_person": update.record_person,
        "persons": update.persons,
        "events": update.events,
        "pairs": batch.pairs,
        "serials": serials,
        "quarantine_frame": batch.quarantine,
        "files": batch.files,
    }
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    con.execute("BEGIN TRANSACTION")
    try:
        # A record re-sent unchanged keeps its person; the others get the update's.
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE incoming AS
            SELECT r.*, coalesce(u.person_id, s.person_id) AS person_id,
                   CASE WHEN u.record_key IS NULL THEN s.pin ELSE u.pin END AS pin
            FROM records r
            LEFT JOIN record_person u USING (record_key)
            LEFT JOIN source_record s USING (record_key)
            """
        )
        con.execute(
            "DELETE FROM source_record WHERE record_key IN (SELECT record_key FROM records)"
        )
        columns = ", ".join(["person_id", "pin", *RECORD_SCHEMA])
        con.execute(
            f"INSERT INTO source_record ({columns}) "
            f"SELECT {columns} FROM incoming ORDER BY record_key"
        )
        con.execute("DROP TABLE incoming")
        con.execute(
            """
            UPDATE source_record s SET person_id = r.person_id, pin = r.pin
            FROM record_person r
            WHERE s.record_key = r.record_key
              AND (s.person_id IS DISTINCT FROM r.person_id OR s.pin IS DISTINCT FROM r.pin)
            """
        )
        # Only the persons and records this batch touched are rewritten.
        con.execute("DELETE FROM person WHERE person_id IN (SELECT person_id FROM persons)")
        con.execute("INSERT INTO person BY NAME SELECT * FROM persons ORDER BY person_id")
        con.execute(
            "DELETE FROM household_member "
            "WHERE record_key IN (SELECT record_key FROM record_person)"
        )
        con.execute(
            """
            INSERT INTO household_member
            SELECT province_code, household_id, record_key, person_id, pin, relation_to_head
            FROM source_record
            WHERE household_id IS NOT NULL
              AND record_key IN (SELECT record_key FROM record_person)
            ORDER BY province_code, household_id, record_key
            """
        )
        con.execute("INSERT OR REPLACE INTO match_link BY NAME SELECT * FROM pairs")
        first_id = con.execute("SELECT coalesce(max(event_id), 0) + 1 FROM pin_event").fetchall()
        con.execute(
            """
            INSERT INTO pin_event
            SELECT ? + row_number() OVER () - 1, event, pin, other_pin, person_id, ?, ?, reason
            FROM events
            """,
            [first_id[0][0], batch.batch_id, now],
        )
        con.execute("INSERT OR REPLACE INTO pin_serial SELECT prefix, issued FROM serials")
        con.execute("DELETE FROM quarantine WHERE batch_id = ?", [batch.batch_id])
        con.execute("INSERT INTO quarantine BY NAME SELECT * FROM quarantine_frame")
        con.execute("DELETE FROM ingest_file WHERE batch_id = ?", [batch.batch_id])
        con.execute("INSERT INTO ingest_file BY NAME SELECT * FROM files")
        con.execute(
            "INSERT OR REPLACE INTO match_model VALUES (?, ?)", [batch.batch_id, batch.model_json]
        )
        counts = {
            "rows_read": int(batch.files["rows_read"].sum()),
            "rows_loaded": int(batch.files["rows_loaded"].sum()),
            "rows_quarantined": batch.quarantine.height,
            "rows_skipped": int(batch.files["rows_skipped"].sum()),
            "persons_total": _count(con, "SELECT count(*) FROM person WHERE status <> 'retired'"),
            "persons_new": update.persons_new,
            "persons_merged": update.persons_merged,
            "pins_issued": update.pins_issued,
            "persons_pending": _count(con, "SELECT count(*) FROM person WHERE status = 'pending'"),
        }
        con.execute(
            f"""
            INSERT INTO run VALUES (?, ?, ?, ?, 'loaded', {", ".join("?" for _ in counts)}, ?, ?)
            """,
            [
                run_id,
                batch.batch_id,
                started_at,
                now,
                *counts.values(),
                versions(),
                batch.fingerprint,
            ],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in frames:
            con.unregister(name)
    return counts
