"""Settings of a matching run: one frozen object, in parts, passed down as an argument.

``MatchSettings`` holds the blocking settings (rules that generate candidate
pairs, block cap), the training settings (rules EM learns on, sampling,
EM), the thresholds, the memory limits, the comparisons and the
deterministic rules. It has no global state: build a different one in code
(``dataclasses.replace``) or read the scalar parts from the run's settings
file (``dancu.settings``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matching.comparisons import Comparison, default_comparisons
from matching.rules import PairRule, default_rules

#: ``MatchModel.source`` of a model fitted on the run's own records (the other
#: sources are ``registry:<batch_id>`` and ``default``).
FITTED = "fitted"


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
#: Their measured pairs and recall are in bench/README.md ("Blocking rules").
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
    # the pair has no birth province (bench/README.md: what they bring).
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
    # A record with no birth year at all: names (surname variant, given by
    # sound, middle) where one record of the pair has no year.
    BlockingRule(
        "name_no_year",
        ("family_name__variant", "given_name__phon", "middle_name__fold"),
        split_keys=("sex",),
        max_block_size=_BROAD,
        lacking="birth_year",
    ),
    # A year mistyped: names and the real date's day and month.
    BlockingRule(
        "name_day_month",
        ("family_name__variant", "given_name__phon", "date_of_birth__day_month"),
        split_keys=("sex",),
        max_block_size=_NARROW,
    ),
    # The given name written where the middle name goes: surname, the two
    # names' words in any order, year.
    BlockingRule(
        "name_words_year",
        ("family_name__variant", "given_middle__words", "birth_year"),
        split_keys=("sex",),
        max_block_size=_BROAD,
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
class BlockingSettings:
    """How candidate pairs are formed.

    Attributes:
        rules: Candidate-pair rules, unioned (a pair keeps the first rule's name).
        max_block_size: Largest block (records) turned into pairs.
    """

    rules: tuple[BlockingRule, ...] = DEFAULT_BLOCKING_RULES
    max_block_size: int = 1_000


@dataclass(frozen=True)
class TrainingSettings:
    """How the Fellegi-Sunter model is estimated.

    Attributes:
        rules: Rules defining the EM training sessions.
        prior: Probability that two random records match; None to estimate it.
        u_sample_pairs: Random pairs sampled to estimate u.
        u_sample_pairs_plain: Random pairs sampled to estimate the u of the
            comparisons without string similarities (cheap per pair; their
            rare levels, such as an exact birth date, need many pairs).
        records: EM learns on the training-rule pairs of at most this many
            records (new records first, then a seeded sample).
        tf_minimum: Smallest value share used by term-frequency adjustments.
        em_max_iterations: EM iterations per training session before giving up.
        em_tolerance: EM stops when no parameter moves more than this.
        min_check_pairs: A comparison is checked (m > u on its top level,
            m < u on ``else``) only if at least this many training pairs had a value.
    """

    rules: tuple[BlockingRule, ...] = DEFAULT_TRAINING_RULES
    prior: float | None = None
    u_sample_pairs: int = 300_000
    u_sample_pairs_plain: int = 3_000_000
    records: int = 200_000
    tf_minimum: float = 1e-4
    em_max_iterations: int = 5000
    em_tolerance: float = 1e-6
    min_check_pairs: int = 30


@dataclass(frozen=True)
class Thresholds:
    """Match probabilities that decide a pair.

    Attributes:
        link: At or above it a pair is linked. 0.996: on the hard synthetic
            profile pairwise precision reaches 0.999 there (a false merge is
            worse than a missed duplicate).
        review: At or above it an unlinked pair is reviewed.
        bridge: A link below it may not alone join two groups of two or more
            records (it goes to review).
        fits_margin_bits: A record linked into one cluster whose model review
            pair to a record of another cluster weighs at most this many bits
            less than its best link, where the two clusters hold records kept
            apart, fits both people: its links go to review (see
            ``matching.clustering``).
    """

    link: float = 0.996
    review: float = 0.5
    bridge: float = 0.9999
    fits_margin_bits: float = 5.0


@dataclass(frozen=True)
class Limits:
    """Sizes that bound memory and reports; they never change the outcome.

    Attributes:
        pair_slice: Candidate pairs compared (and spilled) at a time.
        records_per_part: Records of one blocking rule joined at a time
            (whole blocks; more records, more parts).
        records_per_partition: Records per mapped matching task when the
            ``dancu_batch`` DAG chooses how many partitions the candidate
            pairs are compared and scored in (``matching.steps``).
        max_cluster_size: Clusters above this size are reported in the stats.
    """

    pair_slice: int = 2_000_000
    records_per_part: int = 2_000_000
    records_per_partition: int = 1_000_000
    max_cluster_size: int = 10


@dataclass(frozen=True)
class MatchSettings:
    """Everything that decides the outcome of ``link_records``, in parts.

    Attributes:
        blocking: How candidate pairs are formed.
        training: How the model is estimated.
        thresholds: How a scored pair is decided.
        limits: Memory and report sizes.
        comparisons: Comparisons scored on every candidate pair.
        rules: Deterministic rules overriding the model.
        seed: Seed of every random draw.
    """

    blocking: BlockingSettings = field(default_factory=BlockingSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    limits: Limits = field(default_factory=Limits)
    comparisons: tuple[Comparison, ...] = field(default_factory=default_comparisons)
    rules: tuple[PairRule, ...] = field(default_factory=default_rules)
    seed: int = 20240601

    def __post_init__(self) -> None:
        """Check the thresholds and sizes."""
        t = self.thresholds
        if not 0.0 < t.review <= t.link <= t.bridge < 1.0:
            raise ValueError("need 0 < review <= link <= bridge < 1 (thresholds)")
        prior = self.training.prior
        if prior is not None and not 0.0 < prior < 1.0:
            raise ValueError("prior must be in (0, 1)")
        if (
            self.blocking.max_block_size < 2
            or self.training.u_sample_pairs < 1
            or self.training.records < 2
        ):
            raise ValueError(
                "max_block_size and training records must be >= 2, u_sample_pairs >= 1"
            )
        limits = self.limits
        if min(limits.pair_slice, limits.records_per_part, limits.records_per_partition) < 1:
            raise ValueError("pair_slice, records_per_part and records_per_partition must be >= 1")
        names = [c.name for c in self.comparisons]
        if len(set(names)) != len(names):
            raise ValueError(f"comparison names must be unique: {names}")
