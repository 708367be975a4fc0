"""Ingest: legacy export files of one province folder into standardised Parquet.

``ingest_province(batch_dir, code, staging, limits)`` reads every file of a
province folder (``readers``: formats and encodings), finds each table's
header (``headers``), sorts rows into persons, quarantined rows and junk
(``rows``, ``quarantine``) and standardises the persons (``standardise``,
``dates``). One path, piece by piece, whatever the size (``province``).
"""

from pipelines.ingest.province import (
    IngestSummary,
    UnknownProvinceError,
    batch_reference_date,
    check_province_folder,
    ingest_province,
    ingest_provinces,
)
from pipelines.ingest.quarantine import rejected_folder
from pipelines.ingest.readers import ReadLimits, UnreadableFileError

__all__ = [
    "IngestSummary",
    "ReadLimits",
    "UnknownProvinceError",
    "UnreadableFileError",
    "batch_reference_date",
    "check_province_folder",
    "ingest_province",
    "ingest_provinces",
    "rejected_folder",
]
