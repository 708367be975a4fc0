"""PIN serials: digits 7-12, a keyed permutation of a per-prefix counter.

The law calls the serial a random range: here serial number *k* of a prefix
is a keyed pseudo-random permutation of ``0..999999`` evaluated at *k*, so
serials never repeat within a prefix, are deterministic for the pipeline, and
do not reveal the order of registration to anyone without the key. The digit
rules of the other six digits are in :mod:`domain.identity`.
"""

from __future__ import annotations

import hashlib

import numpy as np

SERIALS_PER_PREFIX = 1_000_000
_HALF_BITS = 10  # Feistel over 20 bits (1,048,576 >= 1,000,000), cycle-walking
_HALF_MASK = (1 << _HALF_BITS) - 1
_ROUNDS = 6


class PrefixExhaustedError(RuntimeError):
    """A 6-digit prefix has no serial left; never answered with a duplicate."""


def _round_keys(key: bytes, prefix: str) -> np.ndarray:
    digest = hashlib.blake2b(prefix.encode(), key=key[:64], digest_size=8 * _ROUNDS).digest()
    return np.frombuffer(digest, dtype=np.uint64).copy()


def _feistel(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    left = (values >> np.uint64(_HALF_BITS)) & np.uint64(_HALF_MASK)
    right = values & np.uint64(_HALF_MASK)
    for k in keys:
        mixed = (right + k) * np.uint64(0x9E3779B97F4A7C15)
        mixed ^= mixed >> np.uint64(29)
        mixed *= np.uint64(0xBF58476D1CE4E5B9)
        mixed ^= mixed >> np.uint64(32)
        left, right = right, left ^ (mixed & np.uint64(_HALF_MASK))
    return (left << np.uint64(_HALF_BITS)) | right


def serials(prefix: str, first: int, count: int, key: bytes) -> list[int]:
    """Return serials number ``first .. first+count-1`` of ``prefix``.

    Args:
        prefix: the six leading digits.
        first: how many serials the prefix has issued before (never reused).
        count: how many to issue now.
        key: the secret of the register (the same key gives the same serials).

    Raises:
        PrefixExhaustedError: the prefix would pass 1,000,000 serials.
    """
    if first + count > SERIALS_PER_PREFIX:
        raise PrefixExhaustedError(
            f"PIN prefix {prefix} is exhausted: {first} serials issued, {count} more asked, "
            f"{SERIALS_PER_PREFIX} possible"
        )
    with np.errstate(over="ignore"):
        keys = _round_keys(key, prefix)
        values = _feistel(np.arange(first, first + count, dtype=np.uint64), keys)
        # Cycle-walk: a permutation of 2**20 restricted to 0..999999 stays a permutation.
        outside = values >= SERIALS_PER_PREFIX
        while outside.any():
            values[outside] = _feistel(values[outside], keys)
            outside = values >= SERIALS_PER_PREFIX
    return [int(v) for v in values]


def make_pins(prefix: str, first: int, count: int, key: bytes) -> list[str]:
    """Return ``count`` new PINs of ``prefix`` (see :func:`serials`)."""
    return [f"{prefix}{s:06d}" for s in serials(prefix, first, count, key)]
