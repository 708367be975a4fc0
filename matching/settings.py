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
        lacking: When set, a prepared column of which at least one record of
            each pair has no value: the rule then only forms the pairs other
            rules cannot find by that column (a rule on the birth year for
            the records whose full birth date is unknown, say). Block sizes
            and the cap still count every record.
    """

    name: str
    keys: tuple[str, ...]
    year_window: int = 0
    split_keys: tuple[str, ...] = ()
    max_block_size: int | None = None
    lacking: str | None = None


#: Cap on the blocks of the rules on the birth year and birth province:
#: larger blocks split by a further key (sex, or the other name), and what is
#: still larger is skipped and counted.
_BROAD = 120

#: Cap on the blocks of the rules on the whole birth date and of the ID-head
#: rule: a block of 40 records sharing a date and a name part is already
#: mostly namesakes, and above it the block splits by a further key.
_NARROW = 40

#: A prepared column present only when the birth date is known to the day
#: and is not a 01/01 placeholder. The rules on the birth year form only the
#: pairs where one record lacks it: a pair of two full dates is found by the
#: rules on the date, and leaving it out keeps the year rules' blocks (every
#: Nguyễn born in a province in 1980) from growing with the square of N.
_NO_FULL_DATE = "date_of_birth__full"

#: Rules generating the candidate pairs that get scored (unioned). Each
#: catches duplicates the others miss: a typo in one name part, a regional
#: spelling, a year-only or 01/01 date, a swapped day and month, a mistyped
#: ID, a record re-sent from the same household. No rule has a block of all
#: the Nguyễn born in one year (a third of the people are Nguyễn): every
#: name rule also keys on a full date, or on the year with the birth
#: province, so blocks stay small as the registry grows. What this gives
#: up: a pair whose records differ in birth province and have no full date
#: in common is left to the ID and household rules (a record with no birth
#: province at all has rules of its own).
#: Measured on the hard synthetic profile (bench.data): 0.56 M / 5.9 M /
#: 34 M candidate pairs at 0.2 M / 1 M / 3 M records (3.9 M and 60.8 M at
#: 0.2 M and 1 M with the previous rules, which blocked on surname, given
#: name and year alone); blocking recall 0.994 at 1 M (0.992), pairwise F1
#: after linking 0.988 (0.988).
DEFAULT_BLOCKING_RULES: tuple[BlockingRule, ...] = (
    # Same given name (by sound) and birth date, day and month in either
    # order: a typo or a regional spelling in the surname (Hoàng/Huỳnh).
    BlockingRule(
        "given_phonetic_dob",
        ("given_name__phon", "date_of_birth__unordered"),
        split_keys=("family_name__initial",),
        max_block_size=_NARROW,
    ),
    # Same surname variant, birth date and given-name initial: a typo in the
    # given name or a dropped middle name, wherever the person was born.
    BlockingRule(
        "family_variant_dob",
        ("family_name__variant", "date_of_birth__unordered", "given_name__initial"),
        split_keys=("birth_province_code",),
        max_block_size=_NARROW,
    ),
    # Same names (surname variant, given name by sound), birth year and birth
    # province: a birth date mistyped or written differently.
    BlockingRule(
        "name_province_year",
        ("family_name__variant", "given_name__phon", "birth_province_code", "birth_year"),
        split_keys=("sex",),
        max_block_size=_BROAD,
    ),
    # A year-only, month-only, unknown or 01/01 date on one side, and a typo
    # in the given name: surname variant, year, given initial, birth province.
    BlockingRule(
        "family_year_initial",
        ("family_name__variant", "birth_year", "given_name__initial", "birth_province_code"),
        split_keys=("given_name__phon",),
        max_block_size=_BROAD,
        lacking=_NO_FULL_DATE,
    ),
    # The same with a typo in the surname: given name, birth province, year.
    BlockingRule(
        "given_province_year",
        ("given_name__fold", "birth_province_code", "birth_year"),
        split_keys=("family_name__initial",),
        max_block_size=_BROAD,
        lacking=_NO_FULL_DATE,
    ),
    # The two rules above, for a record with no birth province (a system
    # that never asked for it, a birth place not resolved): names and year,
    # or surname, year, given initial and middle name, where one record of
    # the pair has no birth province. On the hard pipeline profile (50,000
    # persons, generated through the legacy formats) they bring blocking
    # recall from 0.907 back to 0.981 for 66k more pairs.
    BlockingRule(
        "name_year_no_province",
        ("family_name__variant", "given_name__phon", "birth_year"),
        split_keys=("sex",),
        max_block_size=_BROAD,
        lacking="birth_province_code",
    ),
    BlockingRule(
        "family_year_initial_no_province",
        ("family_name__variant", "birth_year", "given_name__initial", "middle_name__fold"),
        split_keys=("sex",),
        max_block_size=_BROAD,
        lacking="birth_province_code",
    ),
    # The same ID number, whatever else differs.
    BlockingRule("id_number", ("id_number",)),
    # A record re-sent from the same household (or address), names and date
    # changed: the model weighs the rest; households are small, so cheap.
    BlockingRule("household", ("household_id__key",)),
    # A mistyped ID number: the same last six digits (and length) ...
    BlockingRule("id_tail", ("id_number__tail",)),
    # ... or the same head (province, sex and year of a CCCD; the first
    # digits of an old CMND) and names.
    BlockingRule(
        "id_head_given",
        ("id_number__head", "given_name__phon", "family_name__initial"),
        split_keys=("birth_year",),
        max_block_size=_NARROW,
    ),
)

#: Rules whose pairs EM learns m on. Comparisons on a rule's fields are
#: fixed by it and not estimated there. A rule on the names alone (Splink's
#: usual choice) is not among them: on Vietnamese records its blocks are
#: mostly namesakes, and EM then takes namesakes for the matches (measured:
#: a "match" share of 0.98 and m close to u). An ID number gives near-pure
#: matches, which is where the date's m is learnt.
DEFAULT_TRAINING_RULES: tuple[BlockingRule, ...] = (
    # Blocks above 40 split by birth province: at ten million records a
    # date and sex hold about 140 records, nearly all strangers, and EM then
    # took strangers for matches (kin: m >= u on 'else', a ModelError).
    BlockingRule(
        "dob_sex",
        ("date_of_birth__full", "sex"),
        split_keys=("birth_province_code",),
        max_block_size=40,
    ),
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
