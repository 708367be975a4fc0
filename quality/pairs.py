"""Pairs in doubt, read for a reviewer: both records whole, the explanation in rows.

Shared by the quality report and the review workspace. Each function takes
an open connection to the registry (the caller decides how long it holds
it) and returns plain data: ``ReviewPair``s with both records as dicts, the
per-field rows and the waterfall's prior (``quality.explain``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from quality.explain import FieldRow, explain_pair, prior_weight

if TYPE_CHECKING:
    import duckdb

#: The record columns a reviewer sees.
RECORD_FIELDS = (
    "record_key",
    "person_id",
    "pin",
    "full_name",
    "family_name",
    "middle_name",
    "given_name",
    "date_of_birth",
    "birth_year",
    "birth_month",
    "birth_day",
    "sex",
    "province_code",
    "birth_province_code",
    "id_number",
    "household_id",
    "relation_to_head",
    "father_name",
    "mother_name",
    "ethnicity",
    "religion",
    "occupation",
    "address",
    "batch_id",
    "source_file",
    "source_sheet",
    "source_row",
)


@dataclass(frozen=True)
class ReviewPair:
    """One pair with everything a reviewer needs to decide it."""

    record_key_l: str
    record_key_r: str
    match_weight: float
    match_probability: float
    decision: str
    decided_by: str
    batch_id: str
    left: dict[str, Any]
    right: dict[str, Any]
    rows: list[FieldRow]
    prior: float


def _models(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT batch_id, parameters FROM match_model").fetchall())


def review_pairs(
    con: duckdb.DuckDBPyConnection,
    keys: list[tuple[str, str]] | None = None,
    *,
    limit: int | None = None,
) -> list[ReviewPair]:
    """The queued pairs (or the pairs ``keys``, queued or not), highest weight first.

    Args:
        con: Connection to the registry.
        keys: ``(record_key_l, record_key_r)`` pairs to read; None: the review queue.
        limit: At most this many pairs.
    """
    fields = ", ".join(f"l.{f} AS l_{f}, r.{f} AS r_{f}" for f in RECORD_FIELDS)
    params: list[Any] = []
    if keys is None:
        queued = "JOIN review_queue AS q USING (record_key_l, record_key_r)"
        where = "true"
    else:
        if not keys:
            return []
        queued = ""
        where = "list_contains(?, m.record_key_l || chr(31) || m.record_key_r)"
        params.append([f"{a}\x1f{b}" for a, b in keys])
    cursor = con.execute(
        f"""
        SELECT m.record_key_l, m.record_key_r, m.match_weight, m.match_probability, m.decision,
               m.decided_by, m.batch_id, m.explanation, {fields}
        FROM match_link AS m
        {queued}
        JOIN source_record AS l ON l.record_key = m.record_key_l
        JOIN source_record AS r ON r.record_key = m.record_key_r
        WHERE {where}
        ORDER BY m.match_weight DESC NULLS LAST, m.record_key_l, m.record_key_r
        {"" if limit is None else f"LIMIT {int(limit)}"}
        """,
        params,
    )
    names = [d[0] for d in cursor.description]
    found = cursor.fetchall()
    models = _models(con)
    out = []
    for row in found:
        rec = dict(zip(names, row, strict=True))
        model = models.get(rec["batch_id"])
        out.append(
            ReviewPair(
                record_key_l=rec["record_key_l"],
                record_key_r=rec["record_key_r"],
                match_weight=rec["match_weight"] or 0.0,
                match_probability=rec["match_probability"] or 0.0,
                decision=rec["decision"],
                decided_by=rec["decided_by"],
                batch_id=rec["batch_id"],
                left={f: rec[f"l_{f}"] for f in RECORD_FIELDS},
                right={f: rec[f"r_{f}"] for f in RECORD_FIELDS},
                rows=explain_pair(rec["explanation"], model),
                prior=prior_weight(model),
            )
        )
    return out


def households(con: duckdb.DuckDBPyConnection, record_key: str) -> list[dict[str, Any]]:
    """The members of the household of ``record_key`` in its province's register."""
    cursor = con.execute(
        """
        SELECT s.record_key, s.full_name, s.relation_to_head, s.date_of_birth, s.birth_year,
               s.birth_month, s.birth_day, s.sex, s.pin, s.person_id
        FROM source_record AS s
        JOIN source_record AS me
          ON me.record_key = ? AND s.province_code = me.province_code
         AND s.household_id = me.household_id
        ORDER BY (s.record_key = me.record_key) DESC, s.source_row, s.record_key
        """,
        [record_key],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
