"""Estimating the model: u from random pairs, m by EM, the prior from the candidates.

Following Splink's recommended route:

* **u** is the share of each level among random record pairs (a seeded
  sample; almost all random pairs are non-matches);
* **m** comes from expectation-maximisation with u held fixed, in one
  training session per training rule; a session does not estimate the
  comparisons on its rule's fields (they agree by construction), and each
  comparison's m is the mean over the sessions that estimated it;
* the **prior** (λ, the chance that two random records match) is the fixed
  point of EM on λ alone over the candidate pairs, all other pairs being
  taken as non-matches.

The model checks itself: ``ModelError`` when EM did not converge or when a
comparison with enough data has m ≤ u on its strongest level (or m ≥ u on
``else``). A run that cannot fit such a model may fall back on the m of an
accepted model (the registry's last, or the default shipped with the
project, see ``default_model``): how the records of one person differ does
not depend on the batch, while u and the prior are still estimated on the
batch's own records. Term-frequency adjustments (``ComparisonModel.pair_weights``) apply
when scoring, not in training, as in Splink.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from matching.blocking import candidate_pairs
from matching.comparisons import Comparison, comparison_vectors
from matching.fellegi_sunter import match_weight, prior_weight
from matching.prepare import source_field
from matching.rules import cannot_link_pairs
from matching.settings import FITTED, MatchSettings

#: Strength (pairs) of a Dirichlet prior on m centred on u in the M step: a
#: level no training match reached gets a bounded negative weight instead of
#: minus infinity, and a level rare on both sides no large weight.
_M_PRIOR_PAIRS = 1.0


class ModelError(RuntimeError):
    """The fitted model is not trustworthy (no convergence, or m ≤ u where it must not be)."""


@dataclass(frozen=True)
class ComparisonModel:
    """m and u of each level of one comparison, indexed by level value (0 = else)."""

    name: str
    labels: tuple[str, ...]
    m: tuple[float, ...]
    u: tuple[float, ...]
    estimated_in: tuple[str, ...]
    tf_levels: tuple[int, ...] = ()
    tf_minimum: float = 1e-4

    def weights(self) -> npt.NDArray[np.float64]:
        """Return ``log2(m/u)`` per level value."""
        return np.asarray(match_weight(np.asarray(self.m), np.asarray(self.u)), dtype=np.float64)

    def pair_weights(
        self, levels: npt.NDArray[np.int64], tf: npt.NDArray[np.float64] | None = None
    ) -> npt.NDArray[np.float64]:
        """Return each pair's weight: ``log2(m/u)`` of its level, 0 for null.

        With ``tf`` (the share of records holding the pair's shared value), the
        ``tf_levels`` use that share instead of u: ``log2(m / tf)`` (Splink's
        term-frequency adjustment), so agreeing on a rare name weighs more than
        agreeing on Nguyễn. Shares below ``tf_minimum`` count as ``tf_minimum``.
        """
        weights = self.weights()
        out = np.where(levels >= 0, weights[np.clip(levels, 0, None)], 0.0)
        if tf is None or not self.tf_levels:
            return out
        adjusted = np.isin(levels, self.tf_levels) & ~np.isnan(tf)
        m = np.asarray(self.m)[np.clip(levels, 0, None)]
        share = np.maximum(np.nan_to_num(tf, nan=1.0), self.tf_minimum)
        return np.where(adjusted, np.log2(m / share), out)


@dataclass(frozen=True)
class TrainingSession:
    """One EM run on the pairs of a training rule."""

    rule: str
    pairs: int
    estimated: tuple[str, ...]
    iterations: int
    converged: bool
    match_share: float


#: The model shipped with the project, fitted on generated data
#: (``python -m dancu.fit_default_model``); a run falls back on it when neither
#: the batch nor the registry gives an accepted model.
DEFAULT_MODEL_FILE = Path(__file__).with_name("default_model.json")


@dataclass(frozen=True)
class MatchModel:
    """The fitted Fellegi-Sunter model.

    Attributes:
        comparisons: m and u per comparison level.
        prior: λ, the chance that two random records match.
        sessions: The EM training sessions.
        u_pairs: Random pairs u was estimated on.
        source: ``fitted`` when m was learnt on this run's records; else
            where the m of a fallback came from (``registry:<batch_id>``,
            ``default``), u and the prior being still this run's.
        note: Why a fallback was used (the fit's ``ModelError``), else empty.
    """

    comparisons: tuple[ComparisonModel, ...]
    prior: float
    sessions: tuple[TrainingSession, ...]
    u_pairs: int
    source: str = FITTED
    note: str = ""

    @property
    def iterations(self) -> int:
        """EM iterations over all sessions."""
        return sum(s.iterations for s in self.sessions)

    @property
    def converged(self) -> bool:
        """Whether every session converged."""
        return all(s.converged for s in self.sessions)

    @property
    def prior_weight(self) -> float:
        """The prior as a match weight, ``log2(λ/(1-λ))``."""
        return float(prior_weight(self.prior))

    def comparison(self, name: str) -> ComparisonModel:
        """Return the parameters of the comparison called ``name``."""
        return next(c for c in self.comparisons if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description (with weights per level)."""
        out = asdict(self)
        for comp, entry in zip(self.comparisons, out["comparisons"], strict=True):
            entry["weights"] = [float(w) for w in comp.weights()]
        out.update(
            iterations=self.iterations, converged=self.converged, prior_weight=self.prior_weight
        )
        return out

    @staticmethod
    def from_dict(data: dict[str, Any]) -> MatchModel:
        """Rebuild a model from ``to_dict`` output (derived keys are ignored)."""
        comparisons = tuple(
            ComparisonModel(
                name=c["name"],
                labels=tuple(c["labels"]),
                m=tuple(float(x) for x in c["m"]),
                u=tuple(float(x) for x in c["u"]),
                estimated_in=tuple(c["estimated_in"]),
                tf_levels=tuple(int(x) for x in c.get("tf_levels", ())),
                tf_minimum=float(c.get("tf_minimum", 1e-4)),
            )
            for c in data["comparisons"]
        )
        sessions = tuple(
            TrainingSession(
                rule=t["rule"],
                pairs=int(t["pairs"]),
                estimated=tuple(t["estimated"]),
                iterations=int(t["iterations"]),
                converged=bool(t["converged"]),
                match_share=float(t["match_share"]),
            )
            for t in data.get("sessions", ())
        )
        return MatchModel(
            comparisons=comparisons,
            prior=float(data["prior"]),
            sessions=sessions,
            u_pairs=int(data.get("u_pairs", 0)),
            source=str(data.get("source", FITTED)),
            note=str(data.get("note", "")),
        )

    def fits(self, comparisons: Sequence[Comparison]) -> bool:
        """Whether this model has the same comparisons and levels as ``comparisons``."""
        mine = [(c.name, c.labels) for c in self.comparisons]
        return mine == [(c.name, c.labels) for c in comparisons]


def default_model() -> MatchModel:
    """The model shipped with the project (``DEFAULT_MODEL_FILE``), source ``default``."""
    data = json.loads(DEFAULT_MODEL_FILE.read_text(encoding="utf-8"))
    return replace(MatchModel.from_dict(data), source="default", note="")


def _initial_m(levels: int) -> npt.NDArray[np.float64]:
    if levels == 2:
        return np.array([0.05, 0.95])
    middle = np.full(levels - 2, 0.25 / (levels - 2))
    return np.concatenate([[0.05], middle, [0.70]])


def pattern_counts(gammas: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """Count the distinct ``gamma_<name>`` patterns of some pairs (column ``n``)."""
    return gammas.group_by(f"gamma_{n}" for n in names).len("n")


def merge_pattern_counts(
    parts: Sequence[pl.DataFrame], names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Add up ``pattern_counts`` of several slices: distinct patterns (sorted) and counts."""
    columns = [f"gamma_{n}" for n in names]
    if not parts:
        return np.zeros((0, len(columns)), dtype=np.int64), np.zeros(0)
    grouped = pl.concat(parts).group_by(columns).agg(pl.col("n").sum()).sort(columns)
    return grouped.select(columns).to_numpy().astype(np.int64), grouped["n"].to_numpy().astype(
        float
    )


def gamma_patterns(gammas: pl.DataFrame, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Collapse ``gamma_<name>`` columns to distinct patterns and their counts."""
    step = 5_000_000  # count patterns a slice at a time: bounded memory on many pairs
    parts = [
        pattern_counts(gammas.slice(start, step), names)
        for start in range(0, max(gammas.height, 1), step)
    ]
    return merge_pattern_counts(parts, names)


def log2_bayes_factors(
    patterns: np.ndarray, m: Sequence[np.ndarray], u: Sequence[np.ndarray], active: Sequence[bool]
) -> npt.NDArray[np.float64]:
    """Sum ``log2(m/u)`` over active comparisons; a null level (-1) adds nothing."""
    total = np.zeros(patterns.shape[0])
    for c, on in enumerate(active):
        if not on:
            continue
        weights = np.log2(m[c] / u[c])
        level = patterns[:, c]
        total += np.where(level >= 0, weights[np.clip(level, 0, None)], 0.0)
    return total


def _posterior(logit2_prior: float, log2_bf: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-(logit2_prior + log2_bf)))


def expectation_maximisation(
    patterns: np.ndarray,
    counts: np.ndarray,
    m: list[np.ndarray],
    u: Sequence[np.ndarray],
    active: Sequence[bool],
    max_iterations: int,
    tolerance: float,
) -> tuple[list[np.ndarray], float, int, bool]:
    """EM for m (active comparisons) and the match share, with u held fixed.

    Args:
        patterns: Level values, one row per distinct pattern, one column per comparison.
        counts: Number of pairs with each pattern.
        m: Starting m per comparison (indexed by level value).
        u: Fixed u per comparison.
        active: Which comparisons to estimate (others keep their m and add no evidence).
        max_iterations: Iterations before giving up.
        tolerance: Stop when no m and not the share moves more than this.

    Returns:
        m, the match share, the iterations run and whether EM converged.
    """
    share = 0.3
    for iteration in range(1, max_iterations + 1):
        post = _posterior(float(prior_weight(share)), log2_bayes_factors(patterns, m, u, active))
        weighted = post * counts
        new_share = float(np.clip(weighted.sum() / counts.sum(), 1e-9, 1 - 1e-9))
        change = abs(new_share - share)
        new_m = list(m)
        for c, on in enumerate(active):
            level = patterns[:, c]
            seen = level >= 0
            if not on or weighted[seen].sum() <= 0:
                continue
            tally = np.bincount(level[seen], weights=weighted[seen], minlength=len(m[c]))
            prior = _M_PRIOR_PAIRS * u[c]
            new_m[c] = (tally + prior) / (tally.sum() + prior.sum())
            change = max(change, float(np.abs(new_m[c] - m[c]).max()))
        m, share = new_m, new_share
        if change < tolerance:
            return m, share, iteration, True
    return m, share, max_iterations, False


def _random_pairs(n: int, size: int, seed: int) -> pl.DataFrame:
    """``size`` seeded random pairs ``rid_l < rid_r`` of ``n`` records (all pairs if fewer)."""
    if n * (n - 1) // 2 <= size:
        left, right = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        left = rng.integers(0, n, size)
        right = rng.integers(0, n, size)
        keep = left != right
        left, right = np.minimum(left, right)[keep], np.maximum(left, right)[keep]
    return pl.DataFrame({"rid_l": left.astype(np.int64), "rid_r": right.astype(np.int64)})


def _level_shares(
    prepared: pl.DataFrame, pairs: pl.DataFrame, comparisons: Sequence[Comparison]
) -> list[np.ndarray]:
    """Laplace-smoothed share of each level value among the non-null pairs, per comparison."""
    patterns, counts = gamma_patterns(
        comparison_vectors(prepared, pairs, comparisons), [c.name for c in comparisons]
    )
    u = []
    for c, comp in enumerate(comparisons):
        seen = patterns[:, c] >= 0
        tally = np.bincount(patterns[seen, c], weights=counts[seen], minlength=len(comp.labels))
        u.append((tally + 1.0) / (tally.sum() + len(comp.labels)))
    return u


def estimate_u(
    prepared: pl.DataFrame, comparisons: Sequence[Comparison], settings: MatchSettings
) -> tuple[list[np.ndarray], int]:
    """Estimate u per level from random pairs (all pairs if there are few).

    Comparisons without string similarities cost little per pair, so their u
    comes from a larger sample (``settings.training.u_sample_pairs_plain``): their
    strongest levels are rare among random pairs (two records share a real
    birth date about once in 30,000 pairs), and 300,000 pairs hold only a
    handful of such agreements, a sampling error of a third of a bit or more
    on the weight that decides most links.

    Returns:
        One array per comparison (Laplace-smoothed shares of the level values
        among non-null random pairs) and the number of pairs used.
    """
    n = prepared.height
    pairs = _random_pairs(n, settings.training.u_sample_pairs, settings.seed)
    u = _level_shares(prepared, pairs, comparisons)
    plain = [c for c, comp in enumerate(comparisons) if not comp.similarities]
    if plain and settings.training.u_sample_pairs_plain > pairs.height:
        more = _random_pairs(n, settings.training.u_sample_pairs_plain, settings.seed + 2)
        if more.height > pairs.height:
            for c, u_c in zip(
                plain, _level_shares(prepared, more, [comparisons[c] for c in plain]), strict=True
            ):
                u[c] = u_c
    return u, pairs.height


def estimate_prior(
    patterns: np.ndarray,
    counts: np.ndarray,
    m: Sequence[np.ndarray],
    u: Sequence[np.ndarray],
    total_pairs: int,
) -> float:
    """Return λ such that the expected matches among the candidates equal λ × all pairs."""
    log2_bf = log2_bayes_factors(patterns, m, u, [True] * len(m))
    share = float(np.clip(counts.sum() / max(total_pairs, 1) / 2, 1e-12, 0.5))
    for _ in range(10_000):
        expected = float((_posterior(float(prior_weight(share)), log2_bf) * counts).sum())
        new_share = float(np.clip(expected / max(total_pairs, 1), 1e-12, 0.5))
        if abs(new_share - share) <= 1e-9 * share:
            return new_share
        share = new_share
    return share


def _check(
    comparisons: Sequence[Comparison],
    m: Sequence[np.ndarray],
    u: Sequence[np.ndarray],
    seen: Sequence[float],
    settings: MatchSettings,
) -> None:
    problems = []
    for c, comp in enumerate(comparisons):
        if seen[c] < settings.training.min_check_pairs:
            continue
        if m[c][-1] <= u[c][-1]:
            problems.append(f"{comp.name}: m <= u on '{comp.labels[-1]}'")
        if m[c][0] >= u[c][0]:
            problems.append(f"{comp.name}: m >= u on 'else'")
    if problems:
        raise ModelError("uninformative model: " + "; ".join(problems))


def training_focus(
    prepared: pl.DataFrame, focus: pl.Series | None, settings: MatchSettings
) -> pl.Series | None:
    """Return the records whose training pairs EM learns on (None: all of them).

    At most ``settings.training.records`` records: those in ``focus`` (the new
    records of an incremental run) first, then a seeded sample of the others,
    so training costs the same on a registry of any size.
    """
    n = prepared.height
    if focus is None and n <= settings.training.records:
        return None
    chosen = np.zeros(n, dtype=bool)
    if focus is not None:
        chosen[focus.to_numpy()] = True
    room = settings.training.records - int(chosen.sum())
    others = np.flatnonzero(~chosen)
    if room > 0 and others.size:
        rng = np.random.default_rng(settings.seed + 1)
        chosen[rng.choice(others, size=min(room, others.size), replace=False)] = True
    return pl.Series("rid", np.flatnonzero(chosen), dtype=pl.Int64)


def fit_model(
    prepared: pl.DataFrame,
    candidate_patterns: tuple[np.ndarray, np.ndarray],
    settings: MatchSettings,
    *,
    focus: pl.Series | None = None,
    fallback: Sequence[MatchModel] = (),
) -> MatchModel:
    """Fit u, m and the prior; see the module docstring.

    Args:
        prepared: Output of ``prepare_records``.
        candidate_patterns: The candidate pairs' distinct gamma patterns and
            their counts (``gamma_patterns``, ``merge_pattern_counts``).
        settings: The run's settings.
        focus: The ``rid`` of the records the candidates were formed for (an
            incremental run), or None when they were formed among all records.
            u is sampled over all records either way; the prior is the share
            of matches among the pairs the candidates were drawn from.
        fallback: Accepted models, in order of preference, whose m is used
            when this run's fit fails its checks (the first whose comparisons
            match the settings'); u and the prior are still estimated here,
            and the result says where its m came from (``source``, ``note``).

    Raises:
        ModelError: If a training session does not converge or the model
            fails its checks, and no fallback fits the settings.
    """
    comps = settings.comparisons
    u, u_pairs = estimate_u(prepared, comps, settings)
    try:
        m_final, sources, sessions = _estimate_m(prepared, u, settings, focus)
    except ModelError as error:
        usable = next((f for f in fallback if f.fits(comps)), None)
        if usable is None:
            raise
        m_final = [np.asarray(c.m) for c in usable.comparisons]
        sources = [list(c.estimated_in) for c in usable.comparisons]
        sessions = list(usable.sessions)
        source, note = usable.source, str(error)
    else:
        source, note = FITTED, ""
    if settings.training.prior is not None:
        prior = settings.training.prior
    else:
        patterns, counts = candidate_patterns
        n = prepared.height
        k = n if focus is None else focus.len()
        drawn_from = k * (n - k) + k * (k - 1) // 2  # pairs with at least one focus record
        prior = estimate_prior(patterns, counts, m_final, u, drawn_from)
    return MatchModel(
        comparisons=tuple(
            ComparisonModel(
                comp.name,
                comp.labels,
                tuple(float(x) for x in m_c),
                tuple(float(x) for x in u_c),
                tuple(src),
                comp.tf_level_values if comp.tf_column else (),
                comp.tf_minimum if comp.tf_minimum is not None else settings.training.tf_minimum,
            )
            for comp, m_c, u_c, src in zip(comps, m_final, u, sources, strict=True)
        ),
        prior=prior,
        sessions=tuple(sessions),
        u_pairs=u_pairs,
        source=source,
        note=note,
    )


def _estimate_m(
    prepared: pl.DataFrame,
    u: Sequence[np.ndarray],
    settings: MatchSettings,
    focus: pl.Series | None,
) -> tuple[list[np.ndarray], list[list[str]], list[TrainingSession]]:
    """m per comparison by EM on the training rules' pairs, checked.

    Returns m, the sessions each comparison's m came from, and the sessions.

    Raises:
        ModelError: If a session does not converge or the model fails its checks.
    """
    comps = settings.comparisons
    names = [c.name for c in comps]
    trained_on = training_focus(prepared, focus, settings)
    estimates: list[list[np.ndarray]] = [[] for _ in comps]
    sources: list[list[str]] = [[] for _ in comps]
    seen = [0.0] * len(comps)
    sessions = []
    for rule in settings.training.rules:
        pairs, _ = candidate_pairs(prepared, [rule], settings.blocking.max_block_size, trained_on)
        # Known non-matches (twins, other household members) would teach EM
        # that a match may have another given name or birth date.
        pairs = pairs.filter(~cannot_link_pairs(prepared, pairs, settings.rules))
        fixed = {source_field(k) for k in (*rule.keys, *rule.split_keys)}
        active = [not fixed.intersection(c.fields) for c in comps]
        if pairs.height == 0 or not any(active):
            sessions.append(TrainingSession(rule.name, pairs.height, (), 0, True, 0.0))
            continue
        patterns, counts = gamma_patterns(comparison_vectors(prepared, pairs, comps), names)
        m0 = [_initial_m(len(c.labels)) for c in comps]
        m, share, iterations, converged = expectation_maximisation(
            patterns,
            counts,
            m0,
            u,
            active,
            settings.training.em_max_iterations,
            settings.training.em_tolerance,
        )
        if not converged:
            raise ModelError(
                f"EM did not converge on training rule {rule.name!r} "
                f"after {iterations} iterations ({pairs.height} pairs)"
            )
        done = []
        for c in range(len(comps)):
            observed = float(counts[patterns[:, c] >= 0].sum())
            if active[c] and observed > 0:
                estimates[c].append(m[c])
                sources[c].append(rule.name)
                seen[c] += observed
                done.append(names[c])
        sessions.append(
            TrainingSession(rule.name, pairs.height, tuple(done), iterations, converged, share)
        )
    m_final = [
        np.mean(est, axis=0) if est else _initial_m(len(c.labels))
        for est, c in zip(estimates, comps, strict=True)
    ]
    _check(comps, m_final, u, seen, settings)
    return m_final, sources, sessions
