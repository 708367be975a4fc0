"""Compare two registries table by table: are two runs' outcomes the same?

Two runs of the same batches (``dancu run`` and the DAG on Celery workers, or
matching split into more or fewer partitions) must give the same registry:
the same rows in every table, PINs included. Only wall-clock values may differ:
every ``TIMESTAMP`` column (a run's start and end, a PIN event's time, a
decision's time), the run's id, which is derived from its start, and the audit
chain's ``prev_mac`` and ``mac`` (MACs over those rows, clock included; each
registry's chain is checked on its own by ``pipelines.warehouse.audit``).
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from pipelines.warehouse.audit import CHAINED
from pipelines.warehouse.registry import ALIAS, open_database, sql_literal

#: Columns that are not TIMESTAMP but hold the wall clock all the same.
_CLOCK_COLUMNS = {"run": {"run_id"}}
#: The audit chain's MACs (over rows with wall-clock columns) in every chained table.
_CHAIN_COLUMNS = {"prev_mac", "mac"}
#: The left registry's name in the connection (``open_database`` attaches it so).
_LEFT = ALIAS


@dataclass(frozen=True)
class TableDifference:
    """One table of two registries: its rows and the rows only one side has."""

    table: str
    rows_left: int
    rows_right: int
    only_left: int
    only_right: int
    ignored: tuple[str, ...]

    @property
    def same(self) -> bool:
        """Whether both sides hold the same rows (duplicates counted)."""
        return self.only_left == 0 and self.only_right == 0


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def compare_registries(left: Path, right: Path) -> list[TableDifference]:
    """Compare every table of ``left`` with ``right``, wall-clock columns left out.

    Rows are compared as multisets (``EXCEPT ALL`` both ways), so order does
    not matter but a repeated row does. A table missing on one side counts all
    its rows as only on the other.

    Args:
        left: a registry file.
        right: another registry file.

    Raises:
        FileNotFoundError: a registry does not exist.
    """
    for path in (left, right):
        if not path.exists():
            raise FileNotFoundError(f"no registry at '{path}'")
    with closing(open_database(left, read_only=True)) as con:
        con.execute(f"ATTACH {sql_literal(str(right))} AS r (READ_ONLY)")
        tables = {
            side: {
                name
                for (name,) in con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [side]
                ).fetchall()
            }
            for side in (_LEFT, "r")
        }
        out = []
        for table in sorted(tables[_LEFT] | tables["r"]):
            if table not in tables[_LEFT] or table not in tables["r"]:
                side = _LEFT if table in tables[_LEFT] else "r"
                rows = con.execute(f"SELECT count(*) FROM {side}.{_quoted(table)}").fetchall()[0][0]
                left_rows, right_rows = (rows, 0) if side == _LEFT else (0, rows)
                out.append(TableDifference(table, left_rows, right_rows, left_rows, right_rows, ()))
                continue
            columns = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = ? AND table_name = ? ORDER BY column_index",
                [_LEFT, table],
            ).fetchall()
            clock = _CLOCK_COLUMNS.get(table, set()) | (
                _CHAIN_COLUMNS if table in CHAINED else set()
            )
            ignored = tuple(c for c, kind in columns if kind.startswith("TIMESTAMP") or c in clock)
            kept = ", ".join(_quoted(c) for c, _ in columns if c not in ignored)
            name = _quoted(table)
            counts = con.execute(
                f"""
                SELECT (SELECT count(*) FROM {_LEFT}.{name}), (SELECT count(*) FROM r.{name}),
                  (SELECT count(*) FROM (SELECT {kept} FROM {_LEFT}.{name}
                                         EXCEPT ALL SELECT {kept} FROM r.{name})),
                  (SELECT count(*) FROM (SELECT {kept} FROM r.{name}
                                         EXCEPT ALL SELECT {kept} FROM {_LEFT}.{name}))
                """
            ).fetchall()[0]
            rows_left, rows_right, only_left, only_right = (int(c) for c in counts)
            out.append(
                TableDifference(table, rows_left, rows_right, only_left, only_right, ignored)
            )
    return out
