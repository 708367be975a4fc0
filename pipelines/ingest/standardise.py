"""Standardise the values of raw person rows: names, dates, sex, places, codes.

Pure transforms on polars frames: the input has one text column per canonical
field present in a file (see ``pipelines.ingest.headers``) plus ``extra:*`` columns;
the output has the columns of :data:`domain.schema.RECORD_SCHEMA` that
describe a person (lineage is added by ``pipelines.ingest.province``), with every flaw
found recorded in ``flaws``. Values are mapped once per distinct text, then
joined back, so the Python work grows with the variety of values, not rows.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable

import polars as pl

from domain.reference import ethnicity_lookup, place_key, province_lookup
from domain.schema import RECORD_SCHEMA
from domain.vntext import fold, normalize, not_a_name_expr, title_name
from pipelines.ingest.dates import parse_date_parts, parse_dates

_TEXT_FIELDS = (
    "household_id",
    "relation_to_head",
    "other_name",
    "birth_place",
    "native_place",
    "religion",
    "nationality",
    "occupation",
    "residence_type",
)
_ADDRESS_PARTS = ("house_number", "hamlet", "commune", "district")
_SEX_CODES = {
    "nam": "M",
    "m": "M",
    "male": "M",
    "1": "M",
    "trai": "M",
    "nu": "F",
    "f": "F",
    "female": "F",
    "2": "F",
    "gai": "F",
}
_NAME_JUNK = re.compile(r"[^\w\s'-]|\d|_")
# Text that " ".join(text.split()) would change: edge, double or non-plain spaces.
_SPACE_ANOMALY = (
    r"^ | $|  |[\t\n\x0b\x0c\r\x1c-\x1f\x85\xa0\x{1680}\x{2000}-\x{200a}"
    r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)
# The characters Python's str.split() splits on, as a Rust regex class.
_PY_SPACE = (
    r"[\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\x{1680}\x{2000}-\x{200a}"
    r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+"
)


def map_distinct(column: pl.Series, fn: Callable[[str], str | None]) -> pl.Series:
    """Apply ``fn`` once per distinct non-null value of ``column``."""
    values = column.drop_nulls().unique().to_list()
    mapping = {v: fn(v) for v in values}
    return column.replace_strict(mapping, default=None, return_dtype=pl.String)


def map_words(column: pl.Series, fn: Callable[[str], str], ascii_too: bool = True) -> pl.Series:
    """Apply ``fn`` to each whitespace-separated word of NFC text, rejoined by single spaces.

    Each distinct value is split once and each distinct word mapped once, so
    the work grows with the variety of values and the Python work with the
    vocabulary, not with the rows. Words ``fn`` maps to nothing are dropped,
    and a value left with no words becomes null. For a word-wise ``fn`` (the
    result for a text is the join of the results for its words, as for
    :func:`clean_name` and :func:`domain.vntext.normalize`) this equals
    ``fn`` applied to the whole NFC value.

    Args:
        column: Text values.
        fn: The word mapping.
        ascii_too: Map ASCII words too; when False they are kept as they are
            (right for ``normalize``, which only moves tone marks).
    """
    values = column.drop_nulls().unique(maintain_order=True)
    text = _nfc_single_spaced(values)
    words = text.str.split(" ")
    vocabulary = words.explode().drop_nulls().unique(maintain_order=True)
    if not ascii_too:
        vocabulary = vocabulary.filter(~vocabulary.str.contains(r"^[\x00-\x7f]*$"))
    # Only words fn changes need the per-word work, and only values holding one.
    changed = {w: new for w in vocabulary.to_list() if w and (new := fn(w)) != w}
    if not changed and text is values and not (values == "").any():
        return column  # nothing to change
    mapped = text.replace("", None)
    if changed:
        touched = text.str.contains_any(list(changed))
        redone = (
            words.filter(touched)
            .list.eval(pl.element().replace(changed).filter(pl.element() != ""))
            .list.join(" ")
            .replace("", None)
        )
        mapped = mapped.scatter(touched.arg_true(), redone)
    return column.replace_strict(values, mapped, default=None, return_dtype=pl.String)


def _nfc_single_spaced(values: pl.Series) -> pl.Series:
    """NFC with single spaces between words (``values`` itself when it already is)."""
    if not values.len():
        return values
    joined = str(values.str.join("\n").item())
    nfc = unicodedata.is_normalized("NFC", joined)
    spaced = bool(values.str.contains(_SPACE_ANOMALY).any())
    if nfc and not spaced:
        return values
    text = values if nfc else values.str.normalize("NFC")
    return text.str.replace_all(_PY_SPACE, " ").str.strip_chars(" ") if spaced else text


def clean_name(text: str) -> str | None:
    """Normalise a person's name: NFC, one tone convention, Title Case, single spaces."""
    cleaned = _NAME_JUNK.sub(" ", normalize(text))
    cleaned = " ".join(cleaned.split())
    return title_name(cleaned) if cleaned else None


def _clean_word(word: str) -> str:
    """:func:`clean_name` of one word ("" when nothing is left)."""
    return clean_name(word) or ""


def sex_code(text: str) -> str | None:
    """Map a sex code (Nam / Nữ, M / F, 1 / 2, in any case) to ``M`` / ``F``."""
    return _SEX_CODES.get(fold(text).strip(" ."))


def province_code(place: str) -> str | None:
    """Resolve free-text place to a province code, or None when it names none.

    Tries the whole text, then its last comma-separated part, then any province
    name that appears as whole words (the longest first).
    """
    lookup = province_lookup()
    key = place_key(place)
    if key in lookup:
        return lookup[key]
    parts = [place_key(p) for p in re.split(r"[,;/-]", fold(place)) if p.strip()]
    for part in reversed(parts):
        if part in lookup:
            return lookup[part]
    padded = f" {re.sub(r'[^a-z0-9]+', ' ', fold(place))} "
    for name in sorted(lookup, key=len, reverse=True):
        if len(name) > 3 and f" {name} " in padded:
            return lookup[name]
    return None


def ethnicity(text: str) -> str | None:
    """Map an ethnicity spelling to the canonical group name, keeping unknown ones."""
    key = re.sub(r"[^a-z0-9]", "", fold(text))
    return ethnicity_lookup().get(key, normalize(text) or None)


#: Canonical fields a raw frame may carry, in the order the synonym table knows them.
RAW_FIELDS = (
    "local_id",
    "household_id",
    "relation_to_head",
    "full_name",
    "family_name",
    "middle_name",
    "given_name",
    "other_name",
    "date_of_birth",
    "birth_day",
    "birth_month",
    "birth_year",
    "sex",
    "birth_place",
    "native_place",
    "ethnicity",
    "religion",
    "nationality",
    "id_number",
    "occupation",
    "address",
    *_ADDRESS_PARTS,
    "father_name",
    "mother_name",
    "residence_type",
    "registered_on",
)


def _with_all_fields(raw: pl.DataFrame) -> pl.DataFrame:
    """Add absent canonical fields as nulls; trim text; empty text becomes null."""
    missing = [pl.lit(None, dtype=pl.String).alias(f) for f in RAW_FIELDS if f not in raw.columns]
    frame = raw.with_columns(missing).with_columns(pl.col(RAW_FIELDS).cast(pl.String))
    # Only columns with something to trim or empty are rewritten.
    untidy = frame.select(
        pl.col(RAW_FIELDS).str.contains(r"^\s|\s$|^$").fill_null(False).any()
    ).row(0, named=True)
    return frame.with_columns(
        pl.col(f).str.strip_chars().replace("", None) for f in RAW_FIELDS if untidy[f]
    )


def _joined(columns: list[str], separator: str) -> pl.Expr:
    return pl.concat_str(columns, separator=separator, ignore_nulls=True).replace("", None)


def _name_parts(full: pl.Expr) -> list[pl.Expr]:
    """Split a cleaned full name: first word, last word, the words between."""
    words = full.str.split(" ")
    n = words.list.len()
    return [
        words.list.first().alias("family_name"),
        pl.when(n > 2)
        .then(words.list.slice(1, n - 2).list.join(" "))
        .otherwise(None)
        .alias("middle_name"),
        pl.when(n > 1).then(words.list.last()).otherwise(None).alias("given_name"),
    ]


def standardise(raw: pl.DataFrame, reference: dt.date) -> pl.DataFrame:
    """Standardise raw person rows (text columns named by canonical field).

    Args:
        raw: one text column per canonical field present, plus ``extra:*``
            columns; columns starting with ``_`` (lineage) pass through.
        reference: the batch date, against which future birth dates are flaws.

    Returns:
        The lineage columns, the standardised person columns, ``extras`` (JSON
        of the ``extra:*`` columns) and ``flaws`` (';'-separated codes, null
        when clean).
    """
    lineage = [c for c in raw.columns if c.startswith("_")]
    extras = [c for c in raw.columns if c.startswith("extra:")]
    f = _with_all_fields(raw).with_columns(
        pl.coalesce(
            pl.col("full_name"), _joined(["family_name", "middle_name", "given_name"], " ")
        ).alias("full_name"),
        pl.coalesce(pl.col("address"), _joined(list(reversed(_ADDRESS_PARTS)), ", ")).alias(
            "address"
        ),
    )
    # Judged on the name as written, before cleaning drops its markup.
    f = f.with_columns(not_a_name_expr(pl.col("full_name")).alias("_not_a_name"))
    # other_name is normalised with the text fields, not cleaned as a name.
    names = ("full_name", "father_name", "mother_name")
    f = f.with_columns(
        pl.col("sex").alias("_sex_text"),
        *(map_words(f.get_column(c), _clean_word).alias(c) for c in names),
        *(
            map_words(f.get_column(c), normalize, ascii_too=False).alias(c)
            for c in ("address", *_TEXT_FIELDS)
        ),
        map_distinct(f.get_column("sex"), sex_code).alias("sex"),
        map_distinct(f.get_column("ethnicity"), ethnicity).alias("ethnicity"),
    )
    f = f.with_columns(
        map_distinct(f.get_column("birth_place"), province_code).alias("birth_province_code")
    )
    full_date = _per_distinct(f.get_column("date_of_birth"), lambda t: parse_dates(t, reference))
    split_date = parse_date_parts(
        f.get_column("birth_day"),
        f.get_column("birth_month"),
        f.get_column("birth_year"),
        reference,
    )
    # A full date wins; split day/month/year columns fill in where it says nothing.
    both = pl.concat(
        [full_date, split_date.rename(lambda c: f"split_{c}")], how="horizontal"
    ).with_columns(
        (pl.col("birth_year").is_not_null() | pl.col("split_birth_year").is_null()).alias(
            "use_full"
        )
    )
    # A flaw of the columns not used still counts: a future date written in
    # split columns leaves no year to use, yet is a flaw of the row.
    flaw = pl.coalesce("dob_flaw", "split_dob_flaw")
    dob = both.select(
        (
            pl.when("use_full").then(flaw).otherwise(pl.col("split_dob_flaw"))
            if c == "dob_flaw"
            else pl.when("use_full").then(pl.col(c)).otherwise(pl.col(f"split_{c}"))
        ).alias(c)
        for c in full_date.columns
    )
    registered = _per_distinct(
        f.get_column("registered_on"), lambda t: parse_dates(t, reference)
    ).get_column("date_of_birth")
    f = f.with_columns(
        registered.alias("registered_on"),
        pl.col("id_number").str.replace_all(r"\D", "").replace("", None).alias("id_number"),
    ).drop("date_of_birth", "birth_day", "birth_month", "birth_year")
    f = pl.concat([f, dob], how="horizontal")
    parts = _per_distinct(
        f.get_column("full_name"), lambda names: names.to_frame().select(_name_parts(pl.first()))
    )
    f = pl.concat([f.drop("family_name", "middle_name", "given_name"), parts], how="horizontal")
    words = pl.col("full_name").str.count_matches(" ", literal=True) + 1
    flaws = [
        pl.col("dob_flaw"),
        pl.when(pl.col("_sex_text").is_not_null() & pl.col("sex").is_null()).then(
            pl.lit("unknown_sex_code")
        ),
        pl.when(
            pl.col("id_number").is_not_null() & ~pl.col("id_number").str.len_chars().is_in([9, 12])
        ).then(pl.lit("id_number_length")),
        pl.when(pl.col("full_name").is_not_null() & ((words < 2) | (words > 6))).then(
            pl.lit("unusual_name_length")
        ),
        # Markup, code or no letters: flagged, and its person gets no PIN until verified.
        pl.when(pl.col("_not_a_name")).then(pl.lit("not_a_name")),
    ]
    f = f.with_columns(
        pl.concat_str(flaws, separator=";", ignore_nulls=True).replace("", None).alias("flaws"),
        extras_json(extras),
    )
    person = [c for c in RECORD_SCHEMA if c in f.columns and not c.startswith("_")]
    return f.select(*lineage, *person)


def _per_distinct(column: pl.Series, parse: Callable[[pl.Series], pl.DataFrame]) -> pl.DataFrame:
    """Run a row-wise parse once per distinct value and give each row its value's result."""
    values = column.unique(maintain_order=True)
    parsed = parse(values)
    if values.len() == 1:  # typically a column of nulls: no lookup needed
        return parsed.select(pl.all().gather(pl.repeat(0, column.len())))
    parsed = parsed.with_columns(values.alias("_value"))
    looked_up = pl.DataFrame({"_value": column}).join(
        parsed, on="_value", how="left", nulls_equal=True, maintain_order="left"
    )
    return looked_up.drop("_value")


def extras_json(extras: list[str]) -> pl.Expr:
    """``extras``: a JSON object of the ``extra:*`` columns named (null when there are none)."""
    if not extras:
        return pl.lit(None, dtype=pl.String).alias("extras")
    fields = [pl.col(c).alias(c.removeprefix("extra:")) for c in extras]
    return pl.struct(fields).struct.json_encode().alias("extras")
