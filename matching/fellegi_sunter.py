"""The Fellegi-Sunter arithmetic, as small typed functions.

Fellegi, I. P. and Sunter, A. B. (1969), "A Theory for Record Linkage",
Journal of the American Statistical Association 64(328), 1183-1210: for an
agreement pattern, the ratio m/u of its probability among matches (m) to its
probability among non-matches (u) orders pairs by evidence of a match.
Splink's documentation ("The Fellegi-Sunter model", "Match weights") writes
the evidence as match weights in bits: ``log2(m/u)`` per comparison, summed
with the prior weight ``log2(λ/(1-λ))``, and turned back into a probability
with ``2^w / (1 + 2^w)``.

Each function accepts a float or a numpy array and works element-wise.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
FloatOrArray = float | FloatArray


def bayes_factor(m: FloatOrArray, u: FloatOrArray) -> FloatOrArray:
    """Return the Bayes factor ``m / u`` of an agreement level.

    Fellegi & Sunter (1969), eq. (1): the likelihood ratio of the level
    among matches (m) to non-matches (u).
    """
    return np.divide(m, u)


def match_weight(m: FloatOrArray, u: FloatOrArray) -> FloatOrArray:
    """Return the match weight ``log2(m / u)`` in bits (Splink's partial match weight)."""
    return np.log2(np.divide(m, u))


def prior_weight(prior: FloatOrArray) -> FloatOrArray:
    """Return the prior weight ``log2(λ / (1 - λ))`` of a prior match probability λ.

    Splink docs, "Match weights": the prior expressed as a log2 odds, the
    starting point the comparison weights add to.
    """
    return np.log2(np.divide(prior, np.subtract(1.0, prior)))


def probability_from_weight(weight: FloatOrArray) -> FloatOrArray:
    """Return the match probability ``2^w / (1 + 2^w)`` of a total match weight w.

    Written as ``1 / (1 + 2^-w)``, with w clipped to ±1000 bits (far beyond
    any threshold) so that 2^-w cannot overflow.
    """
    return np.divide(1.0, np.add(1.0, np.exp2(np.negative(np.clip(weight, -1000.0, 1000.0)))))


def weight_from_probability(probability: FloatOrArray) -> FloatOrArray:
    """Return the match weight ``log2(p / (1 - p))`` of a probability (inverse of the above)."""
    return prior_weight(probability)
