"""The analysts' database, ``analyst.duckdb``: minimised data, refreshed by each load.

Built from the registry (``sql/analyst.sql``, documented in
``sql/analyst_comments.csv`` and docs/analyst.md) into a new file that is then
renamed over the old one (``os.replace``): an analyst's open connection keeps
its snapshot and never blocks a load. It holds no direct identifiers (no
names, PINs, ID numbers, addresses, parents' names, birth dates, record keys),
persons are known by a keyed pseudonym (``person_key``), and ethnicity and
religion appear only as counts with small cells hidden.

The full registry is for the pipeline and the reviewers. The control is what
this file holds (and its mode, 0600: publish a copy to the analysts' share);
``open_analyst`` additionally opens it the way a service of ours would, with
no access to the host's files.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.warehouse.registry import sql_literal

_ALIAS = "analyst"


def _sql_text(name: str) -> str:
    return resources.files("pipelines.warehouse").joinpath("sql", name).read_text("utf-8")


def analyst_comments() -> list[dict[str, str]]:
    """The documentation of every table and column of the analyst database."""
    return list(csv.DictReader(_sql_text("analyst_comments.csv").splitlines()))


def person_key(key: bytes, person_id: str) -> str:
    """The keyed pseudonym of a person: HMAC-SHA256(key, 'person:' + person_id), 20 hex digits."""
    return hmac.new(key, b"person:" + person_id.encode(), hashlib.sha256).hexdigest()[:20]


def _comment_statements(kinds: dict[str, str]) -> str:
    out = []
    for row in analyst_comments():
        target = f"{_ALIAS}.{row['object']}"
        text = sql_literal(row["comment"])
        if row["column"]:
            out.append(f"COMMENT ON COLUMN {target}.{row['column']} IS {text};")
        else:
            out.append(f"COMMENT ON {kinds.get(row['object'], 'TABLE')} {target} IS {text};")
    return "\n".join(out)


def _build(con: duckdb.DuckDBPyConnection) -> None:
    """Create the analyst tables in the attached ``analyst`` from the current database."""
    registry = con.execute("SELECT current_database()").fetchall()[0][0]
    con.execute(_sql_text("analyst.sql").replace("registry.", f"{registry}."))
    con.execute(_comment_statements({}))


def describe_analyst_schema() -> list[tuple[str, str, str, list[tuple[str, str, str]]]]:
    """Every table of the analyst database: name, kind, comment and columns (with theirs)."""
    from pipelines.warehouse.registry import create_schema

    with duckdb.connect() as con:
        create_schema(con)
        con.register(
            "_pseudonym",
            pa.table(
                {"person_id": pa.array([], pa.string()), "person_key": pa.array([], pa.string())}
            ),
        )
        con.execute(f"ATTACH ':memory:' AS {_ALIAS}")
        _build(con)
        objects = con.execute(
            "SELECT table_name, comment FROM duckdb_tables() WHERE database_name = ? "
            "ORDER BY table_name",
            [_ALIAS],
        ).fetchall()
        out = []
        for name, comment in objects:
            columns = con.execute(
                "SELECT column_name, data_type, comment FROM duckdb_columns() "
                "WHERE database_name = ? AND table_name = ? ORDER BY column_index",
                [_ALIAS, name],
            ).fetchall()
            out.append((name, "table", comment, [(c, t, m) for c, t, m in columns]))
    return out


def write_analyst(con: duckdb.DuckDBPyConnection, target: Path, pseudonym_key: bytes) -> Path:
    """Write ``analyst.duckdb`` from the registry open on ``con`` (a new file, then renamed).

    ``con`` has the registry attached and in use (``registry.connect``), with
    no transaction open.
    """
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    ids = [r[0] for r in con.execute("SELECT person_id FROM person").fetchall()]
    pseudonyms = pa.table(
        {"person_id": ids, "person_key": [person_key(pseudonym_key, p) for p in ids]}
    )
    con.register("_pseudonym", pseudonyms)
    try:
        con.execute(f"ATTACH {sql_literal(str(tmp))} AS {_ALIAS}")
        try:
            _build(con)
        finally:
            con.execute(f"DETACH {_ALIAS}")
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    finally:
        con.unregister("_pseudonym")
        tmp.unlink(missing_ok=True)
    return target


def open_analyst(path: Path) -> duckdb.DuckDBPyConnection:
    """Open ``analyst.duckdb`` read-only with no access to the host's files.

    External access is off and the configuration locked, so this connection
    cannot read files (``read_csv('/etc/passwd')``), ``COPY`` out, ``ATTACH``
    another database or load extensions. (An analyst's own client is not bound
    by this: what protects the data is that the file holds none of it.)
    """
    return duckdb.connect(
        str(path),
        read_only=True,
        config={"enable_external_access": False, "lock_configuration": True},
    )
