"""The register's keys: hex or base64 key files, the audit key derived from the PIN key."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dancu.keys import DEMO_KEY_DIR, ENV, REGISTRY_KEY_ENV, KeyFileError, derived_key, load_keys
from pipelines.warehouse import REGISTRY_FILE, connect

DANCU = str(Path(sys.executable).with_name("dancu"))
RAW = bytes(range(32))


def _key_file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


@pytest.mark.unit
def test_a_key_in_hex_and_the_same_key_in_base64_are_one_key(tmp_path: Path) -> None:
    hexed = _key_file(tmp_path, "hex.key", RAW.hex())
    b64 = _key_file(tmp_path, "b64.key", base64.b64encode(RAW).decode())
    from_hex = load_keys({}, environ={ENV["pin"]: str(hexed)})
    from_b64 = load_keys({}, environ={ENV["pin"]: str(b64)})
    assert from_hex.pin == from_b64.pin == RAW
    assert from_hex.pin_check == from_b64.pin_check
    assert from_hex.audit == from_b64.audit
    # 32 hex digits are a 16-byte key (not the 24 bytes their base64 reading would give)
    short = _key_file(tmp_path, "short.key", RAW[:16].hex())
    assert load_keys({}, environ={ENV["pin"]: str(short)}).pin == RAW[:16]


@pytest.mark.unit
def test_an_audit_key_not_given_is_derived_from_the_pin_key(tmp_path: Path) -> None:
    pin = _key_file(tmp_path, "pin.key", RAW.hex())
    keys = load_keys({}, environ={ENV["pin"]: str(pin)})
    assert base64.b64encode(keys.audit).decode() == derived_key(RAW, "audit")
    assert keys.audit != keys.pin
    other = _key_file(tmp_path, "other.key", os.urandom(32).hex())
    assert load_keys({}, environ={ENV["pin"]: str(other)}).audit != keys.audit
    # a key given as its own file wins over the derived one
    given = _key_file(tmp_path, "audit.key", base64.b64encode(os.urandom(32)).decode())
    keys = load_keys({}, environ={ENV["pin"]: str(pin), ENV["audit"]: str(given)})
    assert base64.b64encode(keys.audit).decode() == given.read_text().strip()


@pytest.mark.unit
def test_a_registry_key_is_refused_with_its_reason_not_silently_ignored(tmp_path: Path) -> None:
    pin = _key_file(tmp_path, "pin.key", RAW.hex())
    registry = _key_file(tmp_path, "registry.key", os.urandom(32).hex())
    with pytest.raises(KeyFileError, match=r"writes registry\.duckdb unencrypted"):
        load_keys({}, environ={ENV["pin"]: str(pin), REGISTRY_KEY_ENV: str(registry)})
    with pytest.raises(KeyFileError, match="encrypted volume"):
        load_keys({"registry": registry}, environ={ENV["pin"]: str(pin)})


@pytest.mark.unit
def test_without_a_pin_key_nothing_is_derived_and_malformed_keys_are_refused(
    tmp_path: Path,
) -> None:
    audit = _key_file(tmp_path, "audit.key", base64.b64encode(RAW).decode())
    with pytest.raises(KeyFileError, match="no pin key"):
        load_keys({}, environ={ENV["audit"]: str(audit)})
    bad = _key_file(tmp_path, "bad.key", "not a key!")
    with pytest.raises(KeyFileError, match="neither hex nor base64"):
        load_keys({}, environ={ENV["pin"]: str(bad)})
    odd = _key_file(tmp_path, "odd.key", RAW[:20].hex())  # 40 hex digits: read as base64, 30 bytes
    with pytest.raises(KeyFileError, match="FF1-AES needs 16, 24 or 32"):
        load_keys({}, environ={ENV["pin"]: str(odd)})


@pytest.mark.unit
def test_the_demo_pin_key_written_in_hex_is_still_the_demo_key(tmp_path: Path) -> None:
    demo = base64.b64decode((DEMO_KEY_DIR / "pin.key").read_text().strip())
    hexed = _key_file(tmp_path, "pin.key", demo.hex())
    with pytest.raises(KeyFileError, match="public demo key"):
        load_keys({}, environ={ENV["pin"]: str(hexed)})
    assert load_keys({}, demo=True, environ={ENV["pin"]: str(hexed)}).pin == demo


def test_a_run_given_only_a_hex_pin_key_loads_and_its_audit_chain_verifies(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANCU_")}
    env[ENV["pin"]] = str(_key_file(tmp_path, "pin.key", os.urandom(32).hex()))

    def dancu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DANCU, *args], capture_output=True, text=True, timeout=600, env=env)

    made = dancu("generate", "--persons", "40", "--seed", "5", "--out", str(tmp_path / "g"))
    assert made.returncode == 0, made.stderr
    warehouse = tmp_path / "w"
    ran = dancu("run", "--inbox", str(tmp_path / "g" / "inbox"), "--warehouse", str(warehouse))
    assert ran.returncode == 0, ran.stderr
    with connect(warehouse / REGISTRY_FILE, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM person").fetchall()[0][0] > 0
    assert (warehouse / REGISTRY_FILE).stat().st_mode & 0o077 == 0
    out = tmp_path / "audit.key"
    derived = dancu("keys", "derive", "audit", "--out", str(out))
    assert derived.returncode == 0, derived.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    again = dancu("keys", "derive", "audit", "--out", str(out))
    assert again.returncode == 1 and "FileExistsError" in again.stderr  # never overwritten
    verified = dancu("audit", "verify", "--warehouse", str(warehouse))
    assert verified.returncode == 0, verified.stderr
    # the derived key, given as its own file, is the same key: the chain still verifies
    env[ENV["audit"]] = str(out)
    verified = dancu("audit", "verify", "--warehouse", str(warehouse))
    assert verified.returncode == 0, verified.stderr
