"""The analysts' database on the samples: minimised, documented, and closed to the host.

Built by ``dancu run`` (the ``cli_warehouse`` fixture) next to the registry:
it must hold no name, PIN, ID number, address or parent's name of the
registry, key persons by a keyed pseudonym, run every example query of
docs/analyst.md, and, opened by our code, read no file of the host.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import duckdb
import pytest

from dancu import registry_doc
from pipelines.warehouse.analyst import open_analyst, person_key
from tests.registry_helpers import DEMO_KEYS, open_registry

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
IDENTIFYING = (
    "full_name",
    "family_name",
    "given_name",
    "other_name",
    "id_number",
    "address",
    "father_name",
    "mother_name",
    "pin",
    "record_key",
    "local_id",
)


@pytest.fixture(scope="module")
def analyst(cli_warehouse: Path) -> duckdb.DuckDBPyConnection:
    return open_analyst(cli_warehouse / "analyst.duckdb")


def _example_queries(markdown: Path) -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", markdown.read_text(encoding="utf-8"), re.DOTALL)
    statements = [s.strip() for block in blocks for s in block.split(";")]
    return [
        s for s in statements if s and not all(line.startswith("--") for line in s.splitlines())
    ]


def test_every_example_query_of_the_analyst_doc_runs_and_finds_rows(
    analyst: duckdb.DuckDBPyConnection,
) -> None:
    queries = _example_queries(REPO / "docs" / "analyst.md")
    assert len(queries) >= 5
    for query in queries:
        assert analyst.sql(query).fetchall(), f"no rows from:\n{query}"


def test_the_analyst_reference_is_generated_and_every_column_documented(
    analyst: duckdb.DuckDBPyConnection,
) -> None:
    doc = registry_doc.ANALYST_DOC.read_text(encoding="utf-8")
    assert registry_doc.render(doc, analyst=True) == doc, "run python -m dancu.registry_doc"
    undocumented = analyst.sql(
        "SELECT table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = current_database() AND (comment IS NULL OR comment = '')"
    ).fetchall()
    assert undocumented == []


def test_the_analyst_database_holds_no_direct_identifier(
    analyst: duckdb.DuckDBPyConnection, cli_warehouse: Path
) -> None:
    mine = "FROM duckdb_columns() WHERE database_name = current_database() AND NOT internal"
    columns = {c for (c,) in analyst.sql(f"SELECT column_name {mine}").fetchall()}
    assert not columns & set(IDENTIFYING), columns & set(IDENTIFYING)
    assert not {"ethnicity", "religion"} & {
        c
        for (t, c) in analyst.sql(f"SELECT table_name, column_name {mine}").fetchall()
        if t in ("person", "movers", "pending_verification")
    }
    with open_registry(cli_warehouse) as con:
        secrets = {
            v
            for (v,) in con.sql(
                "SELECT DISTINCT unnest([full_name, id_number, address, father_name, mother_name,"
                " pin, local_id, record_key]) FROM source_record"
            ).fetchall()
            if v and len(v) >= 6
        }
        people = con.sql("SELECT person_id, pin FROM person").fetchall()
    assert len(secrets) > 1000
    found: set[str] = set()
    for table, column in analyst.sql(
        f"SELECT table_name, column_name {mine} AND data_type = 'VARCHAR'"
    ).fetchall():
        values = {v for (v,) in analyst.sql(f'SELECT DISTINCT "{column}" FROM {table}').fetchall()}
        found |= values & secrets
    assert found == set()
    data = (cli_warehouse / "analyst.duckdb").read_bytes()
    assert not any(name.encode() in data for name in list(secrets)[:2000])
    # Persons are keyed by the keyed pseudonym, not by the PIN nor the internal id.
    keys = {k for (k,) in analyst.sql("SELECT person_key FROM person").fetchall()}
    assert keys == {person_key(DEMO_KEYS.pseudonym, p) for p, _ in people}
    assert keys.isdisjoint({pin for _, pin in people}) and keys.isdisjoint({p for p, _ in people})
    assert keys.isdisjoint({person_key(bytes(32), p) for p, _ in people})


def test_sensitive_counts_below_ten_are_hidden(analyst: duckdb.DuckDBPyConnection) -> None:
    for table in ("ethnicity_by_province", "religion_by_province"):
        small = analyst.sql(f"SELECT count(*) FROM {table} WHERE persons < 10").fetchall()
        assert small == [(0,)]


@pytest.mark.parametrize(
    "attack",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "COPY person TO '/tmp/dancu-analyst-leak.csv'",
        "ATTACH '/etc/passwd' AS other",
        "SET enable_external_access = true",
        "INSTALL httpfs",
    ],
)
def test_our_analyst_connection_cannot_reach_the_hosts_files(
    analyst: duckdb.DuckDBPyConnection, attack: str
) -> None:
    with pytest.raises(duckdb.Error):
        analyst.execute(attack)
    assert not Path("/tmp/dancu-analyst-leak.csv").exists()


def test_the_analyst_and_registry_files_are_private(cli_warehouse: Path) -> None:
    for name in ("analyst.duckdb", "registry.duckdb", "report.html", ".dancu.lock"):
        assert stat.S_IMODE((cli_warehouse / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(cli_warehouse.stat().st_mode) == 0o700
