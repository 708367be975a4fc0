"""Codecs for the text encodings of legacy Vietnamese household-register exports.

Python has no codec for the two 8-bit Vietnamese *font* encodings, TCVN3 (ABC,
TCVN 5712:1993) and VNI-Windows, so this module builds them from the byte table
in ``domain/reference/encodings.csv``. It also writes every encoding the spec
lists (``encode_text``, used by the synthetic-data generator), detects which one
a file uses (``detect_and_decode``), and repairs spreadsheet cells in which
TCVN3/VNI bytes arrive as Windows-1252 characters (``repair_text``).

TCVN3 has no toned capitals (a capital font shows the lowercase bytes), so text
decoded from TCVN3 is lower case except for Ă Â Ê Ô Ơ Ư Đ; recase names with
``domain.vntext.title_name``.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import polars as pl

from domain.tables import reference_rows
from domain.vntext import (
    TONE_MARKS,
    Evidence,
    strip_diacritics,
    strip_tones,
    vietnamese_evidence,
)

ENCODINGS = ("utf-8", "utf-8-sig", "utf-8-nfd", "utf-16", "cp1258", "tcvn3", "vni", "ascii")
"""Labels accepted by ``encode_text``."""

DETECTED_LABELS = ("utf-8", "utf-8-sig", "utf-16", "cp1258", "tcvn3", "vni", "ascii")
"""Labels ``detect_and_decode`` can return (NFD UTF-8 is reported as ``utf-8``)."""

_REPAIR_LABELS = ("tcvn3", "vni", "utf-8")
_SAMPLE_BYTES = 1 << 16
_BULK_CHARS = 4096  # texts at least this long are decoded with polars
_CONTROL_RE = re.compile(rb"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f\x7f]")
_HIGH_RE = re.compile(rb"[\x80-\xff]")
_LOST_NBSP_RE = re.compile(rb"([\xc2-\xdf]|[\xe0-\xef][\x80-\xbf]) ")
# A TCVN3 ư (0xAD, the soft hyphen) often vanishes from spreadsheet cells:
# "H¬ng" -> "Hơng". Before ng, c or u a bare ơ cannot stand, so put ư back.
_LOST_U_RE = re.compile(
    r"(?<=[bcdđghklmnpqrstvxBCDĐGHKLMNPQRSTVX])([ơờớởỡợ])(?=(?:ng|c|u)(?![^\W\d_]))"
)


class UndecodableError(ValueError):
    """Raised when bytes are clearly not text in any supported encoding."""


@dataclass(frozen=True)
class _Codec:
    """One font encoding: encode table, and a decoder working in Latin-1 character space.

    ``decode(s, strict)`` maps byte sequences to letters; bytes outside the table
    become their Windows-1252 character, or U+FFFD when ``strict``.
    """

    encode: dict[int, str]
    unmapped: re.Pattern[str]
    decode: Callable[[str, bool], str]


def _cp1252_char(byte: int) -> str:
    """Return the Windows-1252 character for a byte, or its Latin-1 one if undefined."""
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return chr(byte)


_HIGH_FALLBACK = {chr(b): _cp1252_char(b) for b in range(0x80, 0x100)}
_STRICT_FALLBACK = dict.fromkeys(_HIGH_FALLBACK, "\ufffd")


@cache
def _table_rows() -> tuple[tuple[str, str, str], ...]:
    """Read (letter, TCVN3 bytes, VNI bytes) rows from the packaged encodings.csv."""
    return tuple(
        (row["unicode_char"], bytes.fromhex(row["tcvn3"]).decode("latin-1"), row["vni"])
        for row in reference_rows("encodings.csv")
    )


def _unmapped_pattern(encode: dict[int, str]) -> re.Pattern[str]:
    """Match characters a font encoding cannot write (non-ASCII, not in its table)."""
    known = "".join(sorted(chr(cp) for cp in encode))
    return re.compile(f"[^\\x00-\\x7f{re.escape(known)}]")


def _sequence_decoder(table: dict[str, str]) -> Callable[[str, bool], str]:
    """Build a greedy longest-match decoder for byte sequences given as Latin-1 strings."""
    alternatives = sorted(table, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(seq) for seq in alternatives) + "|[\\x80-\\xff]")
    lenient = {**_HIGH_FALLBACK, **table}
    strict = {**_STRICT_FALLBACK, **table}
    # Long texts go through polars' Aho-Corasick replace_many: leftmost-first
    # with the longest sequences listed first is the same greedy longest match.
    order = [*alternatives, *(c for c in _HIGH_FALLBACK if c not in table)]
    replacements = {False: [lenient[c] for c in order], True: [strict[c] for c in order]}

    def _decode(s: str, is_strict: bool) -> str:
        if len(s) >= _BULK_CHARS:
            return str(
                pl.Series([s], dtype=pl.String)
                .str.replace_many(order, replacements[is_strict], leftmost=True)
                .item()
            )
        lookup = strict if is_strict else lenient
        return pattern.sub(lambda m: lookup[m.group()], s)

    return _decode


@cache
def _tcvn3() -> _Codec:
    """Build the TCVN3 codec: one byte per letter, toned capitals share lowercase bytes."""
    encode: dict[int, str] = {}
    decode: dict[str, str] = {}
    for letter, byte, _ in _table_rows():
        encode[ord(letter)] = byte
        # Lowercase rows come first in the table, so a shared byte decodes lowercase.
        decode.setdefault(byte, letter)
    lenient = {**_HIGH_FALLBACK, **decode}
    strict = {**_STRICT_FALLBACK, **decode}
    # One character per byte: a 256-entry charmap decodes at C speed.
    tables = {
        False: "".join(lenient.get(chr(b), chr(b)) for b in range(256)),
        True: "".join(strict.get(chr(b), chr(b)) for b in range(256)),
    }

    def _decode(s: str, is_strict: bool) -> str:
        return codecs.charmap_decode(s.encode("latin-1"), "strict", tables[is_strict])[0]

    return _Codec(encode, _unmapped_pattern(encode), _decode)


@cache
def _vni() -> _Codec:
    """Build the VNI codec: base letter + diacritic byte, some letters single bytes."""
    rows = [(letter, bytes.fromhex(vni).decode("latin-1")) for letter, _, vni in _table_rows()]
    encode = {ord(letter): seq for letter, seq in rows}
    decode = {seq: letter for letter, seq in rows}
    # Tolerate a capital base with a lowercase-sized diacritic byte and vice versa;
    # the two diacritic ranges do not collide with any single-byte letter.
    for letter, seq in rows:
        other = encode.get(ord(letter.swapcase()))
        if len(seq) == 2 and other is not None and len(other) == 2:
            decode.setdefault(seq[0] + other[1], letter)
    return _Codec(encode, _unmapped_pattern(encode), _sequence_decoder(decode))


@cache
def _cp1258_table() -> dict[int, str]:
    """Map each Vietnamese letter to the partly decomposed form Windows-1258 can write."""
    table: dict[int, str] = {}
    for letter, _, _ in _table_rows():
        try:
            letter.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        tone = "".join(c for c in unicodedata.normalize("NFD", letter) if c in TONE_MARKS)
        table[ord(letter)] = strip_tones(letter) + tone
    return table


def _font_encode(text: str, codec: _Codec, label: str, errors: str) -> bytes:
    """Encode NFC text with a font codec, handling unmappable characters per ``errors``."""
    bad = codec.unmapped.search(text)
    if bad is not None:
        if errors == "strict":
            raise UnicodeEncodeError(
                label, text, bad.start(), bad.end(), "character not in the encoding"
            )
        text = codec.unmapped.sub("?" if errors == "replace" else "", text)
    return text.translate(codec.encode).encode("latin-1")


def encode_text(text: str, encoding: str, errors: str = "strict") -> bytes:
    """Encode text as one of the encodings legacy exports arrive in.

    Args:
        text: Unicode text (any normal form; it is NFC-normalised first).
        encoding: One of ``ENCODINGS``: ``utf-8`` (NFC), ``utf-8-sig``,
            ``utf-8-nfd`` (UTF-8 of NFD text), ``utf-16`` (little endian with
            BOM), ``cp1258`` (precomposed where the code page allows, other tone
            marks combining), ``tcvn3`` (toned capitals written as their
            lowercase bytes, so case is lost), ``vni`` or ``ascii`` (diacritics
            stripped, đ -> d).
        errors: ``strict`` raises ``UnicodeEncodeError`` on characters the
            encoding cannot write; ``replace`` writes ``?``; ``ignore`` drops them.

    Returns:
        The encoded bytes.

    Raises:
        ValueError: If the encoding label is unknown.
        UnicodeEncodeError: On an unencodable character with ``errors="strict"``.
    """
    nfc = unicodedata.normalize("NFC", text)
    match encoding:
        case "utf-8":
            return nfc.encode("utf-8", errors)
        case "utf-8-sig":
            return nfc.encode("utf-8-sig", errors)
        case "utf-8-nfd":
            return unicodedata.normalize("NFD", text).encode("utf-8", errors)
        case "utf-16":
            return b"\xff\xfe" + nfc.encode("utf-16-le", errors)
        case "cp1258":
            return nfc.translate(_cp1258_table()).encode("cp1258", errors)
        case "tcvn3":
            return _font_encode(nfc, _tcvn3(), encoding, errors)
        case "vni":
            return _font_encode(nfc, _vni(), encoding, errors)
        case "ascii":
            return strip_diacritics(nfc).encode("ascii", errors)
    raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")


def decode_tcvn3(data: bytes) -> str:
    """Decode TCVN3 (ABC) bytes to NFC text.

    Toned letters come back lower case; bytes outside the table decode as
    Windows-1252.

    Args:
        data: TCVN3-encoded bytes.

    Returns:
        The decoded text in NFC.
    """
    return unicodedata.normalize("NFC", _tcvn3().decode(data.decode("latin-1"), False))


def decode_vni(data: bytes) -> str:
    """Decode VNI-Windows bytes to NFC text, matching the longest byte sequence first.

    Args:
        data: VNI-encoded bytes.

    Returns:
        The decoded text in NFC; unmatched bytes decode as Windows-1252.
    """
    return unicodedata.normalize("NFC", _vni().decode(data.decode("latin-1"), False))


def _decode_legacy(data: bytes, label: str, strict: bool) -> str:
    """Decode bytes as an 8-bit encoding or damaged UTF-8 (strict: unmapped bytes -> U+FFFD)."""
    if label in {"cp1258", "utf-8"}:
        text = data.decode(label, errors="replace")
    else:
        text = (_tcvn3() if label == "tcvn3" else _vni()).decode(data.decode("latin-1"), strict)
    return unicodedata.normalize("NFC", text)


def _evidence(label: str, text: str) -> Evidence:
    """Score decoded text; TCVN3 output is not penalised for its lower-case toned capitals."""
    return vietnamese_evidence(text, strict_case=label != "tcvn3")


def _best_label(evidence: dict[str, Evidence]) -> str:
    """Pick the label with the highest score; ties go to the earlier label."""
    return max(evidence, key=lambda label: evidence[label].score)


def detect_and_decode(data: bytes) -> tuple[str, str]:
    """Detect the encoding of an undeclared legacy export and decode it.

    BOMs decide UTF-16 and UTF-8-with-BOM; strict UTF-8 decides UTF-8 (pure
    ASCII is ``ascii``). Otherwise the bytes are decoded as TCVN3, VNI,
    Windows-1258 and UTF-8 with a few bad bytes (replaced by U+FFFD), and the
    result that reads most like Vietnamese wins: words
    must be well-formed syllables in a sane case, and mojibake symbols,
    unmapped bytes and impossible tone/final pairs count against a candidate.

    Args:
        data: The raw file contents.

    Returns:
        The text in NFC and the detected label, one of ``DETECTED_LABELS``.

    Raises:
        UndecodableError: If the data is clearly not text (control or NUL
            bytes without a UTF-16 BOM, invalid UTF-16 or UTF-8 after a BOM).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _strict_decode(data, "utf-16"), "utf-16"
    sample = data[:_SAMPLE_BYTES]
    if sample.count(0) * 100 > len(sample) or len(_CONTROL_RE.findall(sample)) * 20 > len(sample):
        raise UndecodableError("control or NUL bytes without a UTF-16 BOM: not a text file")
    if data.startswith(b"\xef\xbb\xbf"):
        return _strict_decode(data, "utf-8-sig"), "utf-8-sig"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return unicodedata.normalize("NFC", text), "ascii" if data.isascii() else "utf-8"
    evidence = {
        label: _evidence(label, _decode_legacy(sample, label, strict=True))
        for label in ("tcvn3", "vni", "cp1258", "utf-8")
    }
    label = _best_label(evidence)
    best = evidence[label]
    if best.valid <= best.invalid and len(_HIGH_RE.findall(sample)) * 3 > len(sample):
        raise UndecodableError("no Vietnamese text found in any encoding: not a text file")
    return _decode_legacy(data, label, strict=False), label


def _strict_decode(data: bytes, encoding: str) -> str:
    """Decode with a BOM-declared encoding, raising UndecodableError on bad bytes."""
    try:
        return unicodedata.normalize("NFC", data.decode(encoding))
    except UnicodeDecodeError as exc:
        raise UndecodableError(f"invalid {encoding} after its byte-order mark: {exc}") from exc


_CP1252_TO_LATIN1 = str.maketrans({v: k for k, v in _HIGH_FALLBACK.items() if v != k})


def _cell_bytes(text: str) -> bytes | None:
    """Map a cell's characters back to the bytes a Windows-1252 reader saw, if possible."""
    try:
        return text.translate(_CP1252_TO_LATIN1).encode("latin-1")
    except UnicodeEncodeError:
        return None


def _repair_candidates(raw: bytes, strict: bool) -> dict[str, str]:
    """Decode cell bytes as TCVN3, VNI and (if valid) UTF-8."""
    candidates = {
        "tcvn3": _LOST_U_RE.sub(r"ư\1", _decode_legacy(raw, "tcvn3", strict)),
        "vni": _decode_legacy(raw, "vni", strict),
    }
    with contextlib.suppress(UnicodeDecodeError):
        # A no-break space (0xA0) inside a UTF-8 sequence often turns into a space.
        utf8 = _LOST_NBSP_RE.sub(b"\\1\xa0", raw).decode("utf-8")
        candidates["utf-8"] = unicodedata.normalize("NFC", utf8)
    return candidates


def _repair_candidate(raw: bytes, label: str, default: str) -> str:
    """The one repair candidate ``_repair_candidates(raw, False)`` gives for ``label``."""
    if label == "tcvn3":
        return _LOST_U_RE.sub(r"ư\1", _decode_legacy(raw, "tcvn3", False))
    if label == "vni":
        return _decode_legacy(raw, "vni", False)
    try:
        utf8 = _LOST_NBSP_RE.sub(b"\\1\xa0", raw).decode("utf-8")
    except UnicodeDecodeError:
        return default
    return unicodedata.normalize("NFC", utf8)


def _repair_label(as_is: str, raw: bytes) -> str | None:
    """Choose the legacy encoding that explains mojibake, or None if the text reads fine."""
    baseline = vietnamese_evidence(as_is)
    if baseline.invalid == 0:
        return None
    evidence = {
        label: _evidence(label, text) for label, text in _repair_candidates(raw, True).items()
    }
    label = _best_label(evidence)
    return label if evidence[label].score > baseline.score else None


def detect_legacy_strings(values: Iterable[str]) -> str | None:
    """Decide which legacy encoding, if any, a column of spreadsheet strings is in.

    Column-level evidence is far more reliable than a single cell's. Values
    holding characters a Windows-1252 reader cannot produce are real Unicode
    and are ignored, as are pure-ASCII values.

    Args:
        values: The column's cell strings.

    Returns:
        ``"tcvn3"`` or ``"vni"`` (font-encoded bytes read as Windows-1252),
        ``"utf-8"`` (UTF-8 bytes read as Windows-1252), or None.
    """
    # Distinct values only (first occurrences, in order): the evidence is the same.
    cells = [unicodedata.normalize("NFC", v) for v in dict.fromkeys(values) if not v.isascii()]
    raw = {v: b for v in cells if (b := _cell_bytes(v)) is not None and not b.isascii()}
    if not raw:
        return None
    return _repair_label("\n".join(raw), b"\n".join(raw.values()))


def repair_text(text: str, encoding: str | None = None) -> str:
    """Repair a cell in which TCVN3, VNI or UTF-8 bytes were read as Windows-1252.

    ``NguyÔn V¨n Hïng`` (TCVN3), ``Nguyeãn Vaên Huøng`` (VNI) and
    ``Nguyá»…n VÄƒn HÃ¹ng`` (UTF-8) all become ``Nguyễn Văn Hùng``. Text that
    already reads as Vietnamese, or is plain ASCII, comes back only
    NFC-normalised. TCVN3 repairs are lower case where the font was a capital
    one; recase names with ``domain.vntext.title_name``.

    Args:
        text: The cell value.
        encoding: Force ``"tcvn3"``, ``"vni"`` or ``"utf-8"`` (for instance
            the result of ``detect_legacy_strings`` on the column) instead of
            deciding from this cell alone.

    Returns:
        The repaired (or unchanged) text in NFC.

    Raises:
        ValueError: If ``encoding`` is not one of the repairable encodings.
    """
    if encoding is not None and encoding not in _REPAIR_LABELS:
        raise ValueError(f"cannot repair {encoding!r}; expected one of {_REPAIR_LABELS}")
    nfc = unicodedata.normalize("NFC", text)
    raw = _cell_bytes(nfc)
    if raw is None or raw.isascii():
        return nfc
    label = encoding or _repair_label(nfc, raw)
    if label is None:
        return nfc
    if encoding is not None:
        return _repair_candidate(raw, encoding, nfc)
    return _repair_candidates(raw, False).get(label, nfc)
