"""Which records a batch run works on: new, re-sent, changed, and the registered rest.

A batch brings records; some are new, some re-sent (the same ``record_key``
as a registered record). A re-sent record that differs only in lineage
carries no new evidence and keeps its person; one that changed is matched
afresh. An older batch loaded again never overwrites what a newer batch sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from domain.schema import RECORD_SCHEMA

#: Lineage columns: a record re-sent with only these different carries no new evidence.
_LINEAGE = ("batch_id", "source_file", "source_sheet", "source_row", "source_encoding")


@dataclass(frozen=True)
class Scope:
    """The records a batch run works on.

    Attributes:
        records: Registered records with the batch's fresh ones in their place.
        fresh: The batch's records to load: new ones, and re-sent ones unless
            a newer batch already sent them (an older batch loaded again does
            not overwrite what a newer batch sent).
        changed: The fresh records to match: new, or re-sent with a change
            other than lineage. A record re-sent unchanged keeps its person.
    """

    records: pl.DataFrame
    fresh: pl.DataFrame
    changed: pl.DataFrame


def batch_scope(registered: pl.DataFrame, new: pl.DataFrame) -> Scope:
    """Split a batch's records against the registered ones (see ``Scope``)."""
    newer = registered.select("record_key", pl.col("batch_id").alias("registered_batch"))
    fresh = (
        new.join(newer, on="record_key", how="left")
        .filter(
            pl.col("registered_batch").is_null()
            | (pl.col("registered_batch") <= pl.col("batch_id"))
        )
        .drop("registered_batch")
    )
    content = [c for c in RECORD_SCHEMA if c not in _LINEAGE]
    unchanged = fresh.select(content).join(
        registered.select(content), on=content, how="semi", nulls_equal=True
    )
    changed = fresh.join(unchanged.select("record_key"), on="record_key", how="anti")
    kept = registered.join(fresh.select("record_key"), on="record_key", how="anti")
    return Scope(pl.concat([kept, fresh]).sort("record_key"), fresh, changed)
