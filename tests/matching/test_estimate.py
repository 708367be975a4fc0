"""EM recovers known m and the share of matches; u from random pairs; the model checks itself."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from matching import MatchSettings, ModelError, link_records
from matching.comparisons import exact_comparison, given_name_comparison
from matching.estimate import (
    estimate_prior,
    estimate_u,
    expectation_maximisation,
    gamma_patterns,
)
from matching.prepare import prepare_records
from matching.settings import TrainingSettings
from synth.records import records_frame, synthetic_records

pytestmark = pytest.mark.unit


def _draw(rng: np.random.Generator, probabilities: list[float], n: int) -> np.ndarray:
    return rng.choice(len(probabilities), size=n, p=probabilities)


def test_em_recovers_m_and_match_share_on_known_truth() -> None:
    rng = np.random.default_rng(123)
    true_m = [[0.05, 0.15, 0.80], [0.10, 0.90], [0.02, 0.08, 0.20, 0.70]]
    true_u = [[0.90, 0.07, 0.03], [0.50, 0.50], [0.95, 0.03, 0.015, 0.005]]
    n_match, n_non = 3_000, 27_000
    columns = {}
    for c, (m, u) in enumerate(zip(true_m, true_u, strict=True)):
        levels = np.concatenate([_draw(rng, m, n_match), _draw(rng, u, n_non)])
        levels[rng.random(levels.size) < 0.05] = -1  # some nulls
        columns[f"gamma_c{c}"] = levels.astype(np.int8)
    patterns, counts = gamma_patterns(pl.DataFrame(columns), ["c0", "c1", "c2"])
    ramps = [np.linspace(1.0, 1.1, len(levels)) for levels in true_m]  # near-uniform start
    start = [ramp / ramp.sum() for ramp in ramps]
    m_hat, share, iterations, converged = expectation_maximisation(
        patterns, counts, start, [np.array(u) for u in true_u], [True] * 3, 500, 1e-7
    )
    assert converged and iterations < 500
    assert share == pytest.approx(0.1, abs=0.01)
    for estimated, truth in zip(m_hat, true_m, strict=True):
        np.testing.assert_allclose(estimated, truth, atol=0.03)


def test_prior_fixed_point_counts_expected_matches() -> None:
    # 10 candidate pairs with overwhelming evidence among 10_000 pairs: λ ≈ 10 / 10_000.
    patterns = np.array([[1], [0]])
    counts = np.array([10.0, 90.0])
    m, u = [np.array([0.001, 0.999])], [np.array([0.999999, 0.000001])]
    assert estimate_prior(patterns, counts, m, u, 10_000) == pytest.approx(1e-3, rel=0.01)


def test_model_on_synthetic_records_is_sane_and_deterministic() -> None:
    records, _ = synthetic_records(1500, seed=11)
    first = link_records(records)
    model = first.model
    assert model.converged
    for comparison in model.comparisons:
        assert comparison.m[-1] > comparison.u[-1], comparison.name
        assert comparison.m[0] < comparison.u[0], comparison.name
        assert sum(comparison.m) == pytest.approx(1.0)
        assert sum(comparison.u) == pytest.approx(1.0)
    # u of sex agreement from random pairs is about one half
    assert model.comparison("sex").u[1] == pytest.approx(0.5, abs=0.02)
    saved = model.to_dict()
    assert {"comparisons", "prior", "iterations", "converged", "sessions"} <= saved.keys()
    second = link_records(records)
    assert first.pairs.equals(second.pairs)
    assert first.clusters.equals(second.clusters)


def test_model_error_when_an_agreement_level_is_not_informative() -> None:
    records, truth = synthetic_records(800, seed=3)
    # A field where records of one person disagree (first record "A", the others "B")
    # while random pairs mostly agree: its agreement level is not evidence of a match.
    first = truth.with_columns(
        first=pl.col("record_key") == pl.col("record_key").min().over("person_id")
    )
    records = records.join(first.select("record_key", "first"), on="record_key").with_columns(
        birth_province_code=pl.when(pl.col("first")).then(pl.lit("A")).otherwise(pl.lit("B"))
    )
    with pytest.raises(ModelError, match="birth_province: m <= u on 'exact'"):
        link_records(records.drop("first"))


def test_model_error_when_em_does_not_converge() -> None:
    records, _ = synthetic_records(800, seed=3)
    with pytest.raises(ModelError, match="did not converge"):
        base = MatchSettings()
        link_records(records, replace(base, training=replace(base.training, em_max_iterations=1)))


def test_term_frequency_adjustment_by_hand() -> None:
    from matching.estimate import ComparisonModel

    model = ComparisonModel(
        name="given_name",
        labels=("else", "fuzzy", "exact"),
        m=(0.1, 0.1, 0.8),
        u=(0.9, 0.08, 0.02),
        estimated_in=("dob_sex",),
        tf_levels=(2,),
        tf_minimum=1e-4,
    )
    levels = np.array([2, 2, 2, 1, -1, 0])
    tf = np.array([0.2, 0.001, 1e-6, 0.2, np.nan, 0.2])
    weights = model.pair_weights(levels, tf)
    # exact: log2(m / tf) (Splink's m / tf), tf floored at 1e-4; other levels log2(m / u).
    expected = [np.log2(0.8 / 0.2), np.log2(0.8 / 0.001), np.log2(0.8 / 1e-4),
                np.log2(0.1 / 0.08), 0.0, np.log2(0.1 / 0.9)]  # fmt: skip
    np.testing.assert_allclose(weights, expected)
    # Without frequencies the weights are the plain ones.
    np.testing.assert_allclose(model.pair_weights(levels)[:3], [np.log2(0.8 / 0.02)] * 3)


def test_u_of_plain_comparisons_from_the_larger_sample() -> None:
    """Comparisons without string similarities take u from ``u_sample_pairs_plain`` pairs.

    With 60 records (1,770 pairs), a plain sample of 10,000 pairs means all
    pairs: the sex comparison's u is then the exact share, computed by hand;
    the given name (Jaro-Winkler) keeps the small sample.
    """
    sexes = ["M"] * 40 + ["F"] * 20
    rows = [
        {"record_key": f"{i:03d}", "sex": s, "given_name": f"Name{i % 7}"}
        for i, s in enumerate(sexes)
    ]
    prepared = prepare_records(records_frame(rows))
    comparisons = (exact_comparison("sex", "sex"), given_name_comparison())
    settings = MatchSettings(
        comparisons=comparisons,
        training=TrainingSettings(u_sample_pairs=50, u_sample_pairs_plain=10_000),
    )
    u, pairs = estimate_u(prepared, comparisons, settings)
    agree = 40 * 39 // 2 + 20 * 19 // 2  # 970 of 1,770 pairs share a sex
    assert u[0][1] == pytest.approx((agree + 1) / (1770 + 2))
    assert pairs <= 50
    settings_small = replace(settings, training=replace(settings.training, u_sample_pairs_plain=1))
    u_small, _ = estimate_u(prepared, comparisons, settings_small)
    assert u_small[0][1] != pytest.approx(u[0][1])
    assert u_small[1].tolist() == u[1].tolist()
