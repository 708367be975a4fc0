"""PIN serials: FF1 (NIST SP 800-38G), keyed, deterministic, never reused within a prefix."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from ffx import FF1

from pipelines.register.serials import (
    SERIALS_PER_PREFIX,
    PinKeyError,
    PrefixExhaustedError,
    _VectorFF1,
    ff1_serials,
    make_pins,
    serials,
)

pytestmark = pytest.mark.unit

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))

# NIST SP 800-38G FF1 samples (ff1samples.pdf): key, radix, tweak, plaintext, ciphertext.
K128 = "2B7E151628AED2A6ABF7158809CF4F3C"
K192 = K128 + "EF4359D8D580AA4F"
K256 = K192 + "7F036D6F04FC6A94"
T10, T11 = "39383736353433323130", "3737373770717273373737"
PT10, PT36 = "0123456789", "0123456789abcdefghi"
NIST = [
    (K128, 10, "", PT10, "2433477484"),
    (K128, 10, T10, PT10, "6124200773"),
    (K128, 36, T11, PT36, "a9tv40mll9kdu509eum"),
    (K192, 10, "", PT10, "2830668132"),
    (K192, 10, T10, PT10, "2496655549"),
    (K192, 36, T11, PT36, "xbj3kv35jrawxv32ysr"),
    (K256, 10, "", PT10, "6657667009"),
    (K256, 10, T10, PT10, "1001623463"),
    (K256, 36, T11, PT36, "xs8a0azh2avyalyzuwd"),
]


@pytest.mark.parametrize(("key", "radix", "tweak", "plain", "cipher"), NIST)
def test_libffx_gives_the_nist_ff1_samples(
    key: str, radix: int, tweak: str, plain: str, cipher: str
) -> None:
    ff1 = FF1(bytes.fromhex(key), radix=radix)
    assert ff1.encrypt(plain, tweak=bytes.fromhex(tweak)) == cipher
    assert ff1.decrypt(cipher, tweak=bytes.fromhex(tweak)) == plain


def test_the_vectorised_ff1_equals_libffx() -> None:
    rng = random.Random(7)
    for key in (bytes(16), bytes(range(24)), KEY):
        for prefix in ("001068", "079305", "0", ""):
            counters = np.array([rng.randrange(SERIALS_PER_PREFIX) for _ in range(300)])
            fast = _VectorFF1(key).encrypt(counters, prefix.encode())
            ref = FF1(key, radix=10)
            slow = [int(ref.encrypt(f"{k:06d}", tweak=prefix.encode())) for k in counters]
            assert fast.tolist() == slow
    # the scalar path (few serials) and the vector path give the same serials
    assert ff1_serials("001068", np.arange(5), KEY).tolist() == serials("001068", 0, 20, KEY)[0][:5]


@pytest.mark.parametrize("length", [0, 3, 8, 15, 17, 23, 31, 33, 64])
def test_a_key_that_is_not_an_aes_key_is_refused(length: int) -> None:
    with pytest.raises(PinKeyError, match="16, 24 or 32 bytes"):
        serials("001068", 0, 1, bytes(length))


def test_pins_are_twelve_digits_with_the_prefix() -> None:
    pins, counter = make_pins("001068", 0, 50, KEY)
    assert all(len(p) == 12 and p.isdigit() and p.startswith("001068") for p in pins)
    assert len(set(pins)) == 50 and counter == 50


def test_serials_are_deterministic_keyed_and_not_sequential() -> None:
    first, _ = serials("001068", 0, 1000, KEY)
    assert first == serials("001068", 0, 1000, KEY)[0]
    assert first != serials("001068", 0, 1000, OTHER)[0]
    assert first != serials("001069", 0, 1000, KEY)[0]
    steps = {b - a for a, b in itertools.pairwise(first)}
    assert len(steps) > 900  # consecutive serials do not reveal the order of registration


def test_serials_continue_without_reuse_across_runs() -> None:
    whole, _ = serials("079305", 0, 3000, KEY)
    head, counter = serials("079305", 0, 1000, KEY)
    tail, _ = serials("079305", counter, 2000, KEY)
    assert whole == head + tail


def test_a_serial_already_issued_is_skipped_never_issued_again() -> None:
    # Serials issued under another key (or scheme) before: the new key's outputs skip them.
    before, _ = serials("001068", 0, 200_000, OTHER)
    new, counter = serials("001068", 0, 50_000, KEY, used=before)
    assert not set(new) & set(before)
    assert len(set(new)) == 50_000
    assert counter > 50_000  # about a fifth of the outputs were taken and skipped


def test_an_exhausted_prefix_fails_clearly_never_with_a_duplicate() -> None:
    everything, counter = serials("001068", 0, SERIALS_PER_PREFIX, KEY)
    assert sorted(everything) == list(range(SERIALS_PER_PREFIX))
    with pytest.raises(PrefixExhaustedError, match="001068 is exhausted"):
        serials("001068", counter, 1, KEY)
