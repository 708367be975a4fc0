"""The analyst views and their documentation, on a registry built from the samples.

Every example query of README.md and docs/registry.md runs here; every table,
view and column carries a comment; the reference in docs/registry.md is the
one the comments generate; and each view agrees with the tables it summarises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dancu import registry_doc
from tests.registry_helpers import open_registry

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
VIEWS = (
    "population_by_province_sex_year",
    "household",
    "household_members",
    "duplicates_by_province",
    "movers",
    "mover_flows",
    "pending_verification",
    "review_queue",
    "review_decision_in_force",
)


def _example_queries(markdown: Path) -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", markdown.read_text(encoding="utf-8"), re.DOTALL)
    statements = [s.strip() for block in blocks for s in block.split(";")]
    return [
        s for s in statements if s and not all(line.startswith("--") for line in s.splitlines())
    ]


@pytest.fixture(scope="module")
def con(cli_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_registry(cli_warehouse / "registry.duckdb") as connection:
        yield connection


@pytest.mark.parametrize("doc", ["README.md", "docs/registry.md"])
def test_every_example_query_runs_and_finds_rows(con: duckdb.DuckDBPyConnection, doc: str) -> None:
    queries = _example_queries(REPO / doc)
    assert len(queries) >= 4, f"{doc} lost its example queries"
    for query in queries:
        assert con.sql(query).fetchall(), f"no rows from the {doc} query:\n{query}"


def test_every_table_view_and_column_is_documented(con: duckdb.DuckDBPyConnection) -> None:
    undocumented = con.sql(
        """
        SELECT table_name, column_name FROM duckdb_columns()
        WHERE (comment IS NULL OR comment = '') AND NOT internal
          AND database_name = current_database()
          AND table_name IN (SELECT table_name FROM duckdb_tables()
                             UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal)
        UNION ALL
        SELECT table_name, NULL FROM duckdb_tables()
        WHERE comment IS NULL AND database_name = current_database()
        UNION ALL
        SELECT view_name, NULL FROM duckdb_views()
        WHERE NOT internal AND comment IS NULL AND database_name = current_database()
        """
    ).fetchall()
    assert undocumented == []
    views = {
        v for (v,) in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    }
    assert views == set(VIEWS)


def test_the_reference_in_docs_is_generated_from_the_comments() -> None:
    current = registry_doc.DOC.read_text(encoding="utf-8")
    assert registry_doc.render(current) == current, "run python -m dancu.registry_doc"


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    return con.sql(sql).fetchall()[0][0]


def test_population_counts_every_active_person_once(con: duckdb.DuckDBPyConnection) -> None:
    total = _one(con, "SELECT sum(persons) FROM population_by_province_sex_year")
    assert total == _one(con, "SELECT count(*) FROM person WHERE status = 'active'")
    assert total and total > 0
    unnamed = _one(
        con, "SELECT count(*) FROM population_by_province_sex_year WHERE province_name IS NULL"
    )
    assert unnamed == 0


def test_households_hold_each_member_once(con: duckdb.DuckDBPyConnection) -> None:
    members = _one(con, "SELECT sum(members) FROM household")
    distinct = _one(
        con,
        "SELECT count(DISTINCT (province_code, household_id, person_id)) FROM household_member",
    )
    assert members == distinct
    listed = _one(
        con,
        "SELECT count(DISTINCT (province_code, household_id, person_id)) FROM household_members",
    )
    assert listed == distinct
    heads = _one(con, "SELECT count(*) FROM household WHERE head_pin IS NOT NULL")
    assert heads and heads > 0


def test_duplicates_by_province_add_up_to_the_source_records(
    con: duckdb.DuckDBPyConnection,
) -> None:
    records, duplicates = con.sql(
        "SELECT sum(records), sum(duplicate_records) FROM duplicates_by_province"
    ).fetchall()[0]
    assert records == _one(con, "SELECT count(*) FROM source_record")
    within = _one(
        con,
        "SELECT count(*) - count(DISTINCT (province_code, person_id)) FROM source_record",
    )
    assert duplicates == within


def test_movers_are_the_persons_with_records_in_several_provinces(
    con: duckdb.DuckDBPyConnection,
) -> None:
    movers = {p for (p,) in con.sql("SELECT person_id FROM movers").fetchall()}
    expected = {
        p
        for (p,) in con.sql(
            """
            SELECT s.person_id FROM source_record s JOIN person p USING (person_id)
            WHERE p.status <> 'retired'
            GROUP BY ALL HAVING count(DISTINCT s.province_code) > 1
            """
        ).fetchall()
    }
    assert movers == expected and movers
    flows = _one(con, "SELECT sum(persons) FROM mover_flows")
    assert flows == len(movers)


def test_pending_verification_lists_every_pending_person_with_a_reason(
    con: duckdb.DuckDBPyConnection,
) -> None:
    listed = con.sql("SELECT person_id, pending_reason FROM pending_verification").fetchall()
    pending = _one(con, "SELECT count(*) FROM person WHERE status = 'pending'")
    assert len(listed) == pending and pending > 0
    assert all(reason for _, reason in listed)


def test_the_review_queue_is_the_undecided_review_pairs(con: duckdb.DuckDBPyConnection) -> None:
    queued = _one(con, "SELECT count(*) FROM review_queue")
    assert queued == _one(con, "SELECT count(*) FROM match_link WHERE decision = 'review'")
