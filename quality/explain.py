"""Why a pair scored as it did, in words: per-field rows, a weight waterfall, the model's m and u.

``match_link.explanation`` holds, per comparison, the agreement level the
pair reached and the weight it added (log2 of m/u at that level, adjusted
for frequent names); level -1 means one record (or both) had no value, so
the comparison was skipped and added nothing. ``match_model.parameters``
holds each comparison's level labels with m (the share of true matches at
that level) and u (the share of non-matches). Pure: JSON text in, plain
data out; the pages translate the English labels through the catalogs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from quality.i18n import N_

#: Each comparison: its name on a page, and the record columns it looks at.
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "given_name": (N_("Given name"), ("given_name",)),
    "family_name": (N_("Family name"), ("family_name",)),
    "middle_name": (N_("Middle name"), ("middle_name",)),
    "date_of_birth": (N_("Date of birth"), ("birth",)),
    "sex": (N_("Sex"), ("sex",)),
    "birth_province": (N_("Birth province"), ("birth_province_code",)),
    "id_number": (N_("ID number"), ("id_number",)),
    "kin": (N_("Household and parents"), ("household_id", "father_name", "mother_name")),
    "ethnicity": (N_("Ethnicity"), ("ethnicity",)),
    "religion": (N_("Religion"), ("religion",)),
    "occupation": (N_("Occupation"), ("occupation",)),
    "residence": (N_("Residence"), ("province_code", "address")),
}

#: What each level label means, in words.
LEVELS: dict[str, str] = {
    "exact": N_("identical"),
    "folded": N_("the same without diacritics"),
    "tones_differ": N_("the same letters, other tone marks"),
    "phonetic": N_("sounds the same"),
    "one_edit": N_("one letter differs"),
    "typo": N_("a typing slip"),
    "variant": N_("a known variant of the name"),
    "contained": N_("one contains the other"),
    "one_side_missing": N_("only one record has one"),
    "jaro_winkler_0.92": N_("very similar spelling"),
    "jaro_winkler_0.88": N_("similar spelling"),
    "dates_differ": N_("different dates"),
    "year_within_1": N_("years one apart"),
    "same_year_partial": N_("same year, day or month unknown"),
    "same_year_placeholder": N_("same year, 01/01 placeholder"),
    "day_month_swapped": N_("day and month swapped"),
    "other_household_same_province": N_("other household, same province"),
    "parent_differs": N_("a parent's name differs"),
    "same_address": N_("same address"),
    "parent_similar": N_("a parent's name is similar"),
    "one_parent": N_("one parent's name is the same"),
    "both_parents": N_("both parents' names are the same"),
    "same_household": N_("same household"),
    "same_household_parent": N_("same household and a parent's name"),
    "one_elsewhere": N_("one lives in another province"),
    "else": N_("different"),
    "missing": N_("missing: a record has no value, not compared (weight 0)"),
}

#: Levels that mean a field is close, not the same, whatever their rank.
_CLOSE = {"tones_differ", "phonetic", "one_edit", "typo", "variant", "contained"}
_DIFFER = {"else", "dates_differ", "parent_differs", "other_household_same_province"}
_MISSING = {"one_side_missing"}

AGREE, CLOSE, DIFFER, MISSING = "agree", "close", "differ", "missing"
AGREEMENT = {
    AGREE: N_("agree"),
    CLOSE: N_("close"),
    DIFFER: N_("differ"),
    MISSING: N_("missing"),
}


@dataclass(frozen=True)
class FieldRow:
    """One comparison of a pair: what it found and what it added to the score."""

    name: str  # comparison name (given_name, ...)
    title: str  # its name on a page (English message id)
    level: int  # -1: not compared (a value is missing)
    label: str  # level label (exact, folded, ..., missing)
    meaning: str  # the label in words (English message id)
    agreement: str  # agree / close / differ / missing
    weight: float  # added to the match weight
    m: float | None  # share of true matches at this level
    u: float | None  # share of non-matches at this level
    start: float  # cumulative weight before this comparison (waterfall)
    end: float  # cumulative weight after it


@dataclass(frozen=True)
class ModelLevel:
    """One level of a comparison in the fitted model."""

    level: int
    label: str
    meaning: str
    m: float
    u: float
    weight: float


def _model(model_json: str | None) -> dict[str, Any]:
    if not model_json:
        return {}
    try:
        parsed = json.loads(model_json)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _agreement(label: str, level: int, top: int) -> str:
    if level < 0 or label in _MISSING:
        return MISSING
    if label in _DIFFER or level == 0:
        return DIFFER
    if label in _CLOSE or level < top:
        return CLOSE if label not in ("exact", "folded") else AGREE
    return AGREE


def prior_weight(model_json: str | None) -> float:
    """The model's prior as a weight (log2 of the prior odds); 0 when unknown."""
    return float(_model(model_json).get("prior_weight", 0.0))


def explain_pair(explanation: str | None, model_json: str | None) -> list[FieldRow]:
    """The per-field rows of a pair, in the model's order, each with its waterfall step.

    Args:
        explanation: ``match_link.explanation`` (JSON: comparison -> level, weight).
        model_json: ``match_model.parameters`` of the batch that scored the pair.
    """
    try:
        found = json.loads(explanation) if explanation else {}
    except ValueError:
        found = {}
    model = {c["name"]: c for c in _model(model_json).get("comparisons", [])}
    order = [n for n in model if n in found] + [n for n in found if n not in model]
    rows, running = [], prior_weight(model_json)
    for name in order:
        value = found[name] if isinstance(found[name], dict) else {}
        level = (
            int(value.get("level", -1)) if str(value.get("level", -1)).lstrip("-").isdigit() else -1
        )
        weight = float(value.get("weight") or 0.0)
        comparison = model.get(name, {})
        labels = comparison.get("labels", [])
        label = "missing" if level < 0 else (labels[level] if level < len(labels) else str(level))
        m = comparison.get("m", [])
        u = comparison.get("u", [])
        title = FIELDS.get(name, (name, ()))[0]
        rows.append(
            FieldRow(
                name=name,
                title=title,
                level=level,
                label=label,
                meaning=LEVELS.get(label, label),
                agreement=_agreement(label, level, len(labels) - 1),
                weight=weight,
                m=float(m[level]) if 0 <= level < len(m) else None,
                u=float(u[level]) if 0 <= level < len(u) else None,
                start=running,
                end=running + weight,
            )
        )
        running += weight
    return rows


def model_levels(model_json: str | None) -> list[tuple[str, str, list[ModelLevel]]]:
    """Each comparison of the model: its name, its title, and m, u, weight per level."""
    out = []
    for comparison in _model(model_json).get("comparisons", []):
        name = comparison["name"]
        levels = [
            ModelLevel(i, label, LEVELS.get(label, label), float(m), float(u), float(w))
            for i, (label, m, u, w) in enumerate(
                zip(
                    comparison.get("labels", []),
                    comparison.get("m", []),
                    comparison.get("u", []),
                    comparison.get("weights", []),
                    strict=False,
                )
            )
        ]
        out.append((name, FIELDS.get(name, (name, ()))[0], levels))
    return out
