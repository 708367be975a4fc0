"""Where the pipeline keeps its files, and the rules that keep every path inside.

Layout of a warehouse directory (folders 0700, files 0600)::

    WAREHOUSE/.dancu.lock                       the writers' lock (see lock.py)
    WAREHOUSE/registry.duckdb                   the registry, encrypted (see registry.sql)
    WAREHOUSE/analyst.duckdb                    the analysts' minimised copy (see analyst.sql)
    WAREHOUSE/report.html                       the quality report (for reviewers)
    WAREHOUSE/staging/<batch>/plan.json         the provinces planned and the run's token
    WAREHOUSE/staging/<batch>/records/province_code=<code>/part.parquet
    WAREHOUSE/staging/<batch>/quarantine/province_code=<code>/part.parquet
    WAREHOUSE/staging/<batch>/files/province_code=<code>/part.parquet
    WAREHOUSE/staging/<batch>/match/{pairs,clusters}.parquet
    WAREHOUSE/matching-keys/<fingerprint>/part-*.parquet  matching keys kept between batches

A batch's staging holds plain copies of its records: it is removed once the
batch is loaded, unless ``Retention.keep_staging``.

**Batch names** follow one pattern: a date ``YYYY-MM-DD``, optionally followed
by ``-`` or ``_`` and up to 40 letters or digits (``2021-06-15``,
``2021-06-15_resend2``). Anything else (``..``, ``.``, an absolute path, glob
characters, spaces, control characters) is refused by :func:`check_batch_name`
before any path is made of it, and every derived path is resolved and checked
to stay under the warehouse (:func:`inside`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

REGISTRY_FILE = "registry.duckdb"
ANALYST_FILE = "analyst.duckdb"
REPORT_FILE = "report.html"
LOCK_FILE = ".dancu.lock"
BATCH_PATTERN = r"^\d{4}-\d{2}-\d{2}(?:[-_][A-Za-z0-9]{1,40})?$"
_BATCH = re.compile(BATCH_PATTERN)
_PROVINCE = re.compile(r"^\d{3}$")
_REJECTED = re.compile(r"^rejected-[0-9a-f]{16}$")
_TABLES = frozenset({"records", "quarantine", "files"})


class UnsafePathError(ValueError):
    """A batch name, province or path that could lead outside the warehouse."""


@dataclass(frozen=True)
class Retention:
    """What is kept once a batch is loaded.

    Attributes:
        keep_staging: Keep the batch's staged Parquet (plain copies of its
            records and rejected rows) after a successful load. Off: the
            registry holds them encrypted, so the staging folder is removed.
    """

    keep_staging: bool = False


def check_batch_name(name: str) -> str:
    """Return ``name`` when it is a batch name (a date, optionally a suffix), else raise.

    Raises:
        UnsafePathError: ``..``, ``.``, a path, glob characters or anything not the pattern.
    """
    if not isinstance(name, str) or not _BATCH.match(name):
        raise UnsafePathError(
            f"batch name {name!r} is refused: a batch is named by its date, YYYY-MM-DD, "
            "optionally followed by '-' or '_' and up to 40 letters or digits"
        )
    try:
        dt.date.fromisoformat(name[:10])
    except ValueError as err:
        raise UnsafePathError(f"batch name {name!r} is refused: {name[:10]} is no date") from err
    return name


def check_province_code(code: str) -> str:
    """Return ``code`` when it is three digits (a possible province), else raise."""
    if not isinstance(code, str) or not _PROVINCE.match(code):
        raise UnsafePathError(f"province folder {code!r} is refused: not a 3-digit code")
    return code


def inside(root: Path, path: Path) -> Path:
    """``path`` resolved, when it stays under ``root`` (resolved); else raise."""
    base = root.resolve()
    resolved = path.resolve()
    if resolved != base and not resolved.is_relative_to(base):
        raise UnsafePathError(f"'{path}' resolves to '{resolved}', outside '{base}': refused")
    return resolved


def staging_root(warehouse: Path) -> Path:
    """The staging folder of a warehouse."""
    return inside(warehouse, warehouse / "staging")


def matching_keys_dir(warehouse: Path) -> Path:
    """The folder of the matching keys kept between batches (``matching.keystore``)."""
    return inside(warehouse, warehouse / "matching-keys")


def staging_dir(warehouse: Path, batch_id: str) -> Path:
    """The staging folder of one batch (the name checked, the path kept inside)."""
    root = warehouse / "staging"
    return inside(root, root / check_batch_name(batch_id))


def staging_part(staging: Path, batch_id: str, table: str, province_code: str) -> Path:
    """The Parquet part of one province (or rejected entry) for one staged table."""
    if table not in _TABLES:
        raise UnsafePathError(f"unknown staged table {table!r}")
    if not (_REJECTED.match(province_code) or _PROVINCE.match(province_code)):
        raise UnsafePathError(f"province part {province_code!r} is refused")
    part = staging / check_batch_name(batch_id) / table / f"province_code={province_code}"
    return inside(staging, part) / "part.parquet"


def rejected_part(name: str) -> str:
    """The staging part name of a rejected inbox entry (a digest: its name may be anything)."""
    return "rejected-" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def private_files() -> None:
    """Make all this process writes from now on private (umask 077: files 0600, folders 0700)."""
    os.umask(0o077)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) as private folders; tighten it if it exists."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
