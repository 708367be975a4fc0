"""Pair values as shared codes: equality across columns, scores per distinct pair, the cache."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from rapidfuzz.distance import OSA, JaroWinkler

from matching.pair_values import (
    ScoreCache,
    Similarity,
    encode_strings,
    pair_frame,
    similarity_scores,
)

pytestmark = pytest.mark.unit


def _records() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "rid": [0, 1, 2, 3],
            "name": ["hung", "hưng", None, "hung"],
            "other": ["hưng", "lan", "hung", None],
            "stage": ["day", "year", "day", None],
        }
    )


def test_codes_compare_like_strings_across_columns_and_with_literals() -> None:
    pairs = pl.DataFrame({"rid_l": [0, 0, 1, 2, 3], "rid_r": [1, 3, 2, 3, 0]})
    expressions = {
        "same": pl.col("name_l") == pl.col("name_r"),
        "across": pl.col("name_l") == pl.col("other_r"),
        "literal": pl.col("stage_r") == "year",
    }
    strings = pl.DataFrame(
        {
            f"{c}_{s}": _records()[c].gather(pairs[f"rid_{s}"])
            for c in ("name", "other", "stage")
            for s in "lr"
        }
    )
    frame = pair_frame(_records(), pairs, ["name", "other", "stage"])
    assert isinstance(frame.schema["name_l"], pl.Categorical)
    assert frame.select(**expressions).equals(strings.select(**expressions))


def test_scores_equal_rapidfuzz_on_each_pair_with_nulls_as_empty() -> None:
    records = encode_strings(_records())
    pairs = pl.DataFrame({"rid_l": [0, 0, 1, 2, 0], "rid_r": [1, 3, 2, 3, 1]})
    frame = pair_frame(records, pairs, ["name"])
    sims = [Similarity("name", "jaro_winkler"), Similarity("name", "osa")]
    left = ["" if v is None else v for v in records["name"].cast(pl.String).gather(pairs["rid_l"])]
    right = ["" if v is None else v for v in records["name"].cast(pl.String).gather(pairs["rid_r"])]
    cache = ScoreCache()
    for _ in range(2):  # the second call reads the cache
        jw, osa = similarity_scores(frame, sims, cache)
        expected_jw = [
            JaroWinkler.normalized_similarity(a, b) for a, b in zip(left, right, strict=True)
        ]
        np.testing.assert_allclose(jw.to_numpy(), expected_jw, rtol=1e-6)
        assert osa.to_list() == [OSA.distance(a, b) for a, b in zip(left, right, strict=True)]
    assert len(cache.scored["name", ("jaro_winkler", "osa")].keys) == 4


def test_words_within() -> None:
    records = pl.DataFrame({"rid": [0, 1, 2, 3], "m": ["thi", "thi thu", "thu thi", "th"]})
    pairs = pl.DataFrame({"rid_l": [0, 0, 1, 0], "rid_r": [1, 2, 2, 3]})
    frame = pair_frame(records, pairs, ["m"])
    (within,) = similarity_scores(frame, [Similarity("m", "words_within")])
    assert within.to_list() == [1.0, 1.0, 0.0, 0.0]
