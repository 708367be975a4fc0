"""PIN structure: century/sex digit, year digits, prefix, serials."""

from __future__ import annotations

import itertools

import pytest

from pipelines.pins import (
    SERIALS_PER_PREFIX,
    PrefixExhaustedError,
    century_sex_digit,
    decode_prefix,
    make_pins,
    pin_prefix,
    serials,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("sex", "year", "digit"),
    [
        ("M", 1900, 0),
        ("F", 1999, 1),
        ("M", 2000, 2),
        ("F", 2099, 3),
        ("M", 2100, 4),
        ("F", 2150, 5),
        ("M", 2200, 6),
        ("F", 2300, 9),
    ],
)
def test_century_sex_digit_follows_the_decree_table(sex: str, year: int, digit: int) -> None:
    assert century_sex_digit(sex, year) == digit


@pytest.mark.parametrize(("sex", "year"), [("M", 1899), ("F", 2400), ("X", 1990), ("", 1990)])
def test_century_sex_digit_rejects_what_it_cannot_encode(sex: str, year: int) -> None:
    with pytest.raises(ValueError):
        century_sex_digit(sex, year)


def test_prefix_is_province_then_century_sex_then_two_year_digits() -> None:
    assert pin_prefix("079", "F", 2005) == "079305"
    assert pin_prefix("001", "M", 1968) == "001068"
    assert decode_prefix("079305123456") == ("079", "F", 2005)
    with pytest.raises(ValueError):
        pin_prefix("79", "M", 1968)


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
