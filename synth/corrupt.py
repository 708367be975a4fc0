"""Record-level corruptions and flaws: how one person's records come to differ.

Repeated records get the errors the contract describes (lost diacritics, case,
doubled spaces, one-character typos, regional surname spellings, dropped or
changed middle names, swapped or partial dates, missing sex, mistyped ids);
first records get a few at low rates. A separate, exclusive set of *flaws*
(impossible or future dates, repeated local ids, unknown sex codes) makes a
row "flawed". Every change is named in the ``note`` column of the truth.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from domain.vntext import strip_diacritics
from synth.profiles import Profile
from synth.reference import NameTable

_NAME_FIELDS = ["family", "middle", "given", "father", "mother"]
_IMPOSSIBLE = [(31, 2), (30, 2), (31, 4), (31, 6), (31, 9), (31, 11)]
_UNKNOWN_SEX = np.array(["X", "3", "K", "?", "0"], dtype=object)
_LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxy"


def _typo(rng: np.random.Generator, word: str) -> str:
    """One slip: substitute, delete, double or swap a character (not the first)."""
    if len(word) < 2:
        return word + word[-1:] if word else word
    i = int(rng.integers(1, len(word)))
    op = int(rng.integers(4))
    if op == 0:
        return word[:i] + _LETTERS[int(rng.integers(len(_LETTERS)))] + word[i + 1 :]
    if op == 1 and len(word) > 2:
        return word[:i] + word[i + 1 :]
    if op == 2 or i == len(word) - 1:
        return word[:i] + word[i] + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


class _Corrupter:
    """Holds the record columns as arrays and applies one corruption at a time."""

    def __init__(self, records: pl.DataFrame, rng: np.random.Generator, names: NameTable) -> None:
        self.rng = rng
        self.names = names
        self.col = {
            c: records[c].to_numpy().copy()
            for c in [*_NAME_FIELDS, "sex", "dob_y", "dob_m", "dob_d", "id_number"]
        }
        self.case_override = np.full(len(records), None, dtype=object)
        self.applied: dict[str, np.ndarray] = {}

    def eligible(self, kind: str) -> np.ndarray:
        c = self.col
        rules: dict[str, Callable[[], np.ndarray]] = {
            "surname_variant": lambda: np.isin(c["family"], list(self.names.variants)),
            "middle_dropped": lambda: c["middle"] != "",
            "day_month_swap": lambda: (
                (c["dob_d"] > 0) & (c["dob_d"] <= 12) & (c["dob_d"] != c["dob_m"])
            ),
            "year_only": lambda: c["dob_m"] > 0,
            "id_mistyped": lambda: c["id_number"] != "",
            "id_blank": lambda: c["id_number"] != "",
            "missing_sex": lambda: c["sex"] != "",
            "year_mistyped": lambda: c["dob_y"] > 0,
            "names_swapped": lambda: (c["middle"] != "") & (c["given"] != ""),
        }
        return rules[kind]() if kind in rules else np.ones(len(c["sex"]), dtype=bool)

    def apply(self, kind: str, idx: np.ndarray) -> None:
        c, rng = self.col, self.rng
        if kind == "drop_diacritics":
            for f in _NAME_FIELDS:
                c[f][idx] = [strip_diacritics(v) for v in c[f][idx]]
        elif kind == "case_change":
            self.case_override[idx] = rng.choice(["upper", "lower", "title"], len(idx))
        elif kind == "double_space":
            c["given"][idx] = [" " + v for v in c["given"][idx]]
        elif kind == "typo":
            part = np.where(
                c["middle"][idx] != "",
                rng.choice(["given", "family", "middle"], len(idx), p=[0.5, 0.25, 0.25]),
                "given",
            )
            for i, f in zip(idx, part, strict=True):
                words = c[f][i].split(" ")
                w = int(rng.integers(len(words)))
                words[w] = _typo(rng, words[w])
                c[f][i] = " ".join(words)
        elif kind == "surname_variant":
            c["family"][idx] = [self.names.variants[v] for v in c["family"][idx]]
        elif kind == "middle_dropped":
            c["middle"][idx] = ""
        elif kind == "middle_changed":
            for i in idx:
                male = c["sex"][i] == "M"
                pool = self.names.middle_male if male else self.names.middle_female
                options = [m for m in pool[0] if m != c["middle"][i]]
                c["middle"][i] = options[int(rng.integers(len(options)))]
        elif kind == "day_month_swap":
            c["dob_d"][idx], c["dob_m"][idx] = c["dob_m"][idx], c["dob_d"][idx].copy()
        elif kind == "year_only":
            c["dob_d"][idx] = 0
            c["dob_m"][idx] = 0
        elif kind == "placeholder_0101":
            c["dob_d"][idx] = 1
            c["dob_m"][idx] = 1
        elif kind == "missing_sex":
            c["sex"][idx] = ""
        elif kind == "id_mistyped":
            for i in idx:
                digits = list(c["id_number"][i])
                j = int(rng.integers(len(digits)))
                digits[j] = str((int(digits[j]) + int(rng.integers(1, 10))) % 10)
                c["id_number"][i] = "".join(digits)
        elif kind == "id_blank":
            c["id_number"][idx] = ""
        elif kind == "year_mistyped":
            c["dob_y"][idx] = c["dob_y"][idx] + rng.choice([-1, 1], len(idx))
        elif kind == "names_swapped":
            for i in idx:
                *rest, last = c["middle"][i].split(" ")
                c["middle"][i] = " ".join([*rest, c["given"][i].strip()])
                c["given"][i] = last
        else:
            raise ValueError(f"unknown corruption {kind!r}")
        mask = np.zeros(len(self.case_override), dtype=bool)
        mask[idx] = True
        self.applied[kind] = mask


_EXCLUSIVE = [
    {"day_month_swap", "year_only", "placeholder_0101", "year_mistyped"},
    {"middle_dropped", "middle_changed"},
    {"id_mistyped", "id_blank"},
]


def corrupt_records(
    records: pl.DataFrame, rng: np.random.Generator, profile: Profile, names: NameTable
) -> pl.DataFrame:
    """Apply corruptions, then flaws; add ``case_override``, ``note`` and ``flaw``.

    Args:
        records: Records with true values in ``family``, ``middle``, ``given``,
            ``father``, ``mother``, ``sex``, ``dob_y/m/d`` (0 = unknown),
            ``id_number``, and ``dup_kind``, ``batch``, ``prov``, ``system``,
            ``local_serial``.
        rng: Seeded generator.
        profile: Corruption and flaw rates.
        names: Name pools (middle-name changes, regional surname spellings).

    Returns:
        The records with corrupted values and the bookkeeping columns.
    """
    n = len(records)
    dup = records["dup_kind"].to_numpy() != "primary"
    worker = _Corrupter(records, rng, names)
    kinds = list(dict.fromkeys([*profile.duplicate_corruptions, *profile.primary_corruptions]))
    for kind in kinds:
        rate = np.where(
            dup,
            profile.duplicate_corruptions.get(kind, 0.0),
            profile.primary_corruptions.get(kind, 0.0),
        )
        mask = (rng.random(n) < rate) & worker.eligible(kind)
        for group in _EXCLUSIVE:
            if kind in group:
                for other in group - {kind}:
                    mask &= ~worker.applied.get(other, np.zeros(n, dtype=bool))
        worker.apply(kind, np.flatnonzero(mask))
    # A record written without diacritics stays so: a middle name or a
    # surname spelling changed after the marks were dropped loses them too.
    if "drop_diacritics" in worker.applied:
        worker.apply("drop_diacritics", np.flatnonzero(worker.applied["drop_diacritics"]))
    out = records.with_columns(
        **{k: pl.Series(v.tolist(), dtype=records[k].dtype) for k, v in worker.col.items()},
        case_override=pl.Series(worker.case_override.tolist(), dtype=pl.String),
    )
    out = _apply_flaws(out, rng, profile)
    labels = [pl.when(pl.lit(pl.Series(m))).then(pl.lit(k)) for k, m in worker.applied.items()]
    return out.with_columns(
        note=pl.concat_str(
            [
                pl.col("dup_kind"),
                *labels,
                pl.when(pl.col("flaw") != "").then(pl.format("flaw:{}", "flaw")),
            ],
            separator=";",
            ignore_nulls=True,
        )
    )


def _apply_flaws(records: pl.DataFrame, rng: np.random.Generator, profile: Profile) -> pl.DataFrame:
    """Give a few records one flaw each (exclusive): the row stays a person, but flawed."""
    n = len(records)
    kinds = list(profile.flaws)
    probs = np.array([profile.flaws[k] for k in kinds])
    u = rng.random(n)
    edges = np.cumsum(probs)
    pick = np.searchsorted(edges, u, side="right")
    flaw = np.where(pick < len(kinds), np.asarray([*kinds, ""], dtype=object)[pick], "")
    # A repeated local id needs an earlier record of the same file group.
    records = records.with_columns(flaw=pl.Series(flaw.tolist(), dtype=pl.String))
    records = records.with_columns(
        prev_serial=pl.col("local_serial")
        .shift(1)
        .over(["batch", "prov", "system"], order_by="record_no")
    )
    records = records.with_columns(
        flaw=pl.when((pl.col("flaw") == "repeated_local_id") & pl.col("prev_serial").is_null())
        .then(pl.lit(""))
        .otherwise(pl.col("flaw"))
    )
    flaw = records["flaw"].to_numpy()
    impossible = np.asarray(_IMPOSSIBLE)[rng.integers(len(_IMPOSSIBLE), size=n)]
    future_year = 2022 + records["batch"].to_numpy() // 4 + rng.integers(1, 5, n)
    dob_d, dob_m, dob_y = (records[c].to_numpy().copy() for c in ("dob_d", "dob_m", "dob_y"))
    is_imp, is_fut = flaw == "impossible_date", flaw == "future_date"
    dob_d[is_imp], dob_m[is_imp] = impossible[is_imp, 0], impossible[is_imp, 1]
    dob_y[is_fut] = future_year[is_fut]
    dob_m[is_fut] = np.maximum(dob_m[is_fut], 1)
    dob_d[is_fut] = np.maximum(dob_d[is_fut], 1)
    sex = records["sex"].to_numpy().copy()
    unk = flaw == "unknown_sex"
    sex[unk] = _UNKNOWN_SEX[rng.integers(len(_UNKNOWN_SEX), size=int(unk.sum()))]
    return records.with_columns(
        dob_d=pl.Series(dob_d, dtype=records["dob_d"].dtype),
        dob_m=pl.Series(dob_m, dtype=records["dob_m"].dtype),
        dob_y=pl.Series(dob_y, dtype=records["dob_y"].dtype),
        sex=pl.Series(sex.tolist(), dtype=pl.String),
        local_serial=pl.when(pl.col("flaw") == "repeated_local_id")
        .then(pl.col("prev_serial"))
        .otherwise(pl.col("local_serial")),
    ).drop("prev_serial")
