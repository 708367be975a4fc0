"""A tamper-evident audit trail: the append-only tables hash-chained with a keyed MAC.

Each chained table (``CHAINED``: ``pin_event``, ``review_decision``, ``review_action``, ``run``;
any append-only table can be added) has three columns: ``chain_seq``
(1, 2, 3, … in the order rows were added), ``prev_mac`` and ``mac``::

    mac = HMAC-SHA256(audit key, prev_mac || 0x1E || table || 0x1E || canonical(row))

where ``prev_mac`` is the ``mac`` of the row before (64 zeros for the first)
and ``canonical(row)`` is the JSON object of the row's other non-null columns,
keys sorted, values as text for dates and times (``_canonical``: the same
function writes and verifies, and a nullable column added to a table later
leaves the chains of its old rows intact). ``chain``
extends every chain with the rows added since (``mac`` null), inside the
writer's transaction; ``verify`` walks the chains and names the first row
that was edited (its mac does not match its content), deleted or reordered
(it does not follow the row before it), or added without the key.

A deleted *last* row leaves no gap. So each chaining also appends the heads
(sequence and mac of every chain, MACed too) to ``WAREHOUSE/audit-anchor.jsonl``,
and ``verify`` compares the registry with the last anchor. Keep a copy of
that file elsewhere (a log host): whoever holds both the audit key and write
access could rebuild the chain and the anchor, but not the copies.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

#: The chained tables and the order their new rows are chained in.
CHAINED: dict[str, str] = {
    "pin_event": "event_id",
    "review_decision": "decision_id",
    "review_action": "decision_id, action",
    "run": "started_at, run_id",
}
ANCHOR_FILE = "audit-anchor.jsonl"
GENESIS = "0" * 64
_SEP = b"\x1e"


def _mac(key: bytes, prev: str, table: str, canonical: str) -> str:
    message = prev.encode() + _SEP + table.encode() + _SEP + canonical.encode("utf-8")
    return hmac.digest(key, message, hashlib.sha256).hex()


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _canonical(columns: list[str], row: tuple[Any, ...]) -> str:
    """The row's non-null columns (other than the macs) as JSON, keys sorted."""
    return _canonical_sorted(_sorted_columns(columns), row)


def _sorted_columns(columns: list[str]) -> list[tuple[str, int]]:
    """The columns a row's canonical form holds, in key order, with their positions."""
    return sorted((c, i) for i, c in enumerate(columns) if c not in ("prev_mac", "mac"))


def _canonical_sorted(order: list[tuple[str, int]], row: tuple[Any, ...]) -> str:
    """``_canonical`` with the key order worked out once per table (a dict built in key
    order dumps as ``sort_keys`` would)."""
    content = {c: _plain(row[i]) for c, i in order if row[i] is not None}
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"))


#: JSON's escapes of a string (``json.dumps(..., ensure_ascii=False)``): the quote,
#: the backslash and the control characters; every other character is itself.
_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    **{chr(c): f"\\u{c:04x}" for c in range(0x20)},
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _json_value(column: str, dtype: pl.DataType) -> pl.Expr | None:
    """A column's values as ``_canonical`` writes them (None: a type not handled here)."""
    value = pl.col(column)
    if dtype.is_integer():
        return value.cast(pl.String)
    if dtype == pl.Boolean:
        return pl.when(value).then(pl.lit("true")).when(~value).then(pl.lit("false"))
    if dtype == pl.String:
        escaped = value.str.replace_many(list(_JSON_ESCAPES), list(_JSON_ESCAPES.values()))
        return pl.concat_str(pl.lit('"'), escaped, pl.lit('"'))
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        # datetime.isoformat(): the microseconds only when there are some.
        text = (
            pl.when(value.dt.microsecond() == 0)
            .then(value.dt.strftime("%Y-%m-%dT%H:%M:%S"))
            .otherwise(value.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f"))
        )
        return pl.concat_str(pl.lit('"'), text, pl.lit('"'))
    return None


def _canonical_frame(frame: pl.DataFrame) -> list[str] | None:
    """``_canonical`` of every row of ``frame`` at once, or None if a column's type
    is not handled by ``_json_value`` (the caller then goes row by row)."""
    fragments = []
    for column, _ in _sorted_columns(frame.columns):
        value = _json_value(column, frame.schema[column])
        if value is None:
            return None
        key = json.dumps(column, ensure_ascii=False)
        fragments.append(pl.concat_str(pl.lit(f"{key}:"), value))  # null when the value is
    body = pl.concat_str(fragments, separator=",", ignore_nulls=True)
    return frame.select(pl.concat_str(pl.lit("{"), body, pl.lit("}"))).to_series().to_list()


def _rows(
    con: duckdb.DuckDBPyConnection, table: str, where: str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    found = con.execute(f"SELECT * FROM {table} {where} ORDER BY chain_seq NULLS LAST")
    columns = [d[0] for d in found.description or []]
    return columns, found.fetchall()


def chain(con: duckdb.DuckDBPyConnection, key: bytes) -> dict[str, tuple[int, str]]:
    """Extend every chain with the rows added since it was last extended; return the heads.

    Runs inside the caller's transaction (it writes only ``chain_seq``,
    ``prev_mac`` and ``mac`` of rows that have none). A writer may number its
    new rows itself as it inserts them, in the chain's order (the batch load
    does for ``pin_event``: in DuckDB 2.0, updating ``chain_seq``, a UNIQUE
    column, of a million rows afterwards takes minutes); rows still without a
    number are numbered here.
    """
    heads = {}
    for table, order in CHAINED.items():
        last = con.execute(
            f"SELECT chain_seq, mac FROM {table} WHERE mac IS NOT NULL "
            "ORDER BY chain_seq DESC LIMIT 1"
        ).fetchall()
        seq, prev = (int(last[0][0]), str(last[0][1])) if last else (0, GENESIS)
        con.execute(
            f"""
            UPDATE {table} SET chain_seq = s.seq
            FROM (SELECT rowid AS rid,
                         (SELECT coalesce(max(chain_seq), 0) FROM {table})
                         + row_number() OVER (ORDER BY {order}) AS seq
                  FROM {table} WHERE chain_seq IS NULL) s
            WHERE {table}.rowid = s.rid
            """
        )
        frame = con.sql(f"SELECT * FROM {table} WHERE mac IS NULL ORDER BY chain_seq").pl()
        seqs: list[int] = frame["chain_seq"].to_list()
        texts = _canonical_frame(frame)
        if texts is None:  # a column of a type _json_value does not write: row by row
            columns, rows = _rows(con, table, "WHERE mac IS NULL")
            layout = _sorted_columns(columns)
            texts = [_canonical_sorted(layout, row) for row in rows]
        prevs, macs = [], []
        for text in texts:
            mac = _mac(key, prev, table, text)
            prevs.append(prev)
            macs.append(mac)
            prev = mac
        if seqs:
            seq = seqs[-1]
            new = pa.table({"seq": seqs, "prev_mac": prevs, "mac": macs})
            con.register("_chain_new", new)
            try:
                con.execute(
                    f"UPDATE {table} SET prev_mac = n.prev_mac, mac = n.mac "
                    f"FROM _chain_new n WHERE {table}.chain_seq = n.seq"
                )
            finally:
                con.unregister("_chain_new")
        heads[table] = (seq, prev)
    return heads


def anchor_line(key: bytes, heads: dict[str, tuple[int, str]], at: str) -> str:
    """One line of the anchor file: the heads, when, and a MAC over both."""
    body = {"at": at, "heads": {t: [s, m] for t, (s, m) in sorted(heads.items())}}
    text = json.dumps(body, sort_keys=True)
    return json.dumps({**body, "mac": _mac(key, GENESIS, "anchor", text)}, sort_keys=True)


def append_anchor(warehouse: Path, line: str) -> None:
    """Append an anchor line to ``WAREHOUSE/audit-anchor.jsonl`` (0600)."""
    path = warehouse / ANCHOR_FILE
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    path.chmod(0o600)


@dataclass(frozen=True)
class ChainReport:
    """What ``verify`` found in one chain."""

    table: str
    rows: int
    problem: str | None  # the first problem, in words; None when intact

    def to_text(self) -> str:
        """One line for the user."""
        state = "intact" if self.problem is None else f"BROKEN: {self.problem}"
        return f"{self.table}: {self.rows:,} rows, {state}"


def _last_anchor(key: bytes, warehouse: Path | None) -> tuple[dict[str, list], str | None]:
    if warehouse is None or not (warehouse / ANCHOR_FILE).exists():
        return {}, None
    lines = (warehouse / ANCHOR_FILE).read_text(encoding="utf-8").splitlines()
    if not lines:
        return {}, None
    last = json.loads(lines[-1])
    body = {"at": last.get("at"), "heads": last.get("heads", {})}
    if last.get("mac") != _mac(key, GENESIS, "anchor", json.dumps(body, sort_keys=True)):
        return {}, "the last line of the anchor file does not carry a valid mac (edited)"
    return dict(last["heads"]), None


def verify(
    con: duckdb.DuckDBPyConnection, key: bytes, warehouse: Path | None = None
) -> list[ChainReport]:
    """Walk every chain and name its first edited, deleted, reordered or unkeyed row.

    With ``warehouse``, the chains' heads are also compared with the last line
    of its anchor file (rows deleted at the end, or added without the pipeline).
    """
    anchors, anchor_problem = _last_anchor(key, warehouse)
    out = []
    for table in CHAINED:
        columns, rows = _rows(con, table, "")
        at = [columns.index(c) for c in ("chain_seq", "prev_mac", "mac")]
        problem = None
        prev, expected_seq = GENESIS, 1
        for row in rows:
            seq, prev_mac, mac = (row[i] for i in at)
            canonical = _canonical(columns, row)
            if seq is None or mac is None:
                problem = "a row without a mac was added outside the pipeline"
                break
            if seq != expected_seq:
                problem = (
                    f"row {expected_seq} is missing (deleted): the chain goes from "
                    f"row {expected_seq - 1} to row {seq}"
                )
                break
            if mac != _mac(key, str(prev_mac), table, canonical):
                problem = f"row {seq} was edited (its mac does not match its content)"
                break
            if prev_mac != prev:
                problem = f"row {seq} does not follow the row before it (deleted or reordered)"
                break
            prev, expected_seq = str(mac), expected_seq + 1
        if problem is None and table in anchors:
            anchored_seq, anchored_mac = anchors[table]
            head = expected_seq - 1
            if head < anchored_seq:
                problem = (
                    f"rows {head + 1} to {anchored_seq} are missing (deleted at the end): "
                    f"the anchor file says the chain reached row {anchored_seq}"
                )
            elif anchored_seq >= 1 and rows[anchored_seq - 1][at[2]] != anchored_mac:
                problem = f"row {anchored_seq} differs from the anchor file's head (rebuilt)"
        if problem is None and anchor_problem is not None:
            problem = anchor_problem
        out.append(ChainReport(table, len(rows), problem))
    return out
