"""PIN serials: twelve digits, keyed, deterministic, never reused within a prefix."""

from __future__ import annotations

import itertools

import pytest

from pipelines.register.serials import (
    SERIALS_PER_PREFIX,
    PrefixExhaustedError,
    make_pins,
    serials,
)

pytestmark = pytest.mark.unit


def test_pins_are_twelve_digits_with_the_prefix() -> None:
    pins = make_pins("001068", 0, 50, b"key")
    assert all(len(p) == 12 and p.isdigit() and p.startswith("001068") for p in pins)
    assert len(set(pins)) == 50


def test_serials_are_deterministic_keyed_and_not_sequential() -> None:
    first = serials("001068", 0, 1000, b"key")
    assert first == serials("001068", 0, 1000, b"key")
    assert first != serials("001068", 0, 1000, b"other key")
    assert first != serials("001069", 0, 1000, b"key")
    steps = {b - a for a, b in itertools.pairwise(first)}
    assert len(steps) > 900  # consecutive serials do not reveal the order of registration


def test_serials_continue_without_reuse_across_runs() -> None:
    whole = serials("079305", 0, 3000, b"key")
    pieces = serials("079305", 0, 1000, b"key") + serials("079305", 1000, 2000, b"key")
    assert whole == pieces


def test_a_prefix_filled_to_900_000_has_no_collision() -> None:
    issued = serials("001068", 0, 900_000, b"key")
    assert len(set(issued)) == 900_000
    assert min(issued) >= 0 and max(issued) < SERIALS_PER_PREFIX


def test_an_exhausted_prefix_fails_clearly_never_with_a_duplicate() -> None:
    everything = serials("001068", 0, SERIALS_PER_PREFIX, b"key")
    assert sorted(everything) == list(range(SERIALS_PER_PREFIX))
    with pytest.raises(PrefixExhaustedError, match="001068 is exhausted"):
        serials("001068", SERIALS_PER_PREFIX, 1, b"key")
