"""Prepared matching keys kept between batches, so a batch derives the keys of its own records.

Deriving a record's keys (``matching.prepare.derive_keys``: folded, phonetic
and variant names, date and number keys) is the costly part of preparing the
records, and it is row by row: a record's keys depend on that record alone.
A ``KeyStore`` keeps the derived rows of every record it prepared, in a
folder beside the registry, each row under its ``record_key`` and a 128-bit
hash of the record's content. ``prepare`` then derives only the records the
store does not hold as they are now (a new or changed record), and numbers
and counts over all of them (``number_records``), as ``prepare_records``
does: the result is the same, only cheaper.

The store holds what one version of the derivation made: its folder is named
by a fingerprint of the code that derives the keys (``matching.prepare``,
``matching._text``, the ``domain`` package) and of the Polars version (whose
row hash is only stable within a version). Other versions' folders are
removed. A store is a cache: deleting it changes nothing but time.

Each ``prepare`` writes the rows it derived as a new part (0600, in a 0700
folder: they hold personal data); when the stored rows are more than twice
the records prepared (replaced records), the store is rewritten as one part.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import polars as pl

from domain.schema import RECORD_SCHEMA
from matching.prepare import derive_keys, number_records

_HASH = ("_content_a", "_content_b")
_SEEDS = (0x6461_6E63, 0x7573_6B65)


def derivation_fingerprint() -> str:
    """A fingerprint of the code that derives matching keys, and of the Polars version."""
    here = Path(__file__).resolve().parent
    domain = here.parent / "domain"
    sources = [here / "prepare.py", here / "_text.py"]
    sources += sorted(p for p in domain.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    digest = hashlib.sha256(pl.__version__.encode())
    for path in sources:
        digest.update(path.relative_to(here.parent).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def _content_hashes(records: pl.DataFrame) -> pl.DataFrame:
    """``record_key`` and two 64-bit hashes of each record's content (every schema column)."""
    content = records.select(pl.col(c).cast(t) for c, t in RECORD_SCHEMA.items())
    return pl.DataFrame(
        {
            "record_key": content["record_key"],
            _HASH[0]: content.hash_rows(seed=_SEEDS[0]),
            _HASH[1]: content.hash_rows(seed=_SEEDS[1]),
        }
    )


class KeyStore:
    """The derived keys of records prepared before, in ``folder``."""

    def __init__(self, folder: Path) -> None:
        """Use (and create on first write) the store in ``folder``."""
        self.root = folder
        self.folder = folder / derivation_fingerprint()

    def _parts(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("part-*.parquet"))

    def prepare(self, records: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
        """``prepare_records(records)``, deriving only what the store lacks; store what was derived.

        Returns:
            The prepared records, and counts: ``reused`` and ``derived`` rows.
        """
        hashes = _content_hashes(records)
        parts = self._parts()
        stored = None
        if parts:
            stored = pl.read_parquet(parts).join(hashes, on=["record_key", *_HASH], how="semi")
            if stored["record_key"].is_duplicated().any():  # a rewrite cut short: equal rows
                stored = stored.unique("record_key", keep="any")
        missing = hashes if stored is None else hashes.join(stored, on="record_key", how="anti")
        fresh = derive_keys(
            records.join(missing.select("record_key"), on="record_key", how="semi")
        ).join(missing, on="record_key", how="left")
        rows = fresh if stored is None else pl.concat([stored, fresh.select(stored.columns)])
        if fresh.height:
            self._store(fresh, rows, parts)
        reused = rows.height - fresh.height
        return number_records(rows.drop(_HASH)), {"reused": reused, "derived": fresh.height}

    def _store(self, fresh: pl.DataFrame, rows: pl.DataFrame, parts: list[Path]) -> None:
        """Add ``fresh`` as a part; write ``rows`` alone when stale rows would outnumber them."""
        for other in self.root.iterdir() if self.root.is_dir() else ():
            if other != self.folder:
                shutil.rmtree(other, ignore_errors=True)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        held = sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in parts)
        if held + fresh.height <= 2 * rows.height:
            last = int(parts[-1].stem.removeprefix("part-")) if parts else -1
            self._write(fresh, last + 1)
            return
        self._write(rows, 0)
        for part in parts:
            if part.name != "part-000000.parquet":
                part.unlink()

    def _write(self, frame: pl.DataFrame, number: int) -> None:
        path = self.folder / f"part-{number:06d}.parquet"
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            frame.write_parquet(tmp, compression="zstd")
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
