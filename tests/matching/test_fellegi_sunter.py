"""Fellegi-Sunter arithmetic against hand calculations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import matching
from matching import fellegi_sunter as fs

pytestmark = pytest.mark.unit


def test_matching_package_resolves_inside_the_repo() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert Path(matching.__file__).resolve().parent == repo / "matching"


def test_bayes_factor_and_weight_by_hand() -> None:
    # m = 0.9, u = 0.05: Bayes factor 18, weight log2(18) = 4.1699...
    assert fs.bayes_factor(0.9, 0.05) == pytest.approx(18.0)
    assert fs.match_weight(0.9, 0.05) == pytest.approx(4.169925, abs=1e-6)
    # disagreement: m = 0.1, u = 0.95 -> log2(0.10526) = -3.2479
    assert fs.match_weight(0.1, 0.95) == pytest.approx(-3.247928, abs=1e-6)


def test_prior_weight_and_probability_by_hand() -> None:
    # λ = 1/1001: odds 1/1000, weight log2(0.001) = -9.9658
    assert fs.prior_weight(1 / 1001) == pytest.approx(-9.965784, abs=1e-6)
    # total weight 0 -> probability 1/2; weight 3 -> 8/9; weight -1 -> 1/3
    assert fs.probability_from_weight(0.0) == pytest.approx(0.5)
    assert fs.probability_from_weight(3.0) == pytest.approx(8 / 9)
    assert fs.probability_from_weight(-1.0) == pytest.approx(1 / 3)


def test_worked_example_prior_plus_comparisons() -> None:
    # Prior 1/1001 (-9.9658) + agree on name (4.1699) + agree on date (log2(0.95/0.001))
    weight = fs.prior_weight(1 / 1001) + fs.match_weight(0.9, 0.05) + fs.match_weight(0.95, 0.001)
    by_hand = math.log2((1 / 1000) * 18 * 950)  # posterior odds 17.1
    assert weight == pytest.approx(by_hand)
    assert fs.probability_from_weight(weight) == pytest.approx(17.1 / 18.1)


def test_functions_are_elementwise_and_inverse() -> None:
    p = np.array([0.01, 0.5, 0.99])
    np.testing.assert_allclose(fs.probability_from_weight(fs.weight_from_probability(p)), p)
    # large weights do not overflow
    np.testing.assert_allclose(
        fs.probability_from_weight(np.array([2000.0, -2000.0])), [1, 0], atol=1e-12
    )
