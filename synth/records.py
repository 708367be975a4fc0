"""Seeded synthetic Vietnamese person records with known duplicates.

For tests and benchmarks of the matcher: people with realistic name
concentration (Nguyễn about a third), households, twins, and duplicate
records carrying the flaws of the legacy exports (no diacritics,
Hoàng/Huỳnh, a dropped middle name, a year-only or 01/01 date, swapped day
and month, typos in names and ID numbers, a move to another province).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from domain.schema import RECORD_SCHEMA


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FAMILY = {
    "Nguyễn": 34.0, "Trần": 11.0, "Lê": 9.5, "Phạm": 7.0, "Hoàng": 3.0, "Huỳnh": 2.0,
    "Phan": 4.5, "Vũ": 2.2, "Võ": 1.7, "Đặng": 2.1, "Bùi": 2.0, "Đỗ": 1.4, "Hồ": 1.3,
    "Ngô": 1.3, "Dương": 1.0, "Lý": 0.5, "Đinh": 0.8, "Trương": 0.8, "Lâm": 0.6, "Mai": 0.6,
}  # fmt: skip
_GIVEN_M = _words(
    "Hùng Dũng Tuấn Minh Nam Hải Long Sơn Thắng Cường Đức Hiếu Khoa Phúc Quang Trung Tùng "
    "Việt Vinh Huy Hoàng Bình Thành Toàn Tài Khánh Lộc Nghĩa Giang Duy"
)
_GIVEN_F = _words(
    "Lan Hương Hoa Linh Trang Thảo Nga Hằng Mai Hà Ngọc Yến Vy Nhung Phương Thu Loan Hạnh "
    "Trinh Dung Giang Châu Chi Quỳnh Oanh Uyên Xuân Diệp Tâm My"
)
_MIDDLE_M = ("Văn", "Văn", "Văn", "Hữu", "Minh", "Quốc", "Đức", "Thanh", "Hoàng", "Công")
_MIDDLE_F = ("Thị", "Thị", "Thị", "Thị Thu", "Thị Ngọc", "Ngọc", "Thu", "Phương", "Thanh", "Minh")
_PROVINCES = ("001", "079", "048", "031", "092", "038", "040", "046", "066", "075")
_VARIANTS = {"Hoàng": "Huỳnh", "Huỳnh": "Hoàng", "Vũ": "Võ", "Võ": "Vũ"}


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _typo(text: str, rng: np.random.Generator) -> str:
    if len(text) < 3:
        return text
    i = int(rng.integers(1, len(text)))
    return text[:i] + "aeiouynh"[int(rng.integers(0, 8))] + text[i + 1 :]


def _people(n: int, rng: np.random.Generator) -> dict[str, list]:
    fams, weights = list(_FAMILY), np.array(list(_FAMILY.values()))
    male = rng.random(n) < 0.5
    family = rng.choice(fams, n, p=weights / weights.sum())
    given = np.where(male, rng.choice(_GIVEN_M, n), rng.choice(_GIVEN_F, n))
    middle = np.where(male, rng.choice(_MIDDLE_M, n), rng.choice(_MIDDLE_F, n))
    year = rng.integers(1940, 2020, n)
    month = rng.integers(1, 13, n)
    day = rng.integers(1, 29, n)
    province = rng.choice(_PROVINCES, n)
    household = rng.integers(0, max(n // 3, 1), n)
    # Twins: a share of people get a twin in the same household, same date and parents.
    twins = np.flatnonzero(rng.random(n) < 0.01)
    twins = twins[twins + 1 < n]
    for column in (family, year, month, day, province, household):
        column[twins + 1] = column[twins]
    father = [f"{f} Văn {g}" for f, g in zip(family, rng.choice(_GIVEN_M, n), strict=True)]
    mother = [
        f"{f} Thị {g}" for f, g in zip(rng.choice(fams, n), rng.choice(_GIVEN_F, n), strict=True)
    ]
    for i in twins:
        father[i + 1], mother[i + 1] = father[i], mother[i]
    century_sex = np.where(year >= 2000, 2, 0) + np.where(male, 0, 1)
    ids = [
        f"{p}{c}{y % 100:02d}{r:06d}" if known else None
        for p, c, y, r, known in zip(
            province, century_sex, year, rng.integers(0, 10**6, n), rng.random(n) < 0.6, strict=True
        )
    ]
    return {
        "family_name": family.tolist(),
        "middle_name": middle.tolist(),
        "given_name": given.tolist(),
        "sex": np.where(male, "M", "F").tolist(),
        "birth_year": year.tolist(),
        "birth_month": month.tolist(),
        "birth_day": day.tolist(),
        "province_code": province.tolist(),
        "birth_province_code": province.tolist(),
        "household_id": [f"HK{h:06d}" for h in household],
        "id_number": ids,
        "father_name": father,
        "mother_name": mother,
        "address": [f"Thôn {h % 50}, Xã {h % 17}" for h in household],
        "precision": ["day"] * n,
        "placeholder": [False] * n,
    }


def _noisy_copy(src: dict[str, list], i: int, rng: np.random.Generator) -> dict[str, object]:
    rec = {k: v[i] for k, v in src.items()}
    r = rng.random(16)
    if r[0] < 0.5 and rec["family_name"] in _VARIANTS:
        rec["family_name"] = _VARIANTS[rec["family_name"]]
    if r[1] < 0.1:
        rec["middle_name"] = None
    elif r[1] < 0.15:
        rec["middle_name"] = str(rec["middle_name"]).split()[0]
    if r[2] < 0.05:
        rec["given_name"] = _typo(str(rec["given_name"]), rng)
    if r[3] < 0.1:
        rec["precision"] = "year"
    elif r[3] < 0.15 and rec["birth_day"] <= 12:
        rec["birth_day"], rec["birth_month"] = rec["birth_month"], rec["birth_day"]
    elif r[3] < 0.2:
        rec["birth_day"], rec["birth_month"], rec["placeholder"] = 1, 1, True
    elif r[3] < 0.22:
        rec["birth_year"] += 1
    if r[4] < 0.3:
        rec["id_number"] = None
    elif r[4] < 0.35:
        rec["id_number"] = _typo(str(rec["id_number"]), rng).translate(
            str.maketrans("aeiouynh", "12345678")
        )
    if r[5] < 0.05:
        rec["sex"] = None
    if r[6] < 0.5:
        rec["province_code"] = str(rng.choice(_PROVINCES))
        rec["household_id"] = f"HKX{int(rng.integers(0, 10**6)):06d}"
        rec["address"] = f"Tổ {int(rng.integers(1, 99))}, Phường {int(rng.integers(1, 20))}"
    for key, p in (("birth_province_code", 0.1), ("father_name", 0.3), ("mother_name", 0.3)):
        if rng.random() < p:
            rec[key] = None
    if r[7] < 0.2:
        for key in ("family_name", "middle_name", "given_name", "father_name", "mother_name"):
            if rec[key] is not None:
                rec[key] = _strip_marks(str(rec[key]))
    return rec


def records_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Build a ``RECORD_SCHEMA`` frame from a few dicts (absent columns are null)."""
    frame = pl.DataFrame(list(rows), infer_schema_length=None)
    return frame.select(
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
        for c, t in RECORD_SCHEMA.items()
    )


def synthetic_records(
    n_people: int, duplicate_share: float = 0.3, seed: int = 7
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return records (``RECORD_SCHEMA``) and the truth (``record_key``, ``person_id``).

    Args:
        n_people: Distinct people; each original record is one of them.
        duplicate_share: Share of people with one (a fifth of them two) extra noisy records.
        seed: Seed of the generator.
    """
    rng = np.random.default_rng(seed)
    people = _people(n_people, rng)
    rows = [{k: v[i] for k, v in people.items()} | {"person_id": i} for i in range(n_people)]
    dup = np.flatnonzero(rng.random(n_people) < duplicate_share)
    extra = np.concatenate([dup, dup[rng.random(len(dup)) < 0.2]])
    rows += [_noisy_copy(people, int(i), rng) | {"person_id": int(i)} for i in extra]
    order = rng.permutation(len(rows))
    frame = pl.DataFrame([rows[i] for i in order], infer_schema_length=None)
    day_known = pl.col("precision") == "day"
    frame = frame.with_columns(
        record_key=pl.col("province_code")
        + ":"
        + pl.int_range(pl.len()).cast(pl.String).str.zfill(7),
        full_name=pl.concat_str(
            ["family_name", "middle_name", "given_name"], separator=" ", ignore_nulls=True
        ),
        birth_month=pl.when(day_known).then(pl.col("birth_month")),
        birth_day=pl.when(day_known).then(pl.col("birth_day")),
        dob_precision=pl.col("precision"),
        dob_placeholder=pl.col("placeholder"),
    ).with_columns(
        date_of_birth=pl.date("birth_year", "birth_month", "birth_day"),
        local_id=pl.col("record_key").str.split(":").list.get(1),
    )
    return records_frame(frame.to_dicts()), frame.select("record_key", "person_id")
