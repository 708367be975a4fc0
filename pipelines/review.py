"""Clerical review: reviewers' decisions on pairs the model could not decide.

A decision says two source records are the same person (``same=True``) or
different people (``same=False``). It is stored in ``review_decision`` and
handed to matching on every later run, where it overrides the model: a
"different" decision is a cannot-link that splits a cluster, a "same"
decision a must-link that may merge two persons.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

DECISION_SCHEMA: dict[str, pl.DataType] = {
    "record_key_l": pl.String(),
    "record_key_r": pl.String(),
    "same": pl.Boolean(),
}


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


def undecided_pairs(registry: Path, limit: int = 20) -> pl.DataFrame:
    """The undecided review pairs, most likely matches first."""
    with duckdb.connect(str(registry), read_only=True) as con:
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
