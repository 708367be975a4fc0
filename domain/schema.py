"""Column layouts of the frames that flow between the stages, as ``pl.Schema``.

Ingest writes records, quarantined rows and per-file counts to Parquet
(hive-partitioned by ``province_code``); matching writes scored pairs; the
register writes PIN events; reviewers write decisions. Every stage and every
test reads the layouts from here, so they agree on names and types.
"""

from __future__ import annotations

import polars as pl

#: Standardised person record, one row per input row loaded as a person.
RECORD_SCHEMA = pl.Schema(
    {
        "record_key": pl.String(),  # f"{province_code}:{local_id}", unique in the registry
        "batch_id": pl.String(),
        "province_code": pl.String(),  # 3-digit code of the folder that sent the row
        "source_file": pl.String(),  # path relative to the batch folder
        "source_sheet": pl.String(),  # XLSX sheet name, else null
        "source_row": pl.Int64(),  # 1-based physical row (line or sheet row) in the file
        "source_encoding": pl.String(),
        "local_id": pl.String(),
        "household_id": pl.String(),
        "relation_to_head": pl.String(),
        "full_name": pl.String(),  # NFC, one tone-placement convention, title case
        "family_name": pl.String(),
        "middle_name": pl.String(),
        "given_name": pl.String(),
        "other_name": pl.String(),
        "date_of_birth": pl.Date(),  # only when known to the day
        "birth_year": pl.Int32(),
        "birth_month": pl.Int8(),
        "birth_day": pl.Int8(),
        "dob_precision": pl.String(),  # day / month / year / unknown
        "dob_placeholder": pl.Boolean(),  # 01/01/yyyy: weak evidence
        "sex": pl.String(),  # M / F / null
        "birth_place": pl.String(),
        "birth_province_code": pl.String(),
        "native_place": pl.String(),
        "ethnicity": pl.String(),
        "religion": pl.String(),
        "nationality": pl.String(),
        "id_number": pl.String(),  # digits only
        "occupation": pl.String(),
        "address": pl.String(),
        "father_name": pl.String(),
        "mother_name": pl.String(),
        "residence_type": pl.String(),
        "registered_on": pl.Date(),
        "flaws": pl.String(),  # ';'-separated flaw codes, null when clean
        "extras": pl.String(),  # JSON object of columns the contract does not name
    }
)

#: A row or a file that could not be loaded.
QUARANTINE_SCHEMA = pl.Schema(
    {
        "batch_id": pl.String(),
        "province_code": pl.String(),
        "source_file": pl.String(),
        "source_sheet": pl.String(),
        "source_row": pl.Int64(),  # null when the whole file is quarantined
        "reason": pl.String(),
        "original_text": pl.String(),
    }
)

#: Per-file accounting: rows_read = rows_loaded + rows_quarantined + rows_skipped.
FILE_COUNT_SCHEMA = pl.Schema(
    {
        "batch_id": pl.String(),
        "province_code": pl.String(),
        "source_file": pl.String(),
        "source_encoding": pl.String(),
        "rows_read": pl.Int64(),
        "rows_loaded": pl.Int64(),
        "rows_quarantined": pl.Int64(),
        "rows_skipped": pl.Int64(),
    }
)


#: A ``match_link`` row: a scored pair kept for the registry (``pairs.parquet``).
LINK_SCHEMA = pl.Schema(
    {
        **{c: pl.String() for c in ("record_key_l", "record_key_r")},
        **{c: pl.String() for c in ("province_code_l", "local_id_l")},
        **{c: pl.String() for c in ("province_code_r", "local_id_r")},
        "match_weight": pl.Float64(),
        "match_probability": pl.Float64(),
        **{c: pl.String() for c in ("decision", "decided_by", "explanation", "batch_id")},
    }
)

#: A change to the PIN register (a ``pin_event`` row without its time).
EVENT_SCHEMA = pl.Schema(
    {
        "event": pl.String(),  # issued / merged / split / cancelled
        "pin": pl.String(),
        "other_pin": pl.String(),
        "person_id": pl.String(),
        "reason": pl.String(),
        "decision_id": pl.Int64(),  # the reviewer's decision that made it, else null
    }
)

#: A reviewer's decision on a pair, as matching takes it.
DECISION_SCHEMA = pl.Schema(
    {
        "record_key_l": pl.String(),
        "record_key_r": pl.String(),
        "same": pl.Boolean(),
    }
)
