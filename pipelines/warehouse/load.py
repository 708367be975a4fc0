"""Write a batch into the registry (``registry.duckdb``) in one transaction.

The only module that writes a batch. It replaces the batch's rows and the
register's state inside a single transaction: a failed load leaves the
registry as it was, and loading the same batch twice leaves the same tables.
Inside that transaction, before COMMIT: the registry's keys are checked
(``registry.check_keys``), the audit chain is extended (``audit``), the batch
is marked loaded (its ``run`` row), and the caller's must-hold checks run on
the result (``verify``), so nothing is committed that they would refuse.
A failure at any point, a full disk included, rolls everything back.
``match_link_rows`` shapes matching's scored pairs as ``match_link`` rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb
import polars as pl

from domain.schema import RECORD_SCHEMA
from pipelines.register.update import RegisterUpdate
from pipelines.warehouse.audit import chain
from pipelines.warehouse.registry import check_keys, versions

#: Decisions kept in ``match_link`` (plain non-links by the model are not stored).
_STORED = (
    pl.col("decision").is_in(["link", "review"])
    | pl.col("decided_by").str.starts_with("rule")
    | (pl.col("decided_by") == "reviewer")
)


def match_link_rows(pairs: pl.DataFrame, batch_id: str) -> pl.DataFrame:
    """Shape scored pairs as ``match_link`` rows, with a JSON explanation per pair."""
    names = [c.removeprefix("gamma_") for c in pairs.columns if c.startswith("gamma_")]
    explanation = pl.struct(
        [
            pl.struct(level=pl.col(f"gamma_{n}"), weight=pl.col(f"w_{n}").round(3)).alias(n)
            for n in names
        ]
    ).struct.json_encode()
    split_l = pl.col("record_key_l").str.split_exact(":", 1)
    split_r = pl.col("record_key_r").str.split_exact(":", 1)
    return pairs.filter(_STORED).select(
        "record_key_l",
        "record_key_r",
        split_l.struct.field("field_0").alias("province_code_l"),
        split_l.struct.field("field_1").alias("local_id_l"),
        split_r.struct.field("field_0").alias("province_code_r"),
        split_r.struct.field("field_1").alias("local_id_r"),
        "match_weight",
        "match_probability",
        "decision",
        "decided_by",
        explanation.alias("explanation"),
        pl.lit(batch_id).alias("batch_id"),
    )


@dataclass(frozen=True)
class BatchTables:
    """What a batch brings to the registry besides the register update."""

    batch_id: str
    records: pl.DataFrame  # RECORD_SCHEMA, this batch's loaded rows
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA
    files: pl.DataFrame  # FILE_COUNT_SCHEMA
    pairs: pl.DataFrame  # match_link columns
    model_json: str
    fingerprint: str  # digest of the batch's files (see dancu.inbox.batch_fingerprint)
    model_source: str = "fitted"  # where its m came from: fitted, registry:<batch>, default


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])


def _register_frames(update: RegisterUpdate) -> dict[str, pl.DataFrame]:
    """The frames ``_write_register`` reads, by the names it reads them."""
    serials = pl.DataFrame(
        {"prefix": list(update.serials_issued), "issued": list(update.serials_issued.values())},
        schema={"prefix": pl.String, "issued": pl.Int32},
    )
    return {
        "record_person": update.record_person,
        "persons": update.persons,
        "events": update.events,
        "serials": serials,
    }


def _write_register(
    con: duckdb.DuckDBPyConnection, update: RegisterUpdate, batch_id: str, now: dt.datetime
) -> None:
    """Write the register update (inside the caller's transaction, frames registered)."""
    con.execute(
        """
        UPDATE source_record s SET person_id = r.person_id, pin = r.pin
        FROM record_person r
        WHERE s.record_key = r.record_key
          AND (s.person_id IS DISTINCT FROM r.person_id OR s.pin IS DISTINCT FROM r.pin)
        """
    )
    # Only the persons and records the update touched are rewritten.
    con.execute("DELETE FROM person WHERE person_id IN (SELECT person_id FROM persons)")
    con.execute("INSERT INTO person BY NAME SELECT * FROM persons ORDER BY person_id")
    con.execute(
        "DELETE FROM household_member WHERE record_key IN (SELECT record_key FROM record_person)"
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
    first_id, last_seq = con.execute(
        "SELECT coalesce(max(event_id), 0) + 1, coalesce(max(chain_seq), 0) FROM pin_event"
    ).fetchall()[0]
    # Numbered in the audit chain's order (event_id) as they go in: see audit.chain.
    con.execute(
        """
        INSERT INTO pin_event
            (event_id, event, pin, other_pin, person_id, batch_id, "at", reason, decision_id,
             chain_seq)
        SELECT ? + n - 1, event, pin, other_pin, person_id, ?, ?, reason, decision_id, ? + n
        FROM (SELECT *, row_number() OVER () AS n FROM events)
        """,
        [first_id, batch_id, now, last_seq],
    )
    con.execute("INSERT OR REPLACE INTO pin_serial SELECT prefix, issued FROM serials")


@contextlib.contextmanager
def _transaction(con: duckdb.DuckDBPyConnection, frames: dict[str, pl.DataFrame]) -> Iterator[None]:
    """``frames`` registered by name and a transaction open; rolled back if the body raises.

    The body ends with ``_commit``; the frames are unregistered whatever happened.
    """
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        for name in frames:
            con.unregister(name)


def _commit(
    con: duckdb.DuckDBPyConnection,
    audit_key: bytes,
    before_commit: Callable[[duckdb.DuckDBPyConnection], None] | None,
) -> dict[str, tuple[int, str]]:
    """Extend the audit chains, run ``before_commit``, COMMIT; return the chains' heads."""
    heads = chain(con, audit_key)
    if before_commit is not None:
        before_commit(con)
    con.execute("COMMIT")
    return heads


def load_batch(
    con: duckdb.DuckDBPyConnection,
    batch: BatchTables,
    update: RegisterUpdate,
    started_at: dt.datetime,
    run_id: str,
    *,
    key_checks: dict[str, str],
    audit_key: bytes,
    before_commit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> tuple[dict[str, int], dict[str, tuple[int, str]]]:
    """Write one batch and the updated register; return the run's counts and the chain heads.

    Args:
        con: the registry, open for writing.
        batch: what the batch brings.
        update: the register after this run.
        started_at: when the run started.
        run_id: the run's id.
        key_checks: check values of this run's keys and the serial scheme
            (``registry.check_keys``); recorded by the first load.
        audit_key: the key of the audit chains (``audit.chain``), extended
            in the same transaction.
        before_commit: called inside the transaction once everything is
            written; raising rolls the whole load back (the must-hold checks
            and the audit chain).

    Raises:
        registry.KeyMismatchError: the registry was built with other keys.
    """
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    frames = {
        "records": batch.records,
        **_register_frames(update),
        "pairs": batch.pairs,
        "quarantine_frame": batch.quarantine,
        "files": batch.files,
    }
    with _transaction(con, frames):
        check_keys(con, key_checks, record=True)
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
        _write_register(con, update, batch.batch_id, now)
        con.execute("INSERT OR REPLACE INTO match_link BY NAME SELECT * FROM pairs")
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
        run_columns = ["run_id", "batch_id", "started_at", "ended_at", "status", *counts]
        run_columns += ["versions", "batch_fingerprint", "model_source"]
        con.execute(
            f"INSERT INTO run ({', '.join(run_columns)}) "
            f"VALUES ({', '.join('?' for _ in run_columns)})",
            [
                run_id,
                batch.batch_id,
                started_at,
                now,
                "loaded",
                *counts.values(),
                versions(),
                batch.fingerprint,
                batch.model_source,
            ],
        )
        heads = _commit(con, audit_key, before_commit)
    return counts, heads


def load_review(
    con: duckdb.DuckDBPyConnection,
    update: RegisterUpdate,
    applied: pl.DataFrame,
    held_back: pl.DataFrame,
    *,
    actor: str,
    batch_id: str,
    audit_key: bytes,
    before_commit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> dict[str, tuple[int, str]]:
    """Apply reviewers' decisions to the register in one transaction.

    Writes the register update (its events carry ``batch_id``), sets each
    decided pair's ``match_link`` row to the verdict (``decided_by =
    'reviewer'``), sends the links the new clusters hold back to review, and
    records an ``applied`` action for each decision.

    Args:
        con: Write connection to the registry.
        update: The register after the decisions.
        applied: The decisions applied: ``decision_id``, ``record_key_l``,
            ``record_key_r``, ``verdict``.
        held_back: ``record_key_l``, ``record_key_r``, ``decision``, ``decided_by``.
        actor: Who applied them (the user, or the batch).
        batch_id: The ``batch_id`` of the events (the batch, or ``review:<id>``).
        audit_key: The key of the audit chains, extended in the same transaction.
        before_commit: Called inside the transaction once everything is
            written (the registry's must-hold checks); raising rolls it back.

    Returns:
        The heads of the audit chains.
    """
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    frames = {
        **_register_frames(update),
        "applied": applied.select("decision_id", "record_key_l", "record_key_r", "verdict"),
        "held_back": held_back,
    }
    with _transaction(con, frames):
        _write_register(con, update, batch_id, now)
        con.execute(
            """
            UPDATE match_link m
            SET decision = h.decision, decided_by = h.decided_by
            FROM held_back h
            WHERE m.record_key_l = h.record_key_l AND m.record_key_r = h.record_key_r
            """
        )
        con.execute(
            """
            UPDATE match_link m
            SET decision = CASE a.verdict WHEN 'same' THEN 'link' ELSE 'non_link' END,
                decided_by = 'reviewer'
            FROM applied a
            WHERE m.record_key_l = a.record_key_l AND m.record_key_r = a.record_key_r
              AND a.verdict <> 'unsure'
            """
        )
        con.execute(
            'INSERT INTO review_action (decision_id, action, actor, "at", batch_id)'
            " SELECT decision_id, 'applied', ?, ?, ? FROM applied ORDER BY decision_id",
            [actor, now, batch_id],
        )
        heads = _commit(con, audit_key, before_commit)
    return heads
