"""The review workspace's users: a file of names and scrypt password hashes.

One user per line, ``name:scrypt:N:r:p:salt:hash`` (salt and hash in
base64). The file is written atomically with mode 0600 by ``dancu review
user add``; the workspace only reads it. scrypt (RFC 7914, Python's
``hashlib.scrypt``) with N = 2**15, r = 8, p = 1, a 16-byte random salt and a
32-byte key; a password is checked in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_N, _R, _P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD = 10


class UserError(ValueError):
    """A user name or password the workspace does not accept."""


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32
    )


class Users:
    """The users file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        found = {}
        for line in self.path.read_text("utf-8").splitlines():
            if line.strip():
                name, _, rest = line.partition(":")
                found[name] = rest
        return found

    def names(self) -> list[str]:
        """The user names, sorted."""
        return sorted(self._read())

    def set_password(self, name: str, password: str) -> None:
        """Add ``name`` or change its password.

        Raises:
            UserError: A name that is not 1-64 letters, digits, ``.``, ``_``
                or ``-``, or a password shorter than ``MIN_PASSWORD``.
        """
        if not _NAME.match(name):
            raise UserError("a user name is 1-64 letters, digits, '.', '_' or '-'")
        if len(password) < MIN_PASSWORD:
            raise UserError(f"a password has at least {MIN_PASSWORD} characters")
        salt = secrets.token_bytes(16)
        digest = _hash(password, salt, _N, _R, _P)
        users = self._read()
        users[name] = ":".join(
            [
                "scrypt",
                str(_N),
                str(_R),
                str(_P),
                base64.b64encode(salt).decode(),
                base64.b64encode(digest).decode(),
            ]
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.writelines(f"{n}:{h}\n" for n, h in sorted(users.items()))
        os.replace(tmp, self.path)

    def check(self, name: str, password: str) -> bool:
        """Say whether ``password`` is ``name``'s (False for an unknown name)."""
        stored = self._read().get(name)
        if stored is None:
            # Spend the same time as for a known name, so names cannot be probed.
            _hash(password, b"\0" * 16, _N, _R, _P)
            return False
        scheme, n, r, p, salt, digest = stored.split(":")
        if scheme != "scrypt":
            return False
        got = _hash(password, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(got, base64.b64decode(digest))
