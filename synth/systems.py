"""Legacy systems: the format, encoding and habits of one provincial export program.

A system is drawn from the seed, never written for a province: it fixes the
file format, the text encoding, the header dialect (which columns, how they are
spelt), the date style, the sex codes and the case of names. Provinces then
pick one or more systems from a shared pool, the first systems of the pool
covering every format and encoding so that a moderate run shows them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from synth.headers import header_labels

T = TypeVar("T")

#: Encodings per format. XLSX "tcvn3"/"vni" are cells typed with a legacy font,
#: "nfd" cells typed in decomposed Unicode (tone marks as combining characters).
ENCODINGS: dict[str, list[str]] = {
    "csv": ["utf-8", "utf-8-sig", "utf-8-nfd", "utf-16", "cp1258", "tcvn3", "vni", "ascii"],
    "xlsx": ["unicode", "tcvn3", "vni", "ascii", "nfd"],
    "dbf": ["tcvn3", "vni"],
}

DATE_STYLES = [
    "dmy_slash",
    "dmy_slash_short",
    "dmy_dash",
    "dmy_dot",
    "iso",
    "compact",
    "dmy_2digit",
]
UNKNOWN_DATE_STYLES = ["yyyy", "00/00/yyyy", "../../yyyy", "01/01/yyyy"]
SEX_CODES = [
    ("Nam", "Nữ"),
    ("NAM", "NỮ"),
    ("nam", "nữ"),
    ("NAM", "NU"),
    ("Nam", "Nu"),
    ("M", "F"),
    ("1", "2"),
]

_OPTIONAL = {
    "relation_to_head": 0.9,
    "household_id": 0.95,
    "birth_place": 0.6,
    "native_place": 0.4,
    "ethnicity": 0.7,
    "religion": 0.4,
    "nationality": 0.4,
    "id_number": 0.7,
    "occupation": 0.5,
    "parents": 0.3,
    "residence_type": 0.4,
    "registered_on": 0.3,
    "other_name": 0.1,
    "stt": 0.3,
    "note": 0.25,
}
_LOCAL_ID_FORMATS = ["{n}", "{n:06d}", "NK{n:07d}", "{p}{n:07d}", "{p}-{n:06d}"]
_HOUSEHOLD_FORMATS = ["HK{n:06d}", "{n:05d}", "{p}/{n:05d}", "SHK-{n}"]
_STEMS = ["export", "so_ho_khau", "nhan_khau", "ds_nhan_khau", "dan_cu", "hk_data", "nk"]


@dataclass(frozen=True)
class LegacySystem:
    """One export program's habits.

    Attributes:
        key: Identifier within the pool (``sys03``).
        fmt: ``csv``, ``xlsx`` or ``dbf``.
        encoding: Text encoding label (see :data:`ENCODINGS`).
        extension: File extension without the dot.
        delimiter: Field delimiter (delimited text only).
        quote_all: Quote every field rather than only where needed.
        newline: Line ending of delimited text.
        columns: ``(field, header label)`` pairs in file order.
        date_style: Rendering of full dates (:data:`DATE_STYLES`).
        unknown_date_style: Rendering of dates known only by year.
        xlsx_dates: ``cell`` (Excel dates), ``text`` or ``serial`` (raw numbers).
        name_case: ``title``, ``upper`` or ``lower``.
        sex_codes: Male and female codes.
        local_id_format: Format of the local person id (``n`` serial, ``p`` province).
        household_format: Format of the household book number.
        title_rows: Whether a title block precedes the header.
        footer: Whether a totals footer follows the data.
        repeat_header_every: Repeat the header every this many rows (0 = never).
        sheet_per_commune: One XLSX sheet per commune.
        summary_sheet: Whether an XLSX workbook has a summary sheet with no persons
            (persons per sheet), first or last among its sheets.
        notes_sheet: Whether an XLSX workbook ends with a notes sheet (free text).
        stem: File name stem.
    """

    key: str
    fmt: str
    encoding: str
    extension: str
    delimiter: str
    quote_all: bool
    newline: str
    columns: tuple[tuple[str, str], ...]
    date_style: str
    unknown_date_style: str
    xlsx_dates: str
    name_case: str
    sex_codes: tuple[str, str]
    local_id_format: str
    household_format: str
    title_rows: bool
    footer: bool
    repeat_header_every: int
    sheet_per_commune: bool
    summary_sheet: bool
    notes_sheet: bool
    stem: str

    @property
    def fields(self) -> list[str]:
        """Field names of the columns, in order."""
        return [f for f, _ in self.columns]


def _choose(rng: np.random.Generator, options: list[T], weights: list[float] | None = None) -> T:
    p = None if weights is None else np.asarray(weights, float) / sum(weights)
    return options[int(rng.choice(len(options), p=p))]


def _fields(rng: np.random.Generator) -> list[str]:
    """Pick the columns of a system, in a plausible order."""
    want = {k: rng.random() < p for k, p in _OPTIONAL.items()}
    name = ["full_name"] if rng.random() < 0.6 else ["family_name", "middle_name", "given_name"]
    dob = _choose(
        rng,
        [
            ["date_of_birth"],
            ["birth_day", "birth_month", "birth_year"],
            ["date_of_birth", "birth_year"],
        ],
        [6, 2, 2],
    )
    address = (
        ["address"] if rng.random() < 0.7 else ["house_number", "hamlet", "commune", "district"]
    )
    out = ["stt"] if want["stt"] else []
    out += ["local_id"] + (["household_id"] if want["household_id"] else [])
    out += (["relation_to_head"] if want["relation_to_head"] else []) + name
    out += (["other_name"] if want["other_name"] else []) + dob + ["sex"]
    for f in [
        "birth_place",
        "native_place",
        "ethnicity",
        "religion",
        "nationality",
        "id_number",
        "occupation",
    ]:
        out += [f] if want[f] else []
    out += address + (["father_name", "mother_name"] if want["parents"] else [])
    for f in ["residence_type", "registered_on", "note"]:
        out += [f] if want[f] else []
    return out


def _system(rng: np.random.Generator, key: str, fmt: str, encoding: str) -> LegacySystem:
    fields = _fields(rng)
    if fmt == "dbf":
        dialect = "short"
    elif fmt == "xlsx":
        dialect = _choose(rng, ["vi", "vi_ascii", "en"], [8, 1, 1])
    else:
        dialect = _choose(rng, ["vi", "vi_ascii", "short", "en", "canonical"], [4, 2, 2, 1, 1])
    delimiter = _choose(rng, [",", ";", "\t", "|"], [4, 2, 2, 1]) if fmt == "csv" else ","
    extension = {"xlsx": "xlsx", "dbf": "dbf"}.get(fmt) or {",": "csv", ";": "csv", "|": "txt"}.get(
        delimiter, _choose(rng, ["tsv", "txt"])
    )
    return LegacySystem(
        key=key,
        fmt=fmt,
        encoding=encoding,
        extension=extension,
        delimiter=delimiter,
        quote_all=rng.random() < 0.15,
        newline=_choose(rng, ["\n", "\r\n"]),
        columns=tuple(zip(fields, header_labels(rng, fields, dialect), strict=True)),
        date_style=_choose(rng, DATE_STYLES, [6, 1, 1, 1, 1, 1 + 2 * (fmt == "dbf"), 1]),
        unknown_date_style=_choose(rng, UNKNOWN_DATE_STYLES),
        xlsx_dates=_choose(rng, ["cell", "text", "serial"], [4, 3, 2]),
        name_case=_choose(rng, ["title", "upper", "lower"], [6, 3 + 4 * (fmt == "dbf"), 0.5]),
        sex_codes=_choose(rng, SEX_CODES, [4, 1, 1, 1, 1, 1, 1]),
        local_id_format=_choose(rng, _LOCAL_ID_FORMATS),
        household_format=_choose(rng, _HOUSEHOLD_FORMATS),
        title_rows=rng.random() < (0.85 if fmt == "xlsx" else 0.2 if fmt == "csv" else 0),
        footer=rng.random() < (0.7 if fmt == "xlsx" else 0.2 if fmt == "csv" else 0),
        repeat_header_every=_choose(rng, [0, 50, 100], [8, 1, 1]) if fmt != "dbf" else 0,
        sheet_per_commune=fmt == "xlsx" and rng.random() < 0.6,
        summary_sheet=fmt == "xlsx" and rng.random() < 0.5,
        notes_sheet=fmt == "xlsx" and rng.random() < 0.3,
        stem=_choose(rng, _STEMS),
    )


def build_system_pool(rng: np.random.Generator, extra: int = 8) -> list[LegacySystem]:
    """Return the pool: one system per (format, encoding), then ``extra`` random ones."""
    combos = [(fmt, enc) for fmt, encs in ENCODINGS.items() for enc in encs]
    for _ in range(extra):
        fmt = _choose(rng, ["csv", "xlsx", "dbf"], [4, 4, 2])
        combos.append((fmt, _choose(rng, ENCODINGS[fmt])))
    return [_system(rng, f"sys{i:02d}", fmt, enc) for i, (fmt, enc) in enumerate(combos)]


def assign_systems(
    rng: np.random.Generator, pool: list[LegacySystem], weights: np.ndarray, n_districts: list[int]
) -> list[list[int]]:
    """Give every province one to three systems (indices into ``pool``).

    The most populous provinces take the pool's systems in order, so every
    system is used where records are most likely to exist.
    """
    n_prov = len(weights)
    out: list[list[int]] = [[] for _ in range(n_prov)]
    for rank, prov in enumerate(np.argsort(-weights, kind="stable")):
        first = rank if rank < len(pool) else int(rng.integers(len(pool)))
        systems = [first]
        n_more = int(rng.choice(3, p=[0.7, 0.25, 0.05]))
        for _ in range(min(n_more, n_districts[prov] - 1)):
            other = int(rng.integers(len(pool)))
            if other not in systems:
                systems.append(other)
        out[prov] = systems
    return out


def clean_csv_system() -> LegacySystem:
    """A well-kept export: one UTF-8 CSV, Vietnamese headers, no title, footer or junk.

    The ``clean`` profile's only system (every province uses it), for
    benchmarks at scale: the records still carry the profile's corruptions,
    but nothing of the file gets in the way.
    """
    fields = [
        "local_id",
        "household_id",
        "relation_to_head",
        "full_name",
        "date_of_birth",
        "sex",
        "birth_place",
        "ethnicity",
        "id_number",
        "address",
        "father_name",
        "mother_name",
    ]
    labels = ["Mã nhân khẩu", "Số hộ khẩu", "Quan hệ với chủ hộ", "Họ và tên", "Ngày sinh"]
    labels += ["Giới tính", "Nơi sinh", "Dân tộc", "Số CMND/CCCD", "Địa chỉ thường trú"]
    labels += ["Họ tên cha", "Họ tên mẹ"]
    return LegacySystem(
        key="sys00",
        fmt="csv",
        encoding="utf-8",
        extension="csv",
        delimiter=",",
        quote_all=False,
        newline="\n",
        columns=tuple(zip(fields, labels, strict=True)),
        date_style="dmy_slash",
        unknown_date_style="yyyy",
        xlsx_dates="cell",
        name_case="title",
        sex_codes=("Nam", "Nữ"),
        local_id_format="{p}{n:07d}",
        household_format="HK{n:06d}",
        title_rows=False,
        footer=False,
        repeat_header_every=0,
        sheet_per_commune=False,
        summary_sheet=False,
        notes_sheet=False,
        stem="nhan_khau",
    )
