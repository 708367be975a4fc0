"""Settings of a matching run: one frozen object passed down as an argument.

``MatchSettings`` holds the blocking rules that generate candidate pairs,
the training rules EM learns on, the comparisons, the deterministic rules,
the thresholds and the estimation settings. It has no global state: build a
different one in code (``dataclasses.replace``) for another data set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matching.comparisons import Comparison, default_comparisons
from matching.rules import PairRule, default_rules


@dataclass(frozen=True)
class BlockingRule:
    """Records sharing all ``keys`` (none null) form a block; its pairs are candidates.

    Attributes:
        name: Reported in ``blocked_by``.
        keys: Prepared columns that must be equal (see ``prepare_records``).
        year_window: When > 0, ``birth_year`` (one of the keys) may differ by
            up to this many years.
        split_keys: Extra keys used to split blocks larger than the cap;
            blocks still too large are skipped and counted.
        max_block_size: This rule's own cap when lower than the settings'
            (broad rules that catch typos must stay small on large registries).
    """

    name: str
    keys: tuple[str, ...]
    year_window: int = 0
    split_keys: tuple[str, ...] = ()
    max_block_size: int | None = None


#: Cap on the blocks of the broad rules (surname and year with an initial or
#: a middle name): on a national registry they split by sex and birth
#: province, and what is still larger is skipped and counted.
_BROAD = 120

#: Rules generating the candidate pairs that get scored (unioned). Each
#: catches duplicates the others miss: a typo in one name part, a regional
#: spelling, a year-only or 01/01 date, a swapped day and month, a mistyped
#: ID, a record re-sent from the same household.
DEFAULT_BLOCKING_RULES: tuple[BlockingRule, ...] = (
    BlockingRule(
        "name_year",
        ("family_name__fold", "given_name__fold", "birth_year"),
        split_keys=("birth_month",),
    ),
    BlockingRule("given_phonetic_dob", ("given_name__phon", "date_of_birth__unordered")),
    BlockingRule("family_variant_dob", ("family_name__variant", "date_of_birth__unordered")),
    BlockingRule(
        "family_year_initial",
        ("family_name__variant", "birth_year", "given_name__initial", "sex"),
        split_keys=("birth_province_code",),
        max_block_size=_BROAD,
    ),
    BlockingRule(
        "given_year_initial",
        ("given_name__fold", "birth_year", "family_name__initial"),
        split_keys=("sex", "birth_province_code"),
        max_block_size=_BROAD,
    ),
    BlockingRule("id_number", ("id_number",)),
    BlockingRule(
        "given_province_year",
        ("given_name__fold", "birth_province_code", "birth_year"),
        year_window=1,
        split_keys=("family_name__variant",),
    ),
    BlockingRule("household", ("household_id__key",)),
    BlockingRule("id_tail", ("id_number__tail",)),
    BlockingRule("id_head_given", ("id_number__head", "given_name__phon")),
)

#: Rules whose pairs EM learns m on. Comparisons on a rule's fields are
#: fixed by it and not estimated there. A rule on the names alone (Splink's
#: usual choice) is not among them: on Vietnamese records its blocks are
#: mostly namesakes, and EM then takes namesakes for the matches (measured:
#: a "match" share of 0.98 and m close to u). An ID number gives near-pure
#: matches, which is where the date's m is learnt.
DEFAULT_TRAINING_RULES: tuple[BlockingRule, ...] = (
    BlockingRule("dob_sex", ("date_of_birth__full", "sex")),
    BlockingRule("id_number", ("id_number",)),
    BlockingRule("names_dob", ("family_name__fold", "given_name__fold", "date_of_birth__full")),
)


@dataclass(frozen=True)
class MatchSettings:
    """Everything that decides the outcome of ``link_records``.

    Attributes:
        blocking_rules: Candidate-pair rules, unioned.
        training_rules: Rules defining the EM training sessions.
        comparisons: Comparisons scored on every candidate pair.
        rules: Deterministic rules overriding the model.
        link_threshold: Match probability at or above which a pair is linked.
            0.996: on the hard synthetic profile pairwise precision reaches
            0.999 there (a false merge is worse than a missed duplicate).
        review_threshold: Probability at or above which an unlinked pair is reviewed.
        bridge_threshold: A link below this probability may not alone join two
            groups of two or more records (it goes to review).
        prior: Probability that two random records match; None to estimate it.
        max_block_size: Largest block (records) turned into pairs.
        u_sample_pairs: Random pairs sampled to estimate u.
        u_sample_pairs_plain: Random pairs sampled to estimate the u of the
            comparisons without string similarities (cheap per pair; their
            rare levels, such as an exact birth date, need many pairs).
        training_records: EM learns on the training-rule pairs of at most this
            many records (new records first, then a seeded sample).
        tf_minimum: Smallest value share used by term-frequency adjustments.
        em_max_iterations: EM iterations per training session before giving up.
        em_tolerance: EM stops when no parameter moves more than this.
        min_check_pairs: A comparison is checked (m > u on its top level,
            m < u on ``else``) only if at least this many training pairs had a value.
        max_cluster_size: Clusters above this size are reported in the stats.
        seed: Seed of every random draw.
    """

    blocking_rules: tuple[BlockingRule, ...] = DEFAULT_BLOCKING_RULES
    training_rules: tuple[BlockingRule, ...] = DEFAULT_TRAINING_RULES
    comparisons: tuple[Comparison, ...] = field(default_factory=default_comparisons)
    rules: tuple[PairRule, ...] = field(default_factory=default_rules)
    link_threshold: float = 0.996
    bridge_threshold: float = 0.9999
    review_threshold: float = 0.5
    prior: float | None = None
    max_block_size: int = 1_000
    u_sample_pairs: int = 300_000
    u_sample_pairs_plain: int = 3_000_000
    training_records: int = 200_000
    tf_minimum: float = 1e-4
    em_max_iterations: int = 5000
    em_tolerance: float = 1e-6
    min_check_pairs: int = 30
    max_cluster_size: int = 10
    seed: int = 20240601

    def __post_init__(self) -> None:
        """Check the thresholds and sizes."""
        if not 0.0 < self.review_threshold <= self.link_threshold <= self.bridge_threshold < 1.0:
            raise ValueError("need 0 < review_threshold <= link_threshold <= bridge_threshold < 1")
        if self.prior is not None and not 0.0 < self.prior < 1.0:
            raise ValueError("prior must be in (0, 1)")
        if self.max_block_size < 2 or self.u_sample_pairs < 1 or self.training_records < 2:
            raise ValueError(
                "max_block_size and training_records must be >= 2, u_sample_pairs >= 1"
            )
        names = [c.name for c in self.comparisons]
        if len(set(names)) != len(names):
            raise ValueError(f"comparison names must be unique: {names}")
