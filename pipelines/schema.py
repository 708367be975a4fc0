"""Column layout of the standardised records that flow between the stages.

Ingest writes these columns to Parquet (hive-partitioned by ``province_code``);
matching, PIN assignment and loading read them. Keeping the layout in one
place lets every stage and every test agree on names and types.
"""

from __future__ import annotations

import polars as pl

#: Standardised person record, one row per input row loaded as a person.
RECORD_SCHEMA: dict[str, pl.DataType] = {
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

#: A row or a file that could not be loaded.
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "batch_id": pl.String(),
    "province_code": pl.String(),
    "source_file": pl.String(),
    "source_sheet": pl.String(),
    "source_row": pl.Int64(),  # null when the whole file is quarantined
    "reason": pl.String(),
    "original_text": pl.String(),
}

#: Per-file accounting: rows_read = rows_loaded + rows_quarantined + rows_skipped.
FILE_COUNT_SCHEMA: dict[str, pl.DataType] = {
    "batch_id": pl.String(),
    "province_code": pl.String(),
    "source_file": pl.String(),
    "source_encoding": pl.String(),
    "rows_read": pl.Int64(),
    "rows_loaded": pl.Int64(),
    "rows_quarantined": pl.Int64(),
    "rows_skipped": pl.Int64(),
}


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Return an empty frame with ``schema``."""
    return pl.DataFrame(schema=schema)
