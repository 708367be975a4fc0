"""Matching keys kept between batches: the same prepared records, derived only once."""

from __future__ import annotations

import ast
import stat
from pathlib import Path

import polars as pl
import pytest

from matching import keystore
from matching.keystore import KeyStore
from matching.prepare import prepare_records
from synth.records import synthetic_records

pytestmark = pytest.mark.unit


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_prepares_what_prepare_records_does_and_derives_each_record_once(
    tmp_path: Path,
) -> None:
    records, _ = synthetic_records(1200, seed=8)
    first, later = records.head(900), records.tail(records.height - 900)
    store = KeyStore(tmp_path / "keys")

    prepared, counts = store.prepare(first)
    assert prepared.equals(prepare_records(first))
    assert counts == {"reused": 0, "derived": 900}

    # A later batch: the registered records, two of them changed, and new ones.
    changed = first.with_columns(
        given_name=pl.when(pl.int_range(pl.len()) < 2)
        .then(pl.lit("Khác"))
        .otherwise(pl.col("given_name"))
    )
    scope = pl.concat([changed, later]).sample(fraction=1.0, shuffle=True, seed=3)
    prepared, counts = store.prepare(scope)
    assert prepared.equals(prepare_records(scope))
    assert counts == {"reused": 898, "derived": 2 + later.height}
    # Prepared again as it is: nothing left to derive, nothing written.
    parts = sorted(store.folder.iterdir())
    prepared, counts = store.prepare(scope)
    assert prepared.equals(prepare_records(scope))
    assert counts == {"reused": scope.height, "derived": 0}
    assert sorted(store.folder.iterdir()) == parts

    assert _mode(store.root) == 0o700 and _mode(store.folder) == 0o700
    assert all(_mode(p) == 0o600 for p in parts)


def test_the_store_is_rewritten_when_replaced_rows_outnumber_the_live_ones(
    tmp_path: Path,
) -> None:
    records, _ = synthetic_records(300, seed=9)
    store = KeyStore(tmp_path / "keys")
    for round_ in range(4):  # every record changes every time
        scope = records.with_columns(occupation=pl.lit(f"nghề {round_}"))
        prepared, counts = store.prepare(scope)
        assert counts["derived"] == records.height
        assert prepared.equals(prepare_records(scope))
        held = sum(pl.read_parquet(p).height for p in store.folder.glob("part-*.parquet"))
        assert held <= 2 * records.height


def test_another_derivation_s_store_is_not_read_and_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records, _ = synthetic_records(200, seed=10)
    old = KeyStore(tmp_path / "keys")
    old.prepare(records)
    # The code that derives the keys changed: the old rows must not be reused.
    monkeypatch.setattr(keystore, "derivation_fingerprint", lambda: "another-version")
    new = KeyStore(tmp_path / "keys")
    prepared, counts = new.prepare(records)
    assert counts == {"reused": 0, "derived": records.height}
    assert prepared.equals(prepare_records(records))
    assert not old.folder.exists()


def test_the_fingerprint_covers_every_module_the_derivation_imports() -> None:
    """The fingerprint hashes prepare.py, _text.py and domain/: nothing else may feed them."""
    here = Path(keystore.__file__).parent
    for source in ("prepare.py", "_text.py"):
        tree = ast.parse((here / source).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                assert node.module in {"__future__", "matching._text"} or top in {
                    "domain",
                    "polars",
                }, (source, node.module)
            elif isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] in {"polars"} for a in node.names), source
