"""Both records' values for each pair, and similarity scores of those values.

String columns are dictionary-encoded (``encode_strings``): each becomes a
Categorical of one category list private to the call and shared by all of
them. A pair's values are then gathered as 32-bit codes rather than as
strings, and two values have the same code exactly when they are the same
string, in one column or across two, so equality, null checks and a
comparison with a string literal give what they give on the strings.

A similarity is a function of the two values alone, so it is scored once
per distinct pair of codes (rapidfuzz ``process.cpdist`` on the decoded
strings, in chunks) and spread back to the pairs (``pandas.factorize``
finds each pair's distinct pair in one hashing pass). ``ScoreCache``
keeps the scores of the pairs of values met in earlier slices of one call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import OSA, JaroWinkler

Scorer = Literal["jaro_winkler", "osa", "words_within"]
Scores = npt.NDArray[np.float32]

_CHUNK = 500_000
#: Code standing for a null value in a pair key (never a category's code).
_NULL = 0xFFFFFFFF


@dataclass(frozen=True)
class Similarity:
    """A similarity of one prepared column between the two sides of a pair.

    Scorers: ``jaro_winkler`` (normalised Jaro-Winkler similarity),
    ``osa`` (Levenshtein distance with adjacent transpositions) and
    ``words_within`` (1 when one side's words appear, whole and in order,
    inside the other side, else 0). A null value is scored as an empty string.
    """

    column: str
    scorer: Scorer

    @property
    def name(self) -> str:
        """Column name of the score in the pair frame."""
        return f"{self.scorer}__{self.column}"


def encode_strings(records: pl.DataFrame, columns: Iterable[str] | None = None) -> pl.DataFrame:
    """Cast the String columns of ``records`` (or of ``columns``) to one shared Categorical.

    The categories are private to the call (not polars' global ones) unless
    a column of ``records`` is Categorical already: the String columns then
    join its categories, so a frame can be encoded in parts. Nulls stay null.
    """
    names = records.columns if columns is None else list(dict.fromkeys(columns))
    strings = [c for c in names if records.schema[c] == pl.String]
    if not strings:
        return records
    existing = next((t for t in records.dtypes if isinstance(t, pl.Categorical)), None)
    dtype = existing or pl.Categorical(pl.Categories.random())
    return records.with_columns(pl.col(strings).cast(dtype))


def pair_frame(records: pl.DataFrame, pairs: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    """Gather both sides' columns for each pair, String columns as shared Categoricals.

    A String column of ``records`` is encoded first when the pairs are many
    (the codes are gathered instead of the strings), or after gathering when
    they are few. Pass ``encode_strings(records)`` to encode once for many calls.

    Args:
        records: Output of ``prepare_records`` (row ``i`` has ``rid == i``),
            or columns of it.
        pairs: Frame with ``rid_l`` and ``rid_r``.
        columns: Columns of ``records`` to bring in as ``<column>_l``/``<column>_r``.

    Returns:
        ``pairs`` with the gathered columns appended.
    """
    columns = list(dict.fromkeys(columns))
    if not columns:
        return pairs
    few = 2 * pairs.height < records.height
    source = (records if few else encode_strings(records, columns)).select(columns)
    sides = [
        source.gather(pairs[f"rid_{side}"]).rename({c: f"{c}_{side}" for c in columns})
        for side in "lr"
    ]
    frame = pl.concat([pairs, *sides], how="horizontal")
    return encode_strings(frame, (f"{c}_{side}" for c in columns for side in "lr"))


def _cpdist(scorer: Any) -> Callable[[pl.Series, pl.Series], Scores]:
    def score(left: pl.Series, right: pl.Series) -> Scores:
        a, b = left.to_list(), right.to_list()
        out = np.empty(len(a), dtype=np.float32)
        for start in range(0, len(a), _CHUNK):
            stop = start + _CHUNK
            out[start:stop] = process.cpdist(
                a[start:stop], b[start:stop], scorer=scorer, dtype=np.float32
            )
        return out

    return score


def _words_within(left: pl.Series, right: pl.Series) -> Scores:
    """1 where one side's words appear, in order and whole, inside the other side."""
    padded = pl.DataFrame({"a": " " + left + " ", "b": " " + right + " "})
    a, b = pl.col("a"), pl.col("b")
    within = padded.select(a.str.contains(b, literal=True) | b.str.contains(a, literal=True))
    return within.to_series().to_numpy().astype(np.float32)


_SCORERS: dict[str, Callable[[pl.Series, pl.Series], Scores]] = {
    "jaro_winkler": _cpdist(JaroWinkler.normalized_similarity),
    "osa": _cpdist(OSA.distance),  # Levenshtein plus adjacent transposition
    "words_within": _words_within,
}


@dataclass(frozen=True)
class _Scored:
    """Scores of one column's pairs of values: the encoding, sorted keys, one row per scorer."""

    dtype: pl.DataType
    keys: npt.NDArray[np.uint64]
    scores: npt.NDArray[np.float32]


@dataclass
class ScoreCache:
    """Scores of the pairs of values already met, per column and scorers.

    An entry belongs to one encoding (its keys are pairs of codes) and is
    replaced when a frame of another encoding comes. ``limit`` bounds the
    keys kept per entry (further pairs are scored, not kept).
    """

    limit: int = 1_000_000
    scored: dict[tuple[str, tuple[Scorer, ...]], _Scored] = field(default_factory=dict)


def _pair_keys(left: pl.Series, right: pl.Series) -> npt.NDArray[np.uint64]:
    """One integer per pair of values: left code in the high 32 bits, right code below."""
    codes_l = left.to_physical().fill_null(_NULL).to_numpy().astype(np.uint64)
    codes_r = right.to_physical().fill_null(_NULL).to_numpy().astype(np.uint64)
    return (codes_l << np.uint64(32)) | codes_r


def _decode(codes: npt.NDArray[np.uint64], dtype: pl.DataType) -> pl.Series:
    """Strings of the codes (the null code as an empty string)."""
    physical = pl.Series(codes.astype(np.uint32))
    known = pl.select(pl.when(physical != _NULL).then(physical)).to_series()
    return known.cat.to(dtype).cast(pl.String).fill_null("")


def _column_scores(
    frame: pl.DataFrame, column: str, scorers: tuple[Scorer, ...], cache: ScoreCache | None
) -> npt.NDArray[np.float32]:
    """Scores (one row per scorer, one column per pair) of one column's pairs of values."""
    left, right = frame[f"{column}_l"], frame[f"{column}_r"]
    # Hash-based, unlike numpy's sort-based unique: each pair's index among the distinct keys.
    import pandas as pd  # only here: a process that only reads settings skips pandas

    inverse, keys = pd.factorize(_pair_keys(left, right))
    entry = cache.scored.get((column, scorers)) if cache is not None else None
    if entry is None or entry.dtype != left.dtype:
        entry = _Scored(left.dtype, keys[:0], np.empty((len(scorers), 0), dtype=np.float32))
    scores = np.empty((len(scorers), len(keys)), dtype=np.float32)
    hit = np.zeros(len(keys), dtype=bool)
    if len(entry.keys):
        at = np.minimum(np.searchsorted(entry.keys, keys), len(entry.keys) - 1)
        hit = entry.keys[at] == keys
        scores[:, hit] = entry.scores[:, at[hit]]
    where = np.flatnonzero(~hit)
    keep = cache is not None and 0 < len(where) <= cache.limit - len(entry.keys)
    if keep:
        where = where[np.argsort(keys[where])]  # sorted, to merge into the cache
    new_keys = keys[where]
    values_l = _decode(new_keys >> np.uint64(32), left.dtype)
    values_r = _decode(new_keys & np.uint64(_NULL), right.dtype)
    for i, scorer in enumerate(scorers):
        scores[i, where] = _SCORERS[scorer](values_l, values_r)
    if cache is not None and keep:
        at = np.searchsorted(entry.keys, new_keys)  # both sorted: a linear merge
        cache.scored[column, scorers] = _Scored(
            left.dtype,
            np.insert(entry.keys, at, new_keys),
            np.insert(entry.scores, at, scores[:, where], axis=1),
        )
    return scores[:, inverse]


def similarity_scores(
    frame: pl.DataFrame, sims: Iterable[Similarity], cache: ScoreCache | None = None
) -> list[pl.Series]:
    """Score each similarity on a pair frame: one Float32 series named ``sim.name`` each.

    Nulls are scored as empty strings. Each distinct pair of values of a
    column is scored once (and, with ``cache``, once across the calls that
    share one encoding).
    """
    by_column: dict[str, dict[Scorer, Similarity]] = {}
    for sim in sims:
        by_column.setdefault(sim.column, {})[sim.scorer] = sim
    out = []
    for column, group in by_column.items():
        frame = encode_strings(frame, (f"{column}_l", f"{column}_r"))
        scores = _column_scores(frame, column, tuple(group), cache)
        out += [pl.Series(sim.name, row) for sim, row in zip(group.values(), scores, strict=True)]
    return out
