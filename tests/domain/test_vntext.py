"""Tests for Vietnamese text normalisation: tone placement, folding, casing, syllables."""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.vntext import (
    fold,
    fold_expr,
    is_syllable,
    normalize,
    normalize_expr,
    strip_diacritics,
    strip_tones,
    title_name,
    vietnamese_evidence,
)

pytestmark = pytest.mark.unit

REFERENCE = Path(__file__).resolve().parents[2] / "domain" / "reference"

TONE_CASES = [
    ("hoà", "hòa"),
    ("Hoà Bình", "Hòa Bình"),
    ("Thanh Hoá", "Thanh Hóa"),
    ("Khánh Hoà", "Khánh Hòa"),
    ("thuý", "thúy"),
    ("Thuỵ", "Thụy"),
    ("tuỳ", "tùy"),
    ("khoẻ", "khỏe"),
    ("uỷ ban", "ủy ban"),
    ("HOÀ", "HÒA"),
    ("THUÝ", "THÚY"),
    # A final consonant: the tone goes on the last vowel in both conventions.
    ("hoàng", "hoàng"),
    ("hòang", "hoàng"),
    ("Huỳnh", "Huỳnh"),
    ("thuyết", "thuyết"),
    ("quyết", "quyết"),
    # qu and gi are onsets: their u and i never carry the tone.
    ("quý", "quý"),
    ("QUÝ", "QUÝ"),
    ("quà", "quà"),
    ("Quảng", "Quảng"),
    ("giá", "giá"),
    ("giữa", "giữa"),
    ("gìn", "gìn"),
    # Hats, breves and horns attract the tone; three-vowel rhymes take the middle.
    ("người", "người"),
    ("nguời", "nguời"),
    ("Nguyễn", "Nguyễn"),
    ("khuỷu", "khuỷu"),
    ("ngoài", "ngoài"),
    ("xoáy", "xoáy"),
    ("mía", "mía"),
    ("múa", "múa"),
]


@pytest.mark.parametrize(("raw", "expected"), TONE_CASES)
def test_normalize_tone_placement(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_whitespace_and_nfc() -> None:
    raw = unicodedata.normalize("NFD", "  Nguyễn   Thị\tThuý  ")
    assert normalize(raw) == "Nguyễn Thị Thúy"


def test_normalize_leaves_non_vietnamese_words() -> None:
    assert normalize("Đắk Lắk, 12/3 Krông") == "Đắk Lắk, 12/3 Krông"


def test_province_names_are_already_normal() -> None:
    rows = csv.DictReader((REFERENCE / "provinces.csv").open(encoding="utf-8"))
    names = [row["name"] for row in rows]
    assert [normalize(n) for n in names] == names


@given(st.sampled_from([raw for raw, _ in TONE_CASES]))
def test_normalize_is_idempotent(raw: str) -> None:
    once = normalize(raw)
    assert normalize(once) == once


def test_normalize_expr_matches_normalize() -> None:
    raw = [raw for raw, _ in TONE_CASES if raw != "hòang"] + ["  Thanh   Hoá ", "Quý Thuý"]
    out = pl.DataFrame({"s": raw}).select(normalize_expr(pl.col("s")))["s"].to_list()
    assert out == [normalize(s) for s in raw]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Họ  và Tên ", "ho va ten"),
        ("ĐẶNG Thị Ánh", "dang thi anh"),
        ("Số CMND/CCCD", "so cmnd/cccd"),
        (unicodedata.normalize("NFD", "Trường"), "truong"),
    ],
)
def test_fold(raw: str, expected: str) -> None:
    assert fold(raw) == expected


def test_fold_expr_matches_fold() -> None:
    raw = [" Họ  và Tên ", "ĐẶNG Thị Ánh", "Quảng  Ngãi", "Ngày\tsinh", "Ương"]
    out = pl.DataFrame({"s": raw}).select(fold_expr(pl.col("s")))["s"].to_list()
    assert out == [fold(s) for s in raw]


def test_strip_diacritics_keeps_case() -> None:
    assert strip_diacritics("Đặng THỊ Ánh") == "Dang THI Anh"


def test_strip_tones_keeps_letter_marks() -> None:
    assert strip_tones("Đặng Thị Hương") == "Đăng Thi Hương"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("đặng thị ánh", "Đặng Thị Ánh"),
        ("NGUYỄN VĂN ĐỨC", "Nguyễn Văn Đức"),
        ("ương thị ưng", "Ương Thị Ưng"),
        ("nguyễn  văn a", "Nguyễn  Văn A"),
        (unicodedata.normalize("NFD", "nguyễn"), "Nguyễn"),
    ],
)
def test_title_name(raw: str, expected: str) -> None:
    assert title_name(raw) == expected


@pytest.mark.parametrize(
    "word", ["Nguyễn", "văn", "HÙNG", "quỳnh", "giường", "thuở", "khuya", "học", "Đắk", "ưng"]
)
def test_is_syllable_accepts(word: str) -> None:
    assert is_syllable(word)


@pytest.mark.parametrize(
    "word",
    ["NguyÔn", "V¨n", "Hïng", "vaờn", "noọi", "hoc", "hàc", "nguyễến", "Hµ", "Thḥ", ""],
)
def test_is_syllable_rejects(word: str) -> None:
    assert not is_syllable(word)


def test_vietnamese_evidence() -> None:
    good = vietnamese_evidence("1,Nguyễn Văn Hùng,12/03/1980,Hà Nội")
    bad = vietnamese_evidence("1,NguyÔn V¨n Hïng,12/03/1980,Hµ Néi")
    assert (good.valid, good.invalid) == (5, 0)
    assert (bad.valid, bad.invalid) == (0, 5)
    assert good.score > 0 > bad.score


def test_evidence_case_check_can_be_relaxed() -> None:
    assert vietnamese_evidence("NGUYễN").invalid == 1
    assert vietnamese_evidence("NGUYễN", strict_case=False).invalid == 0
