"""Name keys for matching, as polars expressions: folded, phonetic and surname-variant.

Folding is ``domain.vntext.fold_expr`` (the one fold of the code base:
no diacritics, ``đ`` to ``d``, lower case), followed by what matching needs
on top: punctuation to spaces, and empty text to null (``name_fold_expr``).
``phonetic_expr`` merges the spellings that sound alike across northern and
southern pronunciation; ``family_variant_expr`` merges the two historical
surname pairs Hoàng/Huỳnh and Vũ/Võ (see the domain notes, section 4).
"""

from __future__ import annotations

import polars as pl

from domain.vntext import fold_expr

#: Whole-word surname variants: the same Sino-Vietnamese surname (黃, 武).
_FAMILY_VARIANTS: tuple[tuple[str, str], ...] = (
    (r"\bhuynh\b", "hoang"),
    (r"\bvo\b", "vu"),
)

#: Ordered (pattern, replacement) rewrites applied to folded text.
_PHONETIC_RULES: tuple[tuple[str, str], ...] = (
    *_FAMILY_VARIANTS,
    (r"\bngh", "ng"),  # nghĩa / ngĩa
    (r"\bgh", "g"),
    (r"\bgi", "z"),  # gi / d / r sound alike in the north
    (r"\b[dr]", "z"),
    (r"\btr", "ch"),  # tr / ch
    (r"\bs", "x"),  # s / x
    (r"\bk", "c"),
    (r"\bph", "f"),
    (r"ng\b", "n"),  # final n / ng in the south
    (r"c\b", "t"),  # final c / t
    (r"y", "i"),  # i / y
)


def name_fold_expr(expr: pl.Expr) -> pl.Expr:
    """Fold a name to lowercase ASCII words separated by single spaces.

    Args:
        expr: A string expression (NFC or NFD, any case).

    Returns:
        ``fold_expr`` with every run of other characters made one space;
        empty strings become null.
    """
    folded = fold_expr(expr).str.replace_all(r"[^a-z0-9]+", " ").str.strip_chars()
    return pl.when(folded.str.len_chars() > 0).then(folded).otherwise(None)


def family_variant_expr(folded: pl.Expr) -> pl.Expr:
    """Map Huỳnh to Hoàng and Võ to Vũ in already-folded text."""
    for pattern, replacement in _FAMILY_VARIANTS:
        folded = folded.str.replace_all(pattern, replacement)
    return folded


def phonetic_expr(folded: pl.Expr) -> pl.Expr:
    """Return a coarse phonetic key of already-folded Vietnamese text.

    Merges initial d/gi/r, tr/ch, s/x, k/c, ph/f, ngh/ng, gh/g; final ng/n
    and c/t; i/y; and the surname variants Huỳnh/Hoàng and Võ/Vũ.
    """
    for pattern, replacement in _PHONETIC_RULES:
        folded = folded.str.replace_all(pattern, replacement)
    return folded
