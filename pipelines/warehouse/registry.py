"""The registry database: the only code that opens ``registry.duckdb``.

``connect`` opens it (a private file: mode 0600 in a 0700 folder; encryption at
rest is the storage's, see docs/security.md), creating the contract's tables
(``sql/registry.sql``) on first use. Its spill files go to a private folder
that is removed when the connection closes, whatever happened. The functions
below are every read and write of the registry that is not the batch load
itself (``pipelines.warehouse.load``): the register's state, the registered
records, the loaded batches, reviewers' decisions and the summary figures.
Each takes an open connection, so a stage decides how long it holds the
database and whether it writes.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import duckdb
import polars as pl

from domain.reference import provinces
from domain.schema import DECISION_SCHEMA, RECORD_SCHEMA
from pipelines.register.update import PreviousRegister
from pipelines.warehouse.audit import chain

_VERSIONED = ("dancu", "polars", "duckdb", "rapidfuzz", "pyarrow", "great-expectations")


#: The registry's name inside a connection (``USE``d, so queries name tables alone).
ALIAS = "registry"


class KeyMismatchError(ValueError):
    """The registry was built with another PIN or audit key, or another serial scheme."""


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def open_database(
    path: Path, *, read_only: bool, spill: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with ``path`` attached as ``registry`` (``USE``d).

    No extension is installed or loaded behind our back. Host files stay
    reachable only as far as the caller allows (see ``analyst.open_analyst``).
    """
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_unsigned_extensions": False,
    }
    con = duckdb.connect(config=config)
    try:
        con.execute("SET enable_progress_bar = false")  # a run reports its own progress
        if spill is not None:
            con.execute(f"SET temp_directory = {sql_literal(str(spill))}")
        options = " (READ_ONLY)" if read_only else ""
        con.execute(f"ATTACH {sql_literal(str(path))} AS {ALIAS}{options}")
        con.execute(f"USE {ALIAS}")
    except BaseException:
        con.close()
        raise
    return con


@contextlib.contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the registry (creating its tables when it is new); close it after.

    Spill files go to ``.spill-<pid>`` beside the registry (mode 0700), removed on
    close, also when the work failed.

    Raises:
        KeyMismatchError: the registry was built with other keys.
        FileNotFoundError: ``read_only`` and there is no registry.
    """
    if read_only and not path.exists():
        raise FileNotFoundError(f"no registry at '{path}'")
    spill = path.parent / f".spill-{os.getpid()}-{id(path):x}"
    if not read_only:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    con = open_database(path, read_only=read_only, spill=None if read_only else spill)
    try:
        tables = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()[0][0]
        if read_only or tables:
            check_registry(con, path)
        if not read_only:
            create_schema(con)
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _sql_text(name: str) -> str:
    return resources.files("pipelines.warehouse").joinpath("sql", name).read_text("utf-8")


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables, the province reference, the analyst views and their comments.

    Idempotent: tables are created when missing, views replaced, comments set
    again (``sql/comments.csv`` is their single source, also for docs/registry.md).
    A registry already at this schema (``schema_version`` holds the digest of
    the three files) is left alone: that takes a few milliseconds instead of a second.
    """
    digest = _schema_digest()
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version'"
    ).fetchall()[0][0]
    if exists and con.execute("SELECT digest FROM schema_version").fetchall() == [(digest,)]:
        return
    con.execute(_sql_text("registry.sql"))
    if not con.execute("SELECT count(*) FROM province").fetchall()[0][0]:
        rows = [(p.code, p.name, p.name_ascii, p.region_en) for p in provinces().values()]
        con.executemany("INSERT INTO province VALUES (?, ?, ?, ?)", rows)
    con.execute(_sql_text("views.sql"))
    kinds = dict(
        con.execute(
            "SELECT table_name, 'TABLE' FROM duckdb_tables() "
            "WHERE database_name = current_database() "
            "UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() "
            "WHERE NOT internal AND database_name = current_database()"
        ).fetchall()
    )
    statements = []
    for row in schema_comments():
        target = row["object"]
        if row["column"]:
            statements.append(
                f"COMMENT ON COLUMN {target}.{row['column']} IS {sql_literal(row['comment'])};"
            )
        else:
            statements.append(
                f"COMMENT ON {kinds[target]} {target} IS {sql_literal(row['comment'])};"
            )
    con.execute("\n".join(statements))
    con.execute("DELETE FROM schema_version")
    con.execute("INSERT INTO schema_version VALUES (?)", [digest])


def _schema_digest() -> str:
    """SHA-256 of the DDL, the views and the comments this code creates."""
    digest = hashlib.sha256()
    for name in ("registry.sql", "views.sql", "comments.csv"):
        digest.update(_sql_text(name).encode("utf-8"))
    return digest.hexdigest()


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
    issued = con.sql("SELECT DISTINCT pin FROM pin_event WHERE event = 'issued'").pl()
    return PreviousRegister(
        record_person=record_person, persons=persons, serials_issued=serials, issued_pins=issued
    )


def check_keys(con: duckdb.DuckDBPyConnection, checks: dict[str, str], *, record: bool) -> None:
    """Refuse a run whose PIN key, audit key or serial scheme is not the registry's.

    ``checks`` maps ``pin_key_check``, ``audit_key_check`` and ``pin_scheme`` to this
    run's values. A registry that has none yet records them when ``record``.

    Raises:
        KeyMismatchError: the registry holds other values.
    """
    stored = dict(con.execute("SELECT name, value FROM registry_meta").fetchall())
    for name, value in checks.items():
        if name in stored and stored[name] != value:
            raise KeyMismatchError(
                f"this registry was built with another {name.replace('_', ' ')} "
                f"({stored[name]}), this run has {value}: refused (a registry keeps its keys)"
            )
    missing = [(n, v) for n, v in checks.items() if n not in stored]
    if record and missing:
        con.executemany("INSERT INTO registry_meta VALUES (?, ?)", missing)


def registered_records(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """All standardised records already in the registry."""
    frame = con.sql(f"SELECT {', '.join(RECORD_SCHEMA)} FROM source_record").pl()
    return frame.cast(RECORD_SCHEMA)  # type: ignore[arg-type]


def person_records(con: duckdb.DuckDBPyConnection, keys: list[str]) -> pl.DataFrame:
    """Every record of the persons that hold one of ``keys``, with its ``person_id``."""
    frame = con.sql(
        f"""
        SELECT {", ".join(RECORD_SCHEMA)}, person_id FROM source_record
        WHERE person_id IN (SELECT person_id FROM source_record WHERE record_key IN $keys)
        ORDER BY record_key
        """,
        params={"keys": keys},
    ).pl()
    return frame.cast({**RECORD_SCHEMA, "person_id": pl.String()})  # type: ignore[arg-type,dict-item]


def registry_person_keys(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """``province_code``, ``local_id`` and ``predicted`` (the person) of every source record."""
    return con.sql("SELECT province_code, local_id, person_id AS predicted FROM source_record").pl()


class UnknownRecordError(ValueError):
    """A decision names a record that is not in the registry."""


class DecisionError(ValueError):
    """A decision or a confirmation the rules do not allow."""


class NotARegistryError(ValueError):
    """A DuckDB file that does not hold a dancu registry."""


VERDICTS = ("same", "different", "unsure")


@dataclass(frozen=True)
class Decision:
    """A stored decision: its number, the ordered pair, and whether it is in force."""

    decision_id: int
    record_key_l: str
    record_key_r: str
    verdict: str
    reviewer: str
    queued: bool  # in force at once; otherwise once a second reviewer confirms it
    supersedes: int | None


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def check_registry(con: duckdb.DuckDBPyConnection, path: Path | str) -> None:
    """Raise ``NotARegistryError`` unless ``con`` holds the registry's tables.

    Raises:
        NotARegistryError: the database lacks a table of the registry.
    """
    found = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    }
    missing = sorted({"person", "source_record", "match_link", "pin_event"} - found)
    if missing:
        raise NotARegistryError(
            f"'{path}' is not a dancu registry (no table {missing[0]}); "
            "give the warehouse folder that `dancu run` wrote"
        )


def record_decision(
    con: duckdb.DuckDBPyConnection,
    record_a: str,
    record_b: str,
    *,
    verdict: str,
    reviewer: str,
    note: str | None = None,
    audit_key: bytes,
) -> Decision:
    """Append a reviewer's decision on a pair (chained in the audit trail).

    A previous decision on the pair is superseded, never overwritten. The
    reviewer is the authenticated user (the caller's business: the OS
    user for the command line, the logged-in user for the workspace). A
    pair in the review queue (``match_link.decision = 'review'``) is decided
    at once; any other pair needs a note, and the decision is in force only
    once a second reviewer confirms it (``confirm_decision``).

    Raises:
        UnknownRecordError: If either record is not in ``source_record``.
        DecisionError: An unknown verdict, the same record twice, no
            reviewer, or a pair outside the queue without a note.
    """
    if verdict not in VERDICTS:
        raise DecisionError(f"verdict must be one of {', '.join(VERDICTS)}, not '{verdict}'")
    if record_a == record_b:
        raise DecisionError(f"a decision needs two different records, got '{record_a}' twice")
    if not reviewer.strip():
        raise DecisionError("a decision needs an authenticated reviewer")
    note = note.strip() if note and note.strip() else None
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
    queued = bool(
        con.execute(
            "SELECT count(*) FROM match_link WHERE record_key_l = ? AND record_key_r = ? "
            "AND decision = 'review'",
            [left, right],
        ).fetchall()[0][0]
    )
    if not queued and note is None:
        raise DecisionError(
            f"{left} and {right} are not in the review queue: give the reason in a note;"
            " a second reviewer must then confirm the decision"
        )
    con.execute("BEGIN TRANSACTION")
    try:
        ((next_id, previous),) = con.execute(
            """
            SELECT (SELECT coalesce(max(decision_id), 0) + 1 FROM review_decision),
                   (SELECT max(decision_id) FROM review_decision
                    WHERE record_key_l = ? AND record_key_r = ?)
            """,
            [left, right],
        ).fetchall()
        con.execute(
            "INSERT INTO review_decision (decision_id, record_key_l, record_key_r, verdict,"
            " reviewer, decided_at, note, supersedes, queued) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [next_id, left, right, verdict, reviewer.strip(), _utc_now(), note, previous, queued],
        )
        chain(con, audit_key)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return Decision(int(next_id), left, right, verdict, reviewer.strip(), queued, previous)


def confirm_decision(
    con: duckdb.DuckDBPyConnection, decision_id: int, reviewer: str, *, audit_key: bytes
) -> None:
    """A second reviewer confirms a decision on a pair that was not queued.

    Raises:
        DecisionError: No such decision; it was on a queued pair (nothing to
            confirm); it is superseded or already confirmed; or the
            confirming reviewer is the one who decided.
    """
    rows = con.execute(
        """
        SELECT d.reviewer, d.queued,
               (SELECT max(decision_id) FROM review_decision x
                WHERE x.record_key_l = d.record_key_l AND x.record_key_r = d.record_key_r),
               (SELECT count(*) FROM review_action a
                WHERE a.decision_id = d.decision_id AND a.action = 'confirmed')
        FROM review_decision d WHERE d.decision_id = ?
        """,
        [decision_id],
    ).fetchall()
    if not rows:
        raise DecisionError(f"no decision #{decision_id}")
    decided_by, queued, latest, confirmed = rows[0]
    if queued:
        raise DecisionError(
            f"decision #{decision_id} was on a queued pair: it needs no confirmation"
        )
    if latest != decision_id:
        raise DecisionError(f"decision #{decision_id} is superseded by #{latest}")
    if confirmed:
        raise DecisionError(f"decision #{decision_id} is already confirmed")
    if not reviewer.strip() or reviewer.strip() == decided_by:
        raise DecisionError(
            f"decision #{decision_id} was made by {decided_by}: another reviewer must confirm it"
        )
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            'INSERT INTO review_action (decision_id, action, actor, "at", batch_id)'
            " VALUES (?, 'confirmed', ?, ?, NULL)",
            [decision_id, reviewer.strip(), _utc_now()],
        )
        chain(con, audit_key)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def read_decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The decisions in force, as matching takes them: ``record_key_l``, ``record_key_r``, ``same``.

    A pair marked "not sure" constrains nothing.
    """
    frame = con.sql(
        "SELECT record_key_l, record_key_r, verdict = 'same' AS same "
        "FROM review_decision_in_force WHERE verdict <> 'unsure' ORDER BY ALL"
    ).pl()
    return frame.cast(DECISION_SCHEMA)  # type: ignore[arg-type]


def pending_decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Decisions in force not yet applied to the register, in the order decided.

    Columns: ``decision_id``, ``record_key_l``, ``record_key_r``, ``verdict``, ``reviewer``.
    """
    return con.sql(
        """
        SELECT decision_id, record_key_l, record_key_r, verdict, reviewer
        FROM review_decision_in_force WHERE applied_at IS NULL ORDER BY decision_id
        """
    ).pl()


def stored_links(con: duckdb.DuckDBPyConnection, keys: pl.DataFrame) -> pl.DataFrame:
    """``match_link`` pairs decided ``link`` between the records in ``keys`` (``record_key``)."""
    con.register("_keys", keys.select("record_key").to_arrow())
    try:
        return con.sql(
            """
            SELECT record_key_l, record_key_r, match_weight, decided_by
            FROM match_link
            WHERE decision = 'link'
              AND record_key_l IN (SELECT record_key FROM _keys)
              AND record_key_r IN (SELECT record_key FROM _keys)
            ORDER BY record_key_l, record_key_r
            """
        ).pl()
    finally:
        con.unregister("_keys")


def decision_history(con: duckdb.DuckDBPyConnection, record_a: str, record_b: str) -> pl.DataFrame:
    """Every decision on a pair, oldest first, with who confirmed and when it was applied."""
    left, right = sorted((record_a, record_b))
    return con.sql(
        """
        SELECT d.decision_id, d.verdict, d.reviewer, d.decided_at, d.note, d.supersedes,
               d.queued, c.actor AS confirmed_by, a."at" AS applied_at
        FROM review_decision d
        LEFT JOIN review_action c ON c.decision_id = d.decision_id AND c.action = 'confirmed'
        LEFT JOIN review_action a ON a.decision_id = d.decision_id AND a.action = 'applied'
        WHERE d.record_key_l = $l AND d.record_key_r = $r
        ORDER BY d.decision_id
        """,
        params={"l": left, "r": right},
    ).pl()


def awaiting_confirmation(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Decisions on pairs outside the queue that no second reviewer has confirmed yet."""
    return con.sql(
        """
        SELECT d.decision_id, d.record_key_l, d.record_key_r, d.verdict, d.reviewer,
               d.decided_at, d.note
        FROM review_decision d
        WHERE NOT d.queued
          AND d.decision_id = (SELECT max(decision_id) FROM review_decision x
                               WHERE x.record_key_l = d.record_key_l
                                 AND x.record_key_r = d.record_key_r)
          AND NOT EXISTS (SELECT 1 FROM review_action a
                          WHERE a.decision_id = d.decision_id AND a.action = 'confirmed')
        ORDER BY d.decision_id
        """
    ).pl()


def review_queue(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The whole review queue, one row per pair, for filtering: keys, names, birth,
    provinces, weight, probability, why in doubt (``decided_by``), ``last_verdict``, batch.
    """
    return con.sql(
        """
        SELECT q.record_key_l, q.record_key_r, q.full_name_l, q.full_name_r,
               q.date_of_birth_l, q.date_of_birth_r, q.birth_year_l, q.birth_year_r,
               q.sex_l, q.sex_r, m.province_code_l, m.province_code_r,
               q.match_weight, q.match_probability, q.decided_by, q.last_verdict, q.batch_id
        FROM review_queue q
        JOIN match_link m USING (record_key_l, record_key_r)
        ORDER BY q.match_weight DESC NULLS LAST, q.record_key_l, q.record_key_r
        """
    ).pl()


def recent_events(con: duckdb.DuckDBPyConnection, limit: int = 50) -> pl.DataFrame:
    """The latest PIN events, newest first, with the decision and reviewer that made them."""
    return con.sql(
        """
        SELECT e.event_id, e.event, e.pin, e.other_pin, e.person_id, e.batch_id, e."at",
               e.reason, e.decision_id, d.reviewer
        FROM pin_event e LEFT JOIN review_decision d USING (decision_id)
        ORDER BY e.event_id DESC LIMIT $limit
        """,
        params={"limit": limit},
    ).pl()


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
