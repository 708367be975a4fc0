"""Tests for the legacy Vietnamese codecs, encoding detection and cell repair."""

from __future__ import annotations

import csv
import random
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.legacy_encoding import (
    DETECTED_LABELS,
    ENCODINGS,
    UndecodableError,
    decode_tcvn3,
    decode_vni,
    detect_and_decode,
    detect_legacy_strings,
    encode_text,
    repair_text,
)
from domain.vntext import strip_diacritics

pytestmark = pytest.mark.unit

REFERENCE = Path(__file__).resolve().parents[2] / "domain" / "reference"
TABLE = list(csv.DictReader((REFERENCE / "encodings.csv").open(encoding="utf-8")))
LETTERS = "".join(row["unicode_char"] for row in TABLE)
ALPHABET = LETTERS + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,./-"
TCVN3_CAPITALS = "ĂÂÊÔƠƯĐ"

# The domain README's mojibake table: (Unicode, TCVN3, VNI, UTF-8 read as cp1252).
MOJIBAKE = [
    ("Nguyễn Văn Hùng", "NguyÔn V¨n Hïng", "Nguyeãn Vaên Huøng", "Nguyá»…n VÄƒn HÃ¹ng"),
    ("Hà Nội", "Hµ Néi", "Haø Noäi", "HÃ\xa0 Ná»™i"),
    ("Trần Thị Hương", "TrÇn ThÞ H\xad¬ng", "Traàn Thò Höông", "Tráº§n Thá»‹ HÆ°Æ¡ng"),
    ("Đặng Thị Ngọc Ánh", "§Æng ThÞ Ngäc ¸nh", "Ñaëng Thò Ngoïc AÙnh", None),
]


def _tcvn3_expected(text: str) -> str:
    """What TCVN3 keeps of a text: toned capitals come back lower case."""
    return "".join(c if c.isascii() or c in TCVN3_CAPITALS else c.lower() for c in text)


# --- codecs -----------------------------------------------------------------


def test_table_covers_134_letters() -> None:
    assert len(LETTERS) == 134
    assert len(set(LETTERS)) == 134


@given(st.text(alphabet=ALPHABET, max_size=60))
def test_tcvn3_round_trip(text: str) -> None:
    decoded = decode_tcvn3(encode_text(text, "tcvn3"))
    assert decoded.casefold() == text.casefold()
    assert decoded == _tcvn3_expected(text)


@given(st.text(alphabet=ALPHABET, max_size=60))
def test_vni_round_trip(text: str) -> None:
    assert decode_vni(encode_text(text, "vni")) == text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-8-nfd", "utf-16", "ascii"])
@given(text=st.text(alphabet=ALPHABET, max_size=40))
def test_unicode_encodings_detect_and_decode_back(encoding: str, text: str) -> None:
    decoded, _ = detect_and_decode(encode_text(text, encoding))
    assert decoded == (strip_diacritics(text) if encoding == "ascii" else text)


def test_tcvn3_keeps_its_capitals_and_loses_the_others() -> None:
    assert decode_tcvn3(encode_text("ĐẶNG Ánh ƯƠNG", "tcvn3")) == "ĐặNG ánh ƯƠNG"


def test_tcvn3_toned_capital_shares_the_lowercase_byte() -> None:
    assert encode_text("Ễ", "tcvn3") == encode_text("ễ", "tcvn3") == b"\xd4"


def test_vni_tolerates_mixed_case_diacritic_bytes() -> None:
    assert decode_vni(b"A\xf8 a\xd8") == "À à"


@pytest.mark.parametrize(("unicode", "tcvn3", "vni", "utf8"), MOJIBAKE)
def test_mojibake_table_bytes(unicode: str, tcvn3: str, vni: str, utf8: str | None) -> None:
    assert encode_text(unicode, "tcvn3") == tcvn3.encode("cp1252")
    assert encode_text(unicode, "vni") == vni.encode("cp1252")
    assert decode_vni(vni.encode("cp1252")) == unicode
    assert decode_tcvn3(tcvn3.encode("cp1252")) == _tcvn3_expected(unicode)


def test_cp1258_uses_precomposed_letters_and_combining_tones() -> None:
    assert encode_text("Hồ Văn Ý", "cp1258") == b"H\xf4\xcc V\xe3n Y\xec"


def test_ascii_strips_diacritics() -> None:
    assert encode_text("Đặng Thị Ánh", "ascii") == b"Dang Thi Anh"


def test_utf16_has_little_endian_bom() -> None:
    assert encode_text("Hà", "utf-16") == b"\xff\xfeH\x00\xe0\x00"


def test_utf8_nfd_is_decomposed() -> None:
    assert encode_text("Hà", "utf-8-nfd") == "Ha\u0300".encode()


def test_font_encodings_reject_foreign_characters() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_text("Hà × 2", "tcvn3")
    assert encode_text("Hà × 2", "vni", errors="replace") == b"Ha\xf8 ? 2"


def test_unknown_encoding_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown encoding"):
        encode_text("Hà", "viscii")


# --- repair -------------------------------------------------------------------


@pytest.mark.parametrize(("unicode", "tcvn3", "vni", "utf8"), MOJIBAKE)
def test_repair_mojibake_cells(unicode: str, tcvn3: str, vni: str, utf8: str | None) -> None:
    assert repair_text(tcvn3) == _tcvn3_expected(unicode)
    assert repair_text(vni) == unicode
    if utf8 is not None:
        assert repair_text(utf8) == unicode
        assert repair_text(utf8.replace("\xa0", " ")) == unicode


def test_repair_restores_stripped_soft_hyphen() -> None:
    assert repair_text("TrÇn ThÞ H¬ng") == "Trần Thị Hương"
    assert repair_text("§îc") == "Được"


@pytest.mark.parametrize(
    "text",
    ["Nguyễn Văn Hùng", "Hùng", "Hà", "Thúy", "NGUYEN VAN A", "12/03/1980", "Müller", "Nam", ""],
)
def test_repair_leaves_good_text_alone(text: str) -> None:
    assert repair_text(text) == text


def test_repair_normalises_to_nfc() -> None:
    assert repair_text(unicodedata.normalize("NFD", "Hùng")) == "Hùng"


def test_repair_with_forced_encoding() -> None:
    assert repair_text("Hïng", encoding="tcvn3") == "Hùng"
    assert repair_text("Nguyễn", encoding="tcvn3") == "Nguyễn"
    with pytest.raises(ValueError, match="cannot repair"):
        repair_text("Hïng", encoding="cp1258")


def test_detect_legacy_strings_per_column() -> None:
    names = ["Nguyễn Văn Hùng", "Trần Thị Hương", "Đặng Thị Ngọc Ánh", "Hà Nội", "Lê Thị Hà"]
    tcvn3 = [encode_text(n, "tcvn3").decode("cp1252") for n in names]
    vni = [encode_text(n, "vni").decode("cp1252") for n in names]
    assert detect_legacy_strings([*tcvn3, "", "Nam"]) == "tcvn3"
    assert detect_legacy_strings(vni) == "vni"
    assert detect_legacy_strings(names) is None
    assert detect_legacy_strings(["NGUYEN VAN A", "12"]) is None
    assert detect_legacy_strings([]) is None


# --- detection ----------------------------------------------------------------


def _reference_names() -> dict[str, list[str]]:
    rows = csv.DictReader((REFERENCE / "names.csv").open(encoding="utf-8"))
    names: dict[str, list[str]] = {}
    for row in rows:
        names.setdefault(row["kind"], []).append(row["name"])
    return names


NAMES = _reference_names()
PROVINCES = [
    row["name"] for row in csv.DictReader((REFERENCE / "provinces.csv").open(encoding="utf-8"))
]
HAMLETS = ["Thôn", "Xóm", "Ấp", "Bản", "Tổ"]
COMMUNES = ["Xã", "Phường", "Thị trấn"]
DISTRICTS = ["Huyện", "Quận", "Thị xã"]
CASE_STYLES: list[Callable[[str], str]] = [str.strip, str.strip, str.upper, str.lower]
HEADERS = [
    "STT,Họ và tên,Ngày sinh,Giới tính,Địa chỉ thường trú",
    "stt,ho ten,ngay sinh,gioi tinh,dia chi",
    "MA_NK,HOTEN,NGAYSINH,GIOITINH,DIACHI",
]


def _name(rng: random.Random) -> tuple[str, str]:
    sex = rng.choice(["male", "female"])
    parts = [rng.choice(NAMES["family"]), rng.choice(NAMES[f"middle_{sex}"])]
    if rng.random() < 0.3:
        parts.append(rng.choice(NAMES[f"middle_{sex}"]))
    parts.append(rng.choice(NAMES[f"given_{sex}"]))
    return " ".join(parts), "Nam" if sex == "male" else "Nữ"


def _address(rng: random.Random) -> str:
    return (
        f"{rng.choice(HAMLETS)} {rng.randint(1, 12)}, {rng.choice(COMMUNES)} "
        f"{rng.choice(PROVINCES)}, {rng.choice(DISTRICTS)} {rng.choice(PROVINCES)}, "
        f"{rng.choice(PROVINCES)}"
    )


def _corpus_text(rng: random.Random, rows: int) -> str:
    """One synthetic register export: a header and name rows, in a random case style."""
    case = rng.choice(CASE_STYLES)
    lines = [rng.choice(HEADERS)]
    for i in range(rows):
        name, sex = _name(rng)
        date = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1930, 2020)}"
        lines.append(f'{i + 1},{case(name)},{date},{sex},"{_address(rng)}"')
    return "\r\n".join(lines) + "\r\n"


def _detection_results(
    n_texts: int, rows: int, seed: int
) -> tuple[Counter[tuple[str, str]], list[str]]:
    """Encode generated texts in every encoding; count (expected, detected) labels."""
    rng = random.Random(seed)
    expected = {"utf-8-nfd": "utf-8"}
    confusion: Counter[tuple[str, str]] = Counter()
    wrong_text: list[str] = []
    for _ in range(n_texts):
        text = _corpus_text(rng, rows)
        for encoding in ENCODINGS:
            decoded, label = detect_and_decode(encode_text(text, encoding))
            truth = expected.get(encoding, encoding)
            confusion[truth, label] += 1
            want = {"ascii": strip_diacritics(text), "tcvn3": decoded}.get(encoding, text)
            if label == truth and decoded.casefold() != want.casefold():
                wrong_text.append(encoding)
    return confusion, wrong_text


def _print_confusion(title: str, confusion: Counter[tuple[str, str]]) -> None:
    truths = sorted({t for t, _ in confusion}, key=DETECTED_LABELS.index)
    labels = sorted({d for _, d in confusion}, key=DETECTED_LABELS.index)
    total = sum(confusion.values())
    right = sum(n for (t, d), n in confusion.items() if t == d)
    print(f"\n{title}: {right}/{total} correct ({right / total:.1%})")
    print("true \\ detected".ljust(16) + "".join(label.rjust(11) for label in labels))
    for truth in truths:
        counts = "".join(str(confusion[truth, label]).rjust(11) for label in labels)
        print(truth.ljust(16) + counts)


def test_detection_confusion_table() -> None:
    """≥20 name rows per file: detection must be perfect (run with -s to see the table)."""
    confusion, wrong_text = _detection_results(n_texts=40, rows=20, seed=20240501)
    _print_confusion("Files of 20 rows, 40 texts x 8 encodings", confusion)
    assert sum(confusion.values()) >= 200
    assert all(truth == label for truth, label in confusion), confusion
    assert wrong_text == []


def test_tcvn3_corpus_text_decodes_case_folded() -> None:
    text = _corpus_text(random.Random(7), 20)
    decoded, label = detect_and_decode(encode_text(text, "tcvn3"))
    assert label == "tcvn3"
    assert decoded.casefold() == text.casefold()


def test_short_texts_are_mostly_right() -> None:
    """One-line files: not guaranteed, but the detector should rarely miss."""
    confusion, _ = _detection_results(n_texts=100, rows=1, seed=11)
    _print_confusion("One-row files, 100 texts x 8 encodings", confusion)
    right = sum(n for (t, d), n in confusion.items() if t == d)
    assert right / sum(confusion.values()) >= 0.95


@pytest.mark.parametrize("encoding", ["tcvn3", "vni", "cp1258"])
def test_single_name_line(encoding: str) -> None:
    text = "Nguyễn Thị Hương\n"
    assert detect_and_decode(encode_text(text, encoding))[1] == encoding


def test_empty_and_ascii() -> None:
    assert detect_and_decode(b"") == ("", "ascii")
    assert detect_and_decode(b"NGUYEN VAN A,1980\n") == ("NGUYEN VAN A,1980\n", "ascii")


def test_random_bytes_are_undecodable() -> None:
    data = random.Random(3).randbytes(4096)
    with pytest.raises(UndecodableError):
        detect_and_decode(data)


def test_utf16_without_bom_is_undecodable() -> None:
    with pytest.raises(UndecodableError, match="NUL"):
        detect_and_decode("Nguyễn Văn Hùng\n".encode("utf-16-le"))


def test_bad_utf16_after_bom_is_undecodable() -> None:
    with pytest.raises(UndecodableError):
        detect_and_decode(b"\xff\xfe\x00\xd8A\x00")


def test_undecodable_is_a_value_error() -> None:
    assert issubclass(UndecodableError, ValueError)


def test_utf8_with_a_stray_byte_is_still_utf8() -> None:
    text = "1,Nguyễn Văn Hùng,Hà Nội\n2,Trần Thị Hương,Thanh Hóa\n" * 10
    decoded, label = detect_and_decode(text.encode() + b"3,\xe9\n")
    assert label == "utf-8"
    assert decoded.startswith(text)
