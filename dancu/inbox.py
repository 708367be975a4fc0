"""The inbox: which batch folders there are, what they hold, which to load next.

An inbox holds batch folders (``inbox/<batch>/<province>/``), loaded in name
order. A batch is loaded when the registry's latest loaded run of it
recorded the same file fingerprint (a digest of every file's path and
content).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from pipelines.warehouse import REGISTRY_FILE, connect
from pipelines.warehouse.registry import loaded_fingerprint


def batch_folders(inbox: Path) -> list[Path]:
    """Return the batch folders under ``inbox``, or ``[inbox]`` if it is one batch.

    A folder is a batch when it holds province folders (3-digit names).
    """
    if not inbox.is_dir():
        raise FileNotFoundError(f"inbox '{inbox}' is not a folder")
    children = sorted(p for p in inbox.iterdir() if p.is_dir() and not p.name.startswith("."))
    if any(p.name.isdigit() and len(p.name) == 3 for p in children):
        return [inbox]
    return children


def batch_fingerprint(batch_dir: Path) -> str:
    """A digest of every file of a batch (path and content)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in batch_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(batch_dir).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def batch_is_loaded(batch_dir: Path, warehouse: Path, fingerprint: str | None = None) -> bool:
    """True when the registry already holds this batch with exactly these files.

    ``fingerprint`` is the batch's ``batch_fingerprint`` when the caller has it.
    """
    registry = warehouse / REGISTRY_FILE
    if not registry.exists():
        return False
    with connect(registry, read_only=True) as con:
        found = loaded_fingerprint(con, batch_dir.name)
    return found is not None and found == (fingerprint or batch_fingerprint(batch_dir))


def next_batch_to_load(
    inbox: Path, warehouse: Path, settle_seconds: float, now: float | None = None
) -> tuple[Path, str] | None:
    """The oldest batch of ``inbox`` not loaded with its current files, and its fingerprint.

    Batches load in order, so only the oldest one is returned; None when all
    are loaded, or when the oldest is still arriving (a file changed less than
    ``settle_seconds`` ago): a later call picks it up.
    """
    now = time.time() if now is None else now
    for batch in batch_folders(inbox):
        fingerprint = batch_fingerprint(batch)
        if batch_is_loaded(batch, warehouse, fingerprint):
            continue
        newest = max((p.stat().st_mtime for p in batch.rglob("*")), default=0.0)
        return (batch, fingerprint) if now - newest >= settle_seconds else None
    return None
