"""Compare two registries table by table: are two runs' outcomes the same?

Two runs of the same batches (``dancu run`` and the DAG on Celery workers, or
matching split into more or fewer partitions) must give the same registry:
the same rows in every table, PINs included. Only wall-clock values may differ:
every ``TIMESTAMP`` column (a run's start and end, a PIN event's time, a
decision's time) and the run's id, which is derived from its start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

#: Columns that are not TIMESTAMP but hold the wall clock all the same.
_CLOCK_COLUMNS = {"run": {"run_id"}}


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
    """
    with duckdb.connect() as con:
        con.execute(f"ATTACH {_literal(str(left))} AS l (READ_ONLY)")
        con.execute(f"ATTACH {_literal(str(right))} AS r (READ_ONLY)")
        tables = {
            side: {
                name
                for (name,) in con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [side]
                ).fetchall()
            }
            for side in ("l", "r")
        }
        out = []
        for table in sorted(tables["l"] | tables["r"]):
            if table not in tables["l"] or table not in tables["r"]:
                side = "l" if table in tables["l"] else "r"
                rows = con.execute(f"SELECT count(*) FROM {side}.{_quoted(table)}").fetchall()[0][0]
                left_rows, right_rows = (rows, 0) if side == "l" else (0, rows)
                out.append(TableDifference(table, left_rows, right_rows, left_rows, right_rows, ()))
                continue
            columns = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = 'l' AND table_name = ? ORDER BY column_index",
                [table],
            ).fetchall()
            clock = _CLOCK_COLUMNS.get(table, set())
            ignored = tuple(c for c, kind in columns if kind.startswith("TIMESTAMP") or c in clock)
            kept = ", ".join(_quoted(c) for c, _ in columns if c not in ignored)
            name = _quoted(table)
            counts = con.execute(
                f"""
                SELECT (SELECT count(*) FROM l.{name}), (SELECT count(*) FROM r.{name}),
                  (SELECT count(*) FROM (SELECT {kept} FROM l.{name}
                                         EXCEPT ALL SELECT {kept} FROM r.{name})),
                  (SELECT count(*) FROM (SELECT {kept} FROM r.{name}
                                         EXCEPT ALL SELECT {kept} FROM l.{name}))
                """
            ).fetchall()[0]
            rows_left, rows_right, only_left, only_right = (int(c) for c in counts)
            out.append(
                TableDifference(table, rows_left, rows_right, only_left, only_right, ignored)
            )
    return out


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
