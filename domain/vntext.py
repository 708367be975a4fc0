"""Vietnamese text normalisation: tone placement, ASCII folding and name casing.

Vietnamese writes one tone mark per syllable, and two conventions place it
differently in open syllables ending in ``oa``, ``oe`` and ``uy``: ``hoà`` /
``hòa``, ``khoẻ`` / ``khỏe``, ``thuý`` / ``thúy``. Both survive NFC, so the
same name can be stored in two byte-different forms. ``normalize`` settles on
the convention of ``domain/reference/provinces.csv`` (``Hòa Bình``,
``Thanh Hóa``): in an open syllable the tone sits on the first of two vowels;
when a final consonant follows, on the last vowel (``hoàng``); a vowel with a
hat, breve or horn always takes it (``thuyết``, ``người``).

The module also says whether a word is a well-formed Vietnamese syllable
(``is_syllable``), which the legacy-encoding detector uses as evidence.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache, lru_cache

import polars as pl

from domain.tables import reference_rows

TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"
"""Combining grave (huyền), acute (sắc), tilde (ngã), hook (hỏi), dot below (nặng)."""

_TONE_RE = re.compile(f"[{TONE_MARKS}]")
_COMBINING_RE = re.compile(r"[\u0300-\u036f]")
_SPACE_RE = re.compile(r"\s+")
_WORD_RE = re.compile(r"[^\W\d_]+")
_D_FOLD = str.maketrans({"đ": "d", "Đ": "D"})

_VOWELS = "aăâeêioôơuưy"
_MODIFIED_VOWELS = "ăâêôơư"
_CONSONANTS = "bcdđghklmnpqrstvx"
_PARTS_RE = re.compile(f"([{_CONSONANTS}]*)([{_VOWELS}]+)([{_CONSONANTS}]*)")

_ONSETS = "ngh ng nh ch gh gi kh ph th tr qu b c d đ g h k l m n p r s t v x"
_RHYMES = """
a ai ao au ay ac ach am an ang anh ap at ak ăc ăm ăn ăng ăp ăt ăk
âc âm ân âng âp ât âu ây e ec em en eng eo ep et ê êch êm ên ênh êp êt êu
i ia ich im in inh ip it iu iêc iêm iên iêng iêp iêt iêu
o oc oi om on ong op ot ok ooc oong oa oac oach oai oam oan oang oanh oao oap oat oay
oăc oăm oăn oăng oăt oe oen oeo oet ô ôc ôi ôm ôn ông ôp ôt ôk ơ ơi ơm ơn ơp ơt
u ua uc ui um un ung up ut uk uân uâng uât uây uê uêch uênh
uy uya uych uyên uyêt uynh uyt uyu uôc uôi uôm uôn uông uôt uơ
ư ưa ưc ưi ưm ưn ưng ưt ưu ươc ươi ươm ươn ương ươp ươt ươu
y yêm yên yêng yêt yêu ynh ych yt
"""
_SYLLABLE_RE = re.compile(
    "(?:{})?(?:{})".format(
        "|".join(sorted(_ONSETS.split(), key=len, reverse=True)),
        "|".join(sorted(_RHYMES.split(), key=len, reverse=True)),
    )
)
_STOP_CODA_RE = re.compile("(?:c|ch|p|t|k)$")
_STOP_TONES = {"\u0301", "\u0323"}

# Words: runs of anything but whitespace, ASCII digits and ASCII punctuation.
_TOKEN_RE = re.compile(r"[^\s!-@\[-`{-~]+")
_COMMON_WORDS = """
xã phường thị trấn huyện quận tỉnh thành phố thôn ấp bản tổ khu số nhà đường ngõ
hẻm kiệt xóm làng nam nữ chủ hộ vợ chồng con cháu bố mẹ anh chị em ông bà không
việt kinh thường trú tạm làm ruộng học sinh nông dân giáo viên buôn bán hưu trí
công nhân đạo phật thiên chúa cha
"""

# In NFD, an open oa/oe/uy syllable with the tone on its second vowel.
_NFD_OA_OE = r"([oO])([aAeE])([\x{0300}\x{0301}\x{0303}\x{0309}\x{0323}])\b"
_NFD_UY = r"(^|[^qQ])([uU])([yY])([\x{0300}\x{0301}\x{0303}\x{0309}\x{0323}])\b"


def strip_tones(text: str) -> str:
    """Remove tone marks only, keeping hats, breves, horns and đ (``Hoàng`` -> ``Hoang``).

    Args:
        text: Any Unicode text.

    Returns:
        The text in NFC without tone marks.
    """
    return unicodedata.normalize("NFC", _TONE_RE.sub("", unicodedata.normalize("NFD", text)))


@lru_cache(maxsize=65536)
def is_syllable(word: str) -> bool:
    """Say whether a word is a well-formed Vietnamese syllable, in any case.

    Checks onset, rhyme, at most one tone mark, and that a stop final
    (c, ch, p, t) carries the sắc or nặng tone.

    Args:
        word: One word, without spaces or punctuation.

    Returns:
        True if the word spells a Vietnamese syllable.
    """
    decomposed = unicodedata.normalize("NFD", word.lower())
    tones = _TONE_RE.findall(decomposed)
    if len(tones) > 1:
        return False
    bare = unicodedata.normalize("NFC", _TONE_RE.sub("", decomposed))
    if _SYLLABLE_RE.fullmatch(bare) is None:
        return False
    return not (_STOP_CODA_RE.search(bare) and not _STOP_TONES.intersection(tones))


@dataclass(frozen=True)
class Evidence:
    """How Vietnamese a text looks, from its words that contain non-ASCII letters.

    Attributes:
        valid: Words that are well-formed Vietnamese syllables.
        invalid: Words that are not (mojibake, stray symbols, impossible tones).
        common: Valid words found among common name, place and record words.
    """

    valid: int
    invalid: int
    common: int

    @property
    def score(self) -> int:
        """Net evidence: valid and common words count, invalid ones count double against."""
        return self.valid + self.common - 2 * self.invalid


@cache
def _common_syllables() -> frozenset[str]:
    """Lower-case syllables of reference names and provinces plus common record words."""
    words = set(_COMMON_WORDS.split())
    for name, columns in {"names.csv": ("name", "variant"), "provinces.csv": ("name",)}.items():
        for row in reference_rows(name):
            for column in columns:
                words.update(unicodedata.normalize("NFC", row[column].lower()).split())
    return frozenset(words)


def _plausible(word: str, strict_case: bool) -> bool:
    """Say whether a word is a syllable, in lower, upper or title case if ``strict_case``."""
    if strict_case and word not in {word.lower(), word.upper(), word.capitalize()}:
        return False
    return is_syllable(word)


def vietnamese_evidence(text: str, *, strict_case: bool = True) -> Evidence:
    """Count evidence that a text is correctly decoded Vietnamese.

    Only words with a non-ASCII character count: ASCII words look the same
    under every legacy encoding.

    Args:
        text: Decoded text.
        strict_case: Count mixed-case words (``NguyÔn``) as invalid. Turn off
            for TCVN3, whose toned capitals decode lower case (``NGUYễN``).

    Returns:
        The word counts.
    """
    # Each distinct word is judged once and counted as often as it occurs.
    words = Counter(w for w in _TOKEN_RE.findall(text) if not w.isascii())
    valid = {w: n for w, n in words.items() if _plausible(w, strict_case)}
    common = _common_syllables()
    n_valid = sum(valid.values())
    return Evidence(
        valid=n_valid,
        invalid=sum(words.values()) - n_valid,
        common=sum(n for w, n in valid.items() if w.lower() in common),
    )


def _tone_index(vowels: str, closed: bool) -> int:
    """Return the index of the vowel that carries the tone in a vowel cluster.

    Args:
        vowels: The lowercase vowel nucleus, onset glides (qu, gi) removed.
        closed: Whether a final consonant follows.

    Returns:
        Index into ``vowels``.
    """
    modified = [i for i, v in enumerate(vowels) if v in _MODIFIED_VOWELS]
    if modified:
        return modified[-1]
    if closed:
        return len(vowels) - 1
    return 1 if len(vowels) == 3 else 0


@lru_cache(maxsize=65536)
def _retone(word: str) -> str:
    """Move the tone mark of one NFC word to its conventional vowel, keeping case."""
    decomposed = unicodedata.normalize("NFD", word)
    tones = _TONE_RE.findall(decomposed)
    if len(tones) != 1:
        return word
    bare = unicodedata.normalize("NFC", _TONE_RE.sub("", decomposed))
    parts = _PARTS_RE.fullmatch(bare.lower())
    if parts is None:
        return word
    onset, vowels, coda = parts.groups()
    if len(vowels) > 1 and (onset, vowels[0]) in {("q", "u"), ("g", "i")}:
        onset, vowels = onset + vowels[0], vowels[1:]
    pos = len(onset) + _tone_index(vowels, bool(coda))
    return unicodedata.normalize("NFC", bare[: pos + 1] + tones[0] + bare[pos + 1 :])


def normalize(text: str) -> str:
    """Normalise Vietnamese text: NFC, trimmed, single spaces, one tone placement.

    Args:
        text: Any Unicode text.

    Returns:
        The normalised text, case kept (``"  Thanh  Hoá "`` -> ``"Thanh Hóa"``).
    """
    nfc = _SPACE_RE.sub(" ", unicodedata.normalize("NFC", text)).strip()
    return _WORD_RE.sub(lambda m: _retone(m.group()), nfc)


def strip_diacritics(text: str) -> str:
    """Remove all diacritics, keeping case (``Đặng`` -> ``Dang``).

    Args:
        text: Any Unicode text.

    Returns:
        The text with combining marks removed and đ/Đ replaced by d/D.
    """
    return _COMBINING_RE.sub("", unicodedata.normalize("NFD", text)).translate(_D_FOLD)


def fold(text: str) -> str:
    """Fold text to a lower-case key without diacritics, for matching and headers.

    Args:
        text: Any Unicode text.

    Returns:
        Lower case, combining marks removed, đ -> d, whitespace collapsed
        (``" Họ  và Tên "`` -> ``"ho va ten"``).
    """
    return _SPACE_RE.sub(" ", strip_diacritics(text).lower()).strip()


def title_name(text: str) -> str:
    """Recase a name to Title Case per word (``đặng thị ánh`` -> ``Đặng Thị Ánh``).

    Needed after TCVN3 decoding, which loses the case of toned capitals.

    Args:
        text: A name in any case.

    Returns:
        The NFC name with each run of letters capitalised.
    """
    nfc = unicodedata.normalize("NFC", text)
    return _WORD_RE.sub(lambda m: m.group()[:1].upper() + m.group()[1:].lower(), nfc)


def fold_expr(col: pl.Expr) -> pl.Expr:
    """Polars version of ``fold``.

    Args:
        col: A string expression.

    Returns:
        An expression giving the folded key.
    """
    return (
        col.str.normalize("NFD")
        .str.replace_all(r"\p{M}", "")
        .str.replace_all("[đĐ]", "d")
        .str.to_lowercase()
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def normalize_expr(col: pl.Expr) -> pl.Expr:
    """Polars version of ``normalize`` for the common cases.

    Applies NFC, whitespace clean-up and the oa/oe/uy convention (``hoà`` ->
    ``hòa``, ``thuý`` -> ``thúy``, ``khoẻ`` -> ``khỏe``), which is where
    well-typed text differs. Use ``normalize`` to also repair tones typed on an
    unusual vowel (``hòang``).

    Args:
        col: A string expression.

    Returns:
        An expression giving the normalised text.
    """
    return (
        col.str.normalize("NFD")
        .str.replace_all(_NFD_OA_OE, "${1}${3}${2}")
        .str.replace_all(_NFD_UY, "${1}${2}${4}${3}")
        .str.normalize("NFC")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


#: C0 and C1 control characters (ESC, BEL, NUL, ...) other than tab, line feed and
#: carriage return: they never belong in a cell, and reach terminals and record keys.
CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
#: Markup, code and other text that is not a person's name (``<script>``, ``{{x}}``,
#: ``=cmd|...``, ``&#60;``, ``javascript:``), or a name with no letter at all.
_NOT_A_NAME = r"[<>{}\[\]\\|=;$`]|&#?\w+;|(?i:javascript:)|^[^\p{L}]*$"
NOT_A_NAME_REASON = "name is not a name (markup, code or no letters): verify before a PIN"


def without_control_characters(text: pl.Expr) -> pl.Expr:
    """``text`` with its control characters (``CONTROL_CHARACTERS``) removed."""
    return text.str.replace_all(CONTROL_CHARACTERS, "")


def not_a_name_expr(name: pl.Expr) -> pl.Expr:
    """True where a (non-null) name is markup, code or holds no letter; null where null."""
    return name.str.contains(_NOT_A_NAME)
