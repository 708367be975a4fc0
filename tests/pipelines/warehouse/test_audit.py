"""The audit chain on a small registry: intact, then each kind of tampering named."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from pipelines.warehouse.audit import (
    CHAINED,
    _canonical,
    _canonical_frame,
    anchor_line,
    append_anchor,
    chain,
    verify,
)
from pipelines.warehouse.registry import create_schema

pytestmark = pytest.mark.unit

KEY = bytes(range(32))


def _events(con: duckdb.DuckDBPyConnection, first: int, n: int) -> None:
    at = dt.datetime(2021, 6, 15, 10)
    con.executemany(
        'INSERT INTO pin_event (event_id, event, pin, other_pin, person_id, batch_id, "at", '
        "reason) VALUES (?, 'issued', ?, NULL, ?, '2021-06-15', ?, 'new PIN \"x\" \x1b')",
        [(i, f"001090{i:06d}", f"P{i}", at) for i in range(first, first + n)],
    )


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    create_schema(con)
    _events(con, 1, 20)
    heads = chain(con, KEY)
    append_anchor(tmp_path, anchor_line(KEY, heads, "2021-06-15T10:00:00"))
    _events(con, 21, 5)  # a second run extends the chain
    append_anchor(tmp_path, anchor_line(KEY, chain(con, KEY), "2021-06-16T10:00:00"))
    return con


def _problem(con: duckdb.DuckDBPyConnection, warehouse: Path | None = None) -> str | None:
    (report,) = [r for r in verify(con, KEY, warehouse) if r.table == "pin_event"]
    return report.problem


def test_an_untouched_chain_is_intact_and_its_links_run_in_order(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    reports = verify(con, KEY, tmp_path)
    assert [r.table for r in reports] == list(CHAINED)
    assert [r.problem for r in reports] == [None] * len(CHAINED)
    rows = con.sql("SELECT chain_seq, prev_mac, mac FROM pin_event ORDER BY chain_seq").fetchall()
    assert [r[0] for r in rows] == list(range(1, 26))
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, 25))
    assert rows[0][1] == "0" * 64


def test_each_kind_of_tampering_is_named(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    con.execute("UPDATE pin_event SET pin = '001090999999' WHERE chain_seq = 12")
    assert _problem(con) == "row 12 was edited (its mac does not match its content)"
    con.execute("DELETE FROM pin_event WHERE chain_seq = 12")
    assert _problem(con) == "row 12 is missing (deleted): the chain goes from row 11 to row 13"


def test_a_deleted_tail_is_found_through_the_anchor(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    con.execute("DELETE FROM pin_event WHERE chain_seq >= 24")
    assert _problem(con) is None  # nothing inside the table shows it
    assert "rows 24 to 25 are missing (deleted at the end)" in str(_problem(con, tmp_path))


def test_a_row_rechained_without_the_key_or_added_outside_is_named(
    con: duckdb.DuckDBPyConnection,
) -> None:
    chain(con, bytes(32))  # nothing new: nothing changes
    assert _problem(con) is None
    _events(con, 26, 1)
    assert _problem(con) == "a row without a mac was added outside the pipeline"
    chain(con, bytes(32))  # chained with another key
    assert _problem(con) == "row 26 was edited (its mac does not match its content)"


def test_a_column_added_later_keeps_old_chains_valid(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("ALTER TABLE pin_event ADD COLUMN later_column BIGINT")
    assert _problem(con) is None
    con.execute("UPDATE pin_event SET later_column = 7 WHERE chain_seq = 3")
    assert _problem(con) == "row 3 was edited (its mac does not match its content)"


def test_the_chain_writes_each_row_as_the_verifier_reads_it() -> None:
    """The chain writes a table's rows at once (polars); ``verify`` row by row (json)."""
    con = duckdb.connect()
    con.execute(
        'CREATE TABLE t (id BIGINT, "name" VARCHAR, "at" TIMESTAMP, ok BOOLEAN, n INTEGER,'
        " chain_seq BIGINT, prev_mac VARCHAR, mac VARCHAR)"
    )
    nasty = ["", 'a "quoted" \\ back', "Nguyễn Thị Ánh 🙂", "\u2028\x7f/"]
    nasty += ["".join(chr(c) for c in range(0x20))]  # every control character
    rows = [
        (i, text, at, ok, n)
        for i, (text, at, ok, n) in enumerate(
            [
                (nasty[0], dt.datetime(2021, 6, 15, 10), True, -5),
                (nasty[1], dt.datetime(2021, 6, 15, 10, 0, 0, 1), False, 0),
                (nasty[2], dt.datetime(999, 1, 2, 3, 4, 5, 120000), None, None),
                (nasty[3], None, True, 2**31 - 1),
                (nasty[4], dt.datetime(2024, 2, 29, 23, 59, 59, 999999), False, 7),
                (None, None, None, None),
            ]
        )
    ]
    con.executemany("INSERT INTO t (id, name, \"at\", ok, n) VALUES (?, ?, ?, ?, ?)", rows)
    found = con.execute("SELECT * FROM t ORDER BY id")
    columns = [d[0] for d in found.description or []]
    expected = [_canonical(columns, row) for row in found.fetchall()]
    frame = con.sql("SELECT * FROM t ORDER BY id").pl()
    assert _canonical_frame(frame) == expected
    assert expected[-1] == '{"id":5}'
    # A type the frame form does not write (DOUBLE) is left to the row-by-row form.
    assert _canonical_frame(frame.with_columns(id=frame["id"].cast(float))) is None
