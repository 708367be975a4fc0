"""Reference tables shipped with dancu: provinces, ethnic groups, header synonyms.

The CSV files under ``domain/reference/`` (read by :mod:`domain.tables`) are
copies of facts (province codes, the 54 ethnic groups, header spellings). This
module builds the lookup dictionaries that standardisation uses; it holds no
logic of its own beyond building keys with :func:`domain.vntext.fold`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from domain.tables import reference_rows
from domain.vntext import fold

_UNIT_WORDS = re.compile(r"^(thanh pho|tinh|tp\.?|t\.p\.?|tp)\s+")


@dataclass(frozen=True)
class Province:
    """One of the 63 provinces (units before July 2025)."""

    code: str
    name: str
    name_ascii: str
    region_en: str


@cache
def provinces() -> dict[str, Province]:
    """Return the provinces keyed by their 3-digit code."""
    return {
        r["code"]: Province(
            code=r["code"], name=r["name"], name_ascii=r["name_ascii"], region_en=r["region_en"]
        )
        for r in reference_rows("provinces.csv")
    }


def header_key(text: str) -> str:
    """Fold a header for comparison: no case, diacritics, spaces or punctuation."""
    return re.sub(r"[^a-z0-9]", "", fold(text))


@cache
def header_synonyms() -> dict[str, str]:
    """Return folded header spelling -> canonical field name."""
    table: dict[str, str] = {}
    for r in reference_rows("header_synonyms.csv"):
        table[header_key(r["synonym"])] = r["canonical"]
        table[header_key(r["canonical"])] = r["canonical"]
    return table


def place_key(text: str) -> str:
    """Fold a place name and drop a leading unit word (Tỉnh, Thành phố, TP.)."""
    key = fold(text).replace("-", " ").replace("–", " ")
    key = re.sub(r"[.,]", " ", key)
    key = re.sub(r"\s+", " ", key).strip()
    previous = None
    while previous != key:
        previous = key
        key = _UNIT_WORDS.sub("", key).strip()
    return key


#: Common short forms seen in registers, beyond the official names.
_PROVINCE_ALIASES: dict[str, str] = {
    "hn": "001",
    "hcm": "079",
    "tphcm": "079",
    "tp hcm": "079",
    "sai gon": "079",
    "saigon": "079",
    "thanh pho ho chi minh": "079",
    "ho chi minh city": "079",
    "hue": "046",
    "thua thien hue": "046",
    "brvt": "077",
    "ba ria vung tau": "077",
    "vung tau": "077",
    "dak lak": "066",
    "daklak": "066",
    "dak nong": "067",
    "daknong": "067",
    "hai phong": "031",
    "hp": "031",
    "da nang": "048",
    "dn": "048",
    "can tho": "092",
}


@cache
def province_lookup() -> dict[str, str]:
    """Return folded place name (no unit word) -> province code."""
    table = {place_key(p.name): p.code for p in provinces().values()}
    table.update({place_key(p.name_ascii): p.code for p in provinces().values()})
    table.update({place_key(k): v for k, v in _PROVINCE_ALIASES.items()})
    return table


@cache
def ethnicity_lookup() -> dict[str, str]:
    """Return folded spelling -> canonical ethnic group name (GSO 1979 list)."""
    table: dict[str, str] = {}
    for r in reference_rows("ethnic_groups.csv"):
        spellings = [r["name"], r["name_ascii"], *r["other_spellings"].split(";")]
        for spelling in spellings:
            spelling = re.sub(r"\(.*\)", "", spelling).strip()
            if spelling:
                table[re.sub(r"[^a-z0-9]", "", fold(spelling))] = r["name"]
    return table
