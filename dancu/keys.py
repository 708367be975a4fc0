"""The register's two secrets: where they come from, what they must look like.

- **pin**: the FF1 key of the PIN serials (16, 24 or 32 bytes);
- **audit**: the HMAC key of the audit chain (at least 16 bytes).

Each is one line of text in a key file, written in hex (``openssl rand -hex 32``)
or base64 (``openssl rand -base64 32``): a line of 32, 48 or 64 hex digits is
read as hex, anything else as base64. Keys are found in this order: a value
handed over by Airflow's secrets backend (the DAG: Variables
``dancu_secret_pin_key``, ``dancu_secret_audit_key``), the file named by
``DANCU_PIN_KEY_FILE`` / ``DANCU_AUDIT_KEY_FILE``, the file named in the
settings (``[pin] key_file``, ``[audit] key_file``).

The PIN key has no default: without it a run does not start. The audit key,
when not given, is derived from the PIN key (HMAC-SHA256 under its own label,
one way: whoever holds it cannot compute the PIN key); give it as its own file
so that auditors who verify the chain never hold what computes PINs
(``dancu keys derive audit`` writes the derived one to a 0600 file).

The registry itself is not encrypted by DuckDB (docs/security.md says why and
what protects it instead): a registry key (``DANCU_DB_KEY_FILE``, ``[registry]
key_file``) is refused with that explanation rather than silently ignored.

The public demo keys of ``data/demo-keys/`` are used only when asked for
(``demo=True``: ``dancu run --demo``, the DAG's ``demo`` param), and a demo
key found anywhere else is refused unless asked for: it is recognised by its
check value, never by its path.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

KINDS = ("pin", "audit")
ENV = {"pin": "DANCU_PIN_KEY_FILE", "audit": "DANCU_AUDIT_KEY_FILE"}
#: Where a registry (database-encryption) key would be named; refused, see above.
REGISTRY_KEY_ENV = "DANCU_DB_KEY_FILE"
#: Airflow Variable names (their "secret" makes Airflow mask the values in logs).
AIRFLOW_VARIABLES = {kind: f"dancu_secret_{kind}_key" for kind in KINDS}
DEMO_KEY_DIR = Path(__file__).resolve().parent.parent / "data" / "demo-keys"
#: Check values of the public demo keys (not the keys: they are in DEMO_KEY_DIR).
DEMO_KEY_CHECKS = {"pin": "d5395180a530bfab", "audit": "39174852490842d9"}
_MIN_BYTES = {"pin": 16, "audit": 16}
#: A key line read as hex rather than base64: 16, 24 or 32 bytes in hex digits.
_HEX_KEY = re.compile(r"(?:[0-9a-fA-F]{32}){1,2}|[0-9a-fA-F]{48}")
#: Labels of the keys derived from the PIN key when not given.
_DERIVED_LABEL = {"audit": b"dancu audit key v1"}


class KeyFileError(ValueError):
    """A key that is missing, malformed, a demo key where none is allowed, or world-readable."""


def key_check(text: str) -> str:
    """A key's check value: HMAC-SHA256(key text, 'dancu key check v1'), 16 hex digits."""
    return hmac.new(text.encode(), b"dancu key check v1", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True, repr=False)
class Keys:
    """The two secrets of a run (``repr`` never shows them)."""

    pin: bytes
    audit: bytes
    demo: bool = False

    def __repr__(self) -> str:
        return f"Keys(pin={self.pin_check}, audit={self.audit_check}, demo={self.demo})"

    @property
    def pin_check(self) -> str:
        """Check value of the PIN key (stored in the registry)."""
        return key_check(base64.b64encode(self.pin).decode())

    @property
    def pseudonym(self) -> bytes:
        """The key of the analysts' person pseudonyms, derived from the PIN key (HMAC-SHA256)."""
        return hmac.new(self.pin, b"dancu analyst pseudonym v1", hashlib.sha256).digest()

    @property
    def audit_check(self) -> str:
        """Check value of the audit key (stored in the registry)."""
        return key_check(base64.b64encode(self.audit).decode())


def _decode(kind: str, text: str, where: str) -> bytes:
    if _HEX_KEY.fullmatch(text):
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise KeyFileError(f"the {kind} key in {where} is neither hex nor base64 text") from err
    if len(raw) < _MIN_BYTES[kind]:
        raise KeyFileError(
            f"the {kind} key in {where} holds {len(raw)} bytes; at least 16 are needed"
        )
    if kind == "pin" and len(raw) not in (16, 24, 32):
        raise KeyFileError(
            f"the pin key in {where} holds {len(raw)} bytes; FF1-AES needs 16, 24 or 32"
        )
    return raw


def read_key_file(path: Path) -> str:
    """The key text of a key file; refused when others may read or write it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as err:
        raise KeyFileError(f"key file '{path}' does not exist") from err
    if not stat.S_ISREG(mode):
        raise KeyFileError(f"key file '{path}' is not a regular file")
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if mode & 0o007 and key_check(text) not in DEMO_KEY_CHECKS.values():
        raise KeyFileError(f"key file '{path}' is readable or writable by others (chmod 600 it)")
    return text


def derived_key(pin: bytes, kind: str) -> str:
    """The audit key derived from the PIN key, as base64 text."""
    return base64.b64encode(hmac.new(pin, _DERIVED_LABEL[kind], hashlib.sha256).digest()).decode()


def _is_demo(kind: str, text: str) -> bool:
    """Whether ``text`` is the public demo key of ``kind``, in whatever form it is written."""
    if key_check(text) == DEMO_KEY_CHECKS[kind]:
        return True
    if _HEX_KEY.fullmatch(text):
        return key_check(base64.b64encode(bytes.fromhex(text)).decode()) == DEMO_KEY_CHECKS[kind]
    return False


def load_keys(
    files: Mapping[str, Path | None],
    *,
    demo: bool = False,
    values: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Keys:
    """Find, read and check the three keys.

    Args:
        files: the key files named in the settings, by kind (None: not named).
        demo: allow the public demo keys, and use them for any key not given.
            Without ``demo``, an audit key not given is derived from the PIN key.
        values: key texts from a secrets backend (Airflow), by kind.
        environ: the environment (``os.environ`` when None).

    Raises:
        KeyFileError: a key is missing or malformed, or is a demo key without ``demo``.
    """
    environ = os.environ if environ is None else environ
    if environ.get(REGISTRY_KEY_ENV) or files.get("registry") is not None:
        raise KeyFileError(
            f"a registry key is given ({REGISTRY_KEY_ENV} or [registry] key_file), but this "
            "dancu writes registry.duckdb unencrypted (DuckDB 2.0 cannot write its encryption "
            "safely without the httpfs extension, which is not packaged for it): keep the "
            "warehouse on an encrypted volume and unset the registry key (docs/security.md)"
        )
    texts: dict[str, tuple[str, str]] = {}
    for kind in KINDS:
        given = (values or {}).get(kind)
        if given:
            texts[kind] = (given.strip(), f"Airflow variable {AIRFLOW_VARIABLES[kind]}")
        elif environ.get(ENV[kind]):
            path = Path(environ[ENV[kind]])
            texts[kind] = (read_key_file(path), f"{ENV[kind]}={path}")
        elif files.get(kind) is not None:
            path = Path(files[kind])  # type: ignore[arg-type]
            texts[kind] = (read_key_file(path), f"key file {path}")
        elif demo:
            path = DEMO_KEY_DIR / f"{kind}.key"
            texts[kind] = (read_key_file(path), f"the demo key {path}")
        elif kind == "pin":
            raise KeyFileError(
                f"no {kind} key: set {ENV[kind]} or [{kind}] key_file in the settings "
                f"(--demo uses the public demo keys, for the bundled samples only)"
            )
    for kind, (text, where) in texts.items():
        if not demo and _is_demo(kind, text):
            raise KeyFileError(
                f"the {kind} key ({where}) is the public demo key: refused without --demo"
            )
    pin = _decode("pin", *texts["pin"])
    if "audit" not in texts:
        texts["audit"] = (derived_key(pin, "audit"), "derived from the PIN key")
    return Keys(pin=pin, audit=_decode("audit", *texts["audit"]), demo=demo)
