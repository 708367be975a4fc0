"""PIN serials: digits 7-12, FF1 (NIST SP 800-38G) of a per-prefix counter.

The law calls the serial a random range: here serial number *k* of a prefix
is ``FF1-AES(key, tweak=prefix, radix 10)`` of the six digits of *k*, a keyed
permutation of ``000000..999999`` for each prefix. Serials never repeat
within a prefix, are deterministic for the pipeline, and reveal neither the
order of registration nor the next serial to anyone without the key.

FF1 comes from ``libffx`` (module ``ffx``, pinned: its 1.x was another
cipher). For many serials at once :class:`_VectorFF1` computes the same
function over a numpy array (one AES-ECB call per round for all counters);
the tests check it equal to ``libffx`` and ``libffx`` against NIST's samples.

A serial the prefix has already issued (under any key or scheme: an output
listed in ``used``) is skipped and the counter moves on, so a change of key
or scheme can never give a cancelled or retired PIN to someone else.
The digit rules of the other six digits are in :mod:`domain.identity`.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from ffx import FF1

#: Name of the serial construction, stored in the registry beside the key check.
PIN_SCHEME = "ff1-aes-radix10-tweak-prefix-v1"
SERIALS_PER_PREFIX = 1_000_000
_VECTOR_FROM = 10  # below this many serials libffx's scalar calls are faster


class PrefixExhaustedError(RuntimeError):
    """A 6-digit prefix has no serial left; never answered with a duplicate."""


class PinKeyError(ValueError):
    """A PIN key that is not an AES key (16, 24 or 32 bytes)."""


def check_pin_key(key: bytes) -> bytes:
    """Return ``key`` when it is an AES key (16, 24 or 32 bytes), else raise ``PinKeyError``."""
    if len(key) not in (16, 24, 32):
        raise PinKeyError(f"the PIN key must be 16, 24 or 32 bytes (AES), not {len(key)}")
    return key


class _VectorFF1:
    """FF1-AES, radix 10, six digits, for arrays of counters (equal to libffx's FF1).

    With n = 6: u = v = 3, b = 2 bytes, d = 8 bytes, so each of the ten rounds
    is one CBC-MAC over P || Q whose last block alone depends on the counter,
    and y is the first 8 bytes of R (SP 800-38G, Algorithm 7).
    """

    N, U, B = 6, 3, 2

    def __init__(self, key: bytes):
        self._ecb = Cipher(algorithms.AES(check_pin_key(key)), modes.ECB()).encryptor()

    def _mac_state(self, tweak: bytes) -> tuple[np.ndarray, int]:
        """The CBC-MAC state before Q's last block, XORed with that block's fixed bytes."""
        t = len(tweak)
        p = (
            bytes([1, 2, 1, 0, 0, 10, 10, self.U])
            + self.N.to_bytes(4, "big")
            + t.to_bytes(4, "big")
        )
        q_fixed = tweak + bytes((-t - self.B - 1) % 16)  # Q without [i] || NUM(B)
        state = self._ecb.update(p)
        body = ((len(q_fixed) + 1 + self.B) // 16 - 1) * 16
        head, last = q_fixed[:body], q_fixed[body:]
        for j in range(0, len(head), 16):
            state = self._ecb.update(
                bytes(x ^ y for x, y in zip(state, head[j : j + 16], strict=True))
            )
        block = np.frombuffer(state, dtype=np.uint8).copy()
        block[: len(last)] ^= np.frombuffer(last, dtype=np.uint8)
        return block, len(last)

    def encrypt(self, counters: np.ndarray, tweak: bytes) -> np.ndarray:
        x = np.asarray(counters, dtype=np.int64)
        base, at = self._mac_state(tweak)
        a, b = x // 1000, x % 1000
        blocks = np.empty((x.size, 16), dtype=np.uint8)
        for i in range(10):
            blocks[:] = base
            blocks[:, at] ^= i
            blocks[:, at + 1] ^= (b >> 8).astype(np.uint8)
            blocks[:, at + 2] ^= (b & 0xFF).astype(np.uint8)
            r = np.frombuffer(self._ecb.update(blocks.tobytes()), dtype=">u8").reshape(-1, 2)
            y = (r[:, 0] % np.uint64(1000)).astype(np.int64)
            a, b = b, (a + y) % 1000
        return np.asarray(a * 1000 + b, dtype=np.int64)


def ff1_serials(prefix: str, counters: np.ndarray, key: bytes) -> np.ndarray:
    """FF1 of each counter (0..999999) under ``key`` with the prefix as the tweak."""
    tweak = prefix.encode("ascii")
    if counters.size >= _VECTOR_FROM:
        return _VectorFF1(key).encrypt(counters, tweak)
    cipher = FF1(check_pin_key(key), radix=10)
    return np.array(
        [int(cipher.encrypt(f"{int(k):06d}", tweak=tweak)) for k in counters], dtype=np.int64
    )


def serials(
    prefix: str, first: int, count: int, key: bytes, used: Collection[int] = ()
) -> tuple[list[int], int]:
    """Return ``count`` new serials of ``prefix`` and the counter after them.

    Args:
        prefix: the six leading digits (FF1's tweak).
        first: the prefix's counter: how many serials it has drawn before.
        count: how many to issue now.
        key: the register's PIN key (16, 24 or 32 bytes).
        used: serials the prefix has already issued; an output among them is
            skipped (the counter still advances), so no serial is issued twice.

    Raises:
        PrefixExhaustedError: the prefix has fewer than ``count`` serials left.
        PinKeyError: the key is not an AES key.
    """
    check_pin_key(key)
    taken = set(used)
    out: list[int] = []
    counter = first
    while len(out) < count:
        want = count - len(out)
        if counter + want > SERIALS_PER_PREFIX:
            raise PrefixExhaustedError(
                f"PIN prefix {prefix} is exhausted: {counter} serials drawn, {want} more asked, "
                f"{SERIALS_PER_PREFIX} possible"
            )
        drawn = ff1_serials(prefix, np.arange(counter, counter + want, dtype=np.int64), key)
        counter += want
        fresh = [int(s) for s in drawn if int(s) not in taken]
        out += fresh
        taken.update(fresh)
    return out, counter


def make_pins(
    prefix: str, first: int, count: int, key: bytes, used: Collection[int] = ()
) -> tuple[list[str], int]:
    """Return ``count`` new PINs of ``prefix`` and the prefix's counter after them."""
    drawn, counter = serials(prefix, first, count, key, used)
    return [f"{prefix}{s:06d}" for s in drawn], counter
