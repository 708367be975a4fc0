"""The inbox: which batch folders there are, what they hold, which to load next.

An inbox holds batch folders (``inbox/<batch>/<province>/``), loaded in name
order. A batch folder is named by its date (``pipelines.warehouse.paths``:
``YYYY-MM-DD``, optionally a suffix); other entries, and symbolic links, are
not batches (``stray_entries``). A batch is loaded when the registry's latest
loaded run of it recorded the same file fingerprint (a digest of every file's
path and content; links are hashed as links, never followed). The inbox
check keeps each batch's fingerprint beside its files' sizes and times in
``WAREHOUSE/.inbox-fingerprints.json``, so unchanged batches are not read
again every few minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

from pipelines.warehouse import REGISTRY_FILE, check_batch_name, connect
from pipelines.warehouse.paths import BATCH_PATTERN
from pipelines.warehouse.registry import loaded_fingerprint

_BATCH = re.compile(BATCH_PATTERN)
_CACHE = ".inbox-fingerprints.json"


def batch_folders(inbox: Path) -> list[Path]:
    """Return the batch folders under ``inbox``, or ``[inbox]`` if it is one batch.

    A folder is a batch when it holds province folders (3-digit names); its
    name must then be a batch name (so ``.``, ``..`` and ``batch/001/..`` are
    refused, not resolved). In an inbox, only folders named as batches count;
    links are never followed.

    Raises:
        FileNotFoundError: ``inbox`` is not a folder.
        pipelines.warehouse.UnsafePathError: ``inbox`` is one batch with a name
            that is not a batch name.
    """
    if inbox.is_symlink() or not inbox.is_dir():
        raise FileNotFoundError(f"inbox '{inbox}' is not a folder")
    children = sorted(
        p
        for p in inbox.iterdir()
        if not p.is_symlink() and p.is_dir() and not p.name.startswith(".")
    )
    if any(p.name.isdigit() and len(p.name) == 3 for p in children):
        check_batch_name(inbox.name)
        return [inbox]
    return [p for p in children if _BATCH.match(p.name)]


def stray_entries(inbox: Path) -> list[str]:
    """Entries of an inbox that are not batch folders (not loaded), by name."""
    if any(p.name.isdigit() and len(p.name) == 3 for p in inbox.iterdir()):
        return []
    return sorted(
        p.name
        for p in inbox.iterdir()
        if not p.name.startswith(".")
        and (p.is_symlink() or not p.is_dir() or not _BATCH.match(p.name))
    )


def _entries(batch_dir: Path) -> list[Path]:
    """Every file and link under a batch, without following links."""
    found = []
    for root, dirs, files in os.walk(batch_dir, followlinks=False):
        base = Path(root)
        found += [base / f for f in files]
        found += [base / d for d in dirs if (base / d).is_symlink()]
    return sorted(found)


def batch_fingerprint(batch_dir: Path) -> str:
    """A digest of every file of a batch (path and content; a link by its target text)."""
    digest = hashlib.sha256()
    for path in _entries(batch_dir):
        digest.update(path.relative_to(batch_dir).as_posix().encode() + b"\0")
        if path.is_symlink():
            digest.update(b"link\0" + os.readlink(path).encode("utf-8", "surrogateescape"))
            continue
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def _stat_signature(batch_dir: Path) -> str:
    """A digest of every entry's path, size and modification time (no content read)."""
    digest = hashlib.sha256()
    for path in _entries(batch_dir):
        info = path.lstat()
        digest.update(
            f"{path.relative_to(batch_dir).as_posix()}\0{info.st_size}\0{info.st_mtime_ns}\0".encode()
        )
    return digest.hexdigest()


def cached_fingerprint(batch_dir: Path, warehouse: Path) -> str:
    """``batch_fingerprint``, read again only when a file's size or time changed."""
    cache_path = warehouse / _CACHE
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    signature = _stat_signature(batch_dir)
    name = str(batch_dir.resolve())
    hit = cache.get(name)
    if isinstance(hit, dict) and hit.get("stat") == signature:
        return str(hit["fingerprint"])
    fingerprint = batch_fingerprint(batch_dir)
    cache[name] = {"stat": signature, "fingerprint": fingerprint}
    if warehouse.is_dir():
        tmp = cache_path.with_name(f"{_CACHE}.tmp-{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(cache, handle)
        os.replace(tmp, cache_path)
    return fingerprint


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
    inbox: Path,
    warehouse: Path,
    settle_seconds: float,
    now: float | None = None,
) -> tuple[Path, str] | None:
    """The oldest batch of ``inbox`` not loaded with its current files, and its fingerprint.

    Batches load in order, so only the oldest one is returned; None when all
    are loaded, or when the oldest is still arriving (a file changed less than
    ``settle_seconds`` ago): a later call picks it up.
    """
    now = time.time() if now is None else now
    for batch in batch_folders(inbox):
        fingerprint = cached_fingerprint(batch, warehouse)
        if batch_is_loaded(batch, warehouse, fingerprint):
            continue
        newest = max((p.lstat().st_mtime for p in _entries(batch)), default=0.0)
        return (batch, fingerprint) if now - newest >= settle_seconds else None
    return None
