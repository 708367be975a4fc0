"""Rates that shape a synthetic delivery: how often people repeat, and how records go wrong.

A profile is one frozen object passed down to every step; ``default`` gives
moderate noise, ``hard`` raises every rate so that each corruption and flaw is
common enough to test on small data. ``clean`` is a well-kept delivery for
benchmarks at scale: one UTF-8 CSV per province (no title rows, junk rows or
flawed rows), 1.24 records per person, the default corruptions of repeated
records.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

#: Record-level corruptions applied to repeated records (probability each).
_DUPLICATE_CORRUPTIONS: dict[str, float] = {
    "drop_diacritics": 0.12,
    "case_change": 0.12,
    "double_space": 0.06,
    "typo": 0.10,
    "surname_variant": 0.30,  # only where the family name has a regional spelling
    "middle_dropped": 0.05,
    "middle_changed": 0.04,
    "day_month_swap": 0.04,
    "year_only": 0.06,
    "placeholder_0101": 0.04,
    "missing_sex": 0.03,
    "id_mistyped": 0.06,
    "id_blank": 0.30,
    "year_mistyped": 0.02,  # the year one off, day and month kept
    "names_swapped": 0.02,  # the given name written where the middle name goes
}

#: Corruptions that also touch first registrations, at low rates.
_PRIMARY_CORRUPTIONS: dict[str, float] = {
    "typo": 0.01,
    "double_space": 0.01,
    "missing_sex": 0.004,
    "id_mistyped": 0.005,
}

#: Flaws that make a person row "flawed" (at most one per row).
_FLAWS: dict[str, float] = {
    "impossible_date": 0.002,
    "future_date": 0.001,
    "repeated_local_id": 0.002,
    "unknown_sex": 0.002,
}


@dataclass(frozen=True)
class Profile:
    """Rates for one generation profile.

    Attributes:
        name: Profile name.
        moved: Share of persons registered again in another province (moved).
        temporary: Share of persons with a temporary residence elsewhere.
        clerk_double: Share of persons entered twice by a clerk (same batch).
        later_batch: Share of persons sent again in a later batch.
        twins: Share of households with two or more children that have twins.
        namesakes: Share of adults given one of a few very common full names.
        twins_named_alike: Share of twin pairs whose given names are a tone
            mark or one letter apart (Hà / Hạ, Thủy / Thúy, Khang / Khanh).
        namesake_pairs: Share of wives given the full name and birth year of
            another woman of their province (another household, another
            date): two people of one name, year and province, as common as
            they are in a whole country and not in a sample of it.
        year_only_old: Share of people born before 1950 known only by year.
        duplicate_corruptions: Probability of each corruption on a repeated record.
        primary_corruptions: Probability of each corruption on a first record.
        flaws: Probability of each flaw on any record.
        junk_blank: Probability of a blank row after a data row.
        junk_no_name: Probability of a row with an id but no name after a data row.
        one_csv_per_province: Every province exports with one clean system, a UTF-8
            CSV, in one file per batch (``synth.systems.clean_csv_system``).
    """

    name: str
    moved: float = 0.04
    temporary: float = 0.04
    clerk_double: float = 0.015
    later_batch: float = 0.05
    twins: float = 0.03
    namesakes: float = 0.15
    twins_named_alike: float = 0.3
    namesake_pairs: float = 0.01
    year_only_old: float = 0.4
    duplicate_corruptions: dict[str, float] = field(
        default_factory=lambda: dict(_DUPLICATE_CORRUPTIONS)
    )
    primary_corruptions: dict[str, float] = field(
        default_factory=lambda: dict(_PRIMARY_CORRUPTIONS)
    )
    flaws: dict[str, float] = field(default_factory=lambda: dict(_FLAWS))
    junk_blank: float = 0.004
    junk_no_name: float = 0.002
    one_csv_per_province: bool = False


def _scaled(rates: dict[str, float], factor: float, cap: float) -> dict[str, float]:
    return {k: min(cap, v * factor) for k, v in rates.items()}


def get_profile(name: str) -> Profile:
    """Return the profile called ``name`` (``default``, ``hard`` or ``clean``).

    Raises:
        ValueError: If the name is not a known profile.
    """
    base = Profile(name="default")
    if name == "default":
        return base
    if name == "hard":
        return replace(
            base,
            name="hard",
            moved=0.08,
            temporary=0.08,
            clerk_double=0.04,
            later_batch=0.10,
            twins=0.08,
            namesakes=0.30,
            twins_named_alike=0.6,
            namesake_pairs=0.03,
            year_only_old=0.6,
            duplicate_corruptions=_scaled(base.duplicate_corruptions, 2.5, 0.6),
            primary_corruptions=_scaled(base.primary_corruptions, 4.0, 0.1),
            flaws=_scaled(base.flaws, 4.0, 0.02),
            junk_blank=0.01,
            junk_no_name=0.006,
        )
    if name == "clean":
        return replace(
            base,
            name="clean",
            moved=0.10,
            temporary=0.10,
            clerk_double=0.04,  # 1 + 0.10 + 0.10 + 0.04 = 1.24 records per person (one batch)
            flaws={k: 0.0 for k in base.flaws},
            junk_blank=0.0,
            junk_no_name=0.0,
            one_csv_per_province=True,
        )
    raise ValueError(f"unknown profile {name!r}: expected 'default', 'hard' or 'clean'")
