"""Reference tables the generator draws from: names, provinces, ethnic groups.

The CSV files live in ``domain/reference/`` and are read by
:mod:`domain.tables`, the one loader of the reference tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from domain.tables import reference_rows


@dataclass(frozen=True)
class NameTable:
    """Weighted name pools, one (names, probabilities) pair per kind."""

    family: tuple[list[str], np.ndarray]
    middle_male: tuple[list[str], np.ndarray]
    middle_female: tuple[list[str], np.ndarray]
    given_male: tuple[list[str], np.ndarray]
    given_female: tuple[list[str], np.ndarray]
    variants: dict[str, str]


@dataclass(frozen=True)
class ProvinceTable:
    """The 63 provinces: code, name, ASCII name and unit type, in file order."""

    codes: list[str]
    names: list[str]
    names_ascii: list[str]
    types: list[str]
    cmnd_prefix: list[str]


def _weights(values: list[str]) -> np.ndarray:
    """Turn shares (``38.4``) or ranks (``rank:3``) into probabilities."""
    raw = [1.0 / float(v[5:]) ** 1.2 if v.startswith("rank:") else float(v) for v in values]
    arr = np.asarray(raw, dtype=float)
    return arr / arr.sum()


@cache
def names() -> NameTable:
    """Return the name pools of ``names.csv`` (first quoted share of each name wins)."""
    pools: dict[str, dict[str, str]] = {}
    variants: dict[str, str] = {}
    for row in reference_rows("names.csv"):
        pools.setdefault(row["kind"], {}).setdefault(row["name"], row["share_or_rank"])
        if row["variant"]:
            variants[row["name"]] = row["variant"]

    def pool(kind: str) -> tuple[list[str], np.ndarray]:
        entries = pools[kind]
        return list(entries), _weights(list(entries.values()))

    return NameTable(
        family=pool("family"),
        middle_male=pool("middle_male"),
        middle_female=pool("middle_female"),
        given_male=pool("given_male"),
        given_female=pool("given_female"),
        variants=variants,
    )


@cache
def provinces() -> ProvinceTable:
    """Return the provinces of ``provinces.csv``."""
    rows = reference_rows("provinces.csv")
    return ProvinceTable(
        codes=[r["code"] for r in rows],
        names=[r["name"] for r in rows],
        names_ascii=[r["name_ascii"] for r in rows],
        types=[r["type_2021"] for r in rows],
        cmnd_prefix=[r["cmnd_prefix"] for r in rows],
    )


@cache
def ethnic_groups() -> tuple[list[str], list[list[str]]]:
    """Return the 54 group names and, for each, its other spellings."""
    rows = reference_rows("ethnic_groups.csv")
    spellings = [[s.strip() for s in r["other_spellings"].split(";") if s.strip()] for r in rows]
    return [r["name"] for r in rows], spellings
