"""Invented districts and communes for each province, and province-name spellings.

Real administrative names are not needed to test the pipeline; what matters is
that addresses look plausible, repeat within a province, and that province
names arrive in the many spellings the contract lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.reference import ProvinceTable

_PLACE_WORDS = [
    "Tân Lập",
    "An Bình",
    "Hòa Bình",
    "Phú Lợi",
    "Thạnh Mỹ",
    "Đông Hòa",
    "Tân Phú",
    "Hưng Long",
    "Quang Trung",
    "Minh Khai",
    "Trung Hòa",
    "Yên Sở",
    "Bình Minh",
    "Phước Long",
    "Long Hưng",
    "Đại Đồng",
    "Kim Liên",
    "Nghĩa Tân",
    "Thanh Xuân",
    "Vĩnh Phúc",
    "Hiệp Thành",
    "Tân Thới",
    "Xuân Phương",
    "Định Công",
    "Cẩm Lệ",
    "Hải Châu",
    "Phú Nhuận",
    "Tây Hồ",
    "Bắc Sơn",
    "Nam Sơn",
    "Đức Thắng",
    "Hòa Khánh",
    "Mỹ Đình",
    "Thượng Cát",
    "Lộc Thọ",
    "Vạn Ninh",
    "Ninh Hiệp",
    "Đồng Tâm",
]

_SHORT_NAMES = {"001": ["HN", "Hà Nội"], "079": ["Tp HCM", "TP.HCM", "Sài Gòn"]}


@dataclass(frozen=True)
class Geography:
    """Districts and communes of every province.

    Attributes:
        districts: For each province index, its district names.
        communes: For each province index, per district, its commune names.
    """

    districts: list[list[str]]
    communes: list[list[list[str]]]


def build_geography(rng: np.random.Generator, provinces: ProvinceTable) -> Geography:
    """Invent 2-6 districts per province and 2-5 communes per district."""
    districts: list[list[str]] = []
    communes: list[list[list[str]]] = []
    for kind in provinces.types:
        urban = kind == "thành phố"
        n_dist = int(rng.integers(2, 7))
        words = rng.permutation(len(_PLACE_WORDS))
        names = []
        for d in range(n_dist):
            if urban and d % 2 == 0:
                names.append(f"Quận {d + 1}")
            else:
                names.append(f"Huyện {_PLACE_WORDS[words[d]]}")
        districts.append(names)
        per_district = []
        for d in range(n_dist):
            n_com = int(rng.integers(2, 6))
            picks = rng.choice(len(_PLACE_WORDS), size=n_com, replace=False)
            unit = "Phường" if names[d].startswith("Quận") else "Xã"
            per_district.append([f"{unit} {_PLACE_WORDS[p]}" for p in picks])
        communes.append(per_district)
    return Geography(districts=districts, communes=communes)


def province_weights(rng: np.random.Generator, provinces: ProvinceTable) -> np.ndarray:
    """Relative population of each province: cities larger, with seeded spread."""
    weight = np.array([3.0 if t == "thành phố" else 1.0 for t in provinces.types])
    weight[[provinces.codes.index("001"), provinces.codes.index("079")]] = 6.0
    return weight * rng.gamma(4.0, 0.25, size=len(weight))


def province_spellings(provinces: ProvinceTable) -> list[list[str]]:
    """Return, for each province index, the spellings a clerk might type."""
    out = []
    for code, name, ascii_name, kind in zip(
        provinces.codes, provinces.names, provinces.names_ascii, provinces.types, strict=True
    ):
        units = ["Thành phố", "TP."] if kind == "thành phố" else ["Tỉnh", "tỉnh"]
        spellings = [name, name, *(f"{u} {name}" for u in units), ascii_name]
        out.append(spellings + _SHORT_NAMES.get(code, []))
    return out
