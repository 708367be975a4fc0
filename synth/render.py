"""Turn records into the cell values one legacy system writes.

Rendering applies a system's habits to each record: name case, date style,
sex codes, id formats, address layout, place spellings. Values are strings,
except in XLSX where dates may be Excel date cells (``datetime.date``) or raw
serial numbers, and split date parts are numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from synth.places import Geography
from synth.population import LAST_BIRTH
from synth.systems import LegacySystem

Cell = str | int | dt.date | None

_EXCEL_EPOCH = dt.date(1899, 12, 30)
_NICKNAMES = ["Tý", "Tèo", "Bé", "Cu", "Út", "Hai", "Ba"]
_NATIONALITY = ["Việt Nam"] * 8 + ["VN", "Viet Nam"]


@dataclass(frozen=True)
class RenderContext:
    """Reference data rendering needs.

    Attributes:
        codes: Province codes by index.
        spellings: Province spellings by index.
        geography: Districts and communes per province.
        ethnic_spellings: Other spellings of each ethnic group, by name.
    """

    codes: list[str]
    spellings: list[list[str]]
    geography: Geography
    ethnic_spellings: dict[str, list[str]]


#: No one of the generated population is born after this year.
_LAST_BIRTH_YEAR = int(str(LAST_BIRTH)[:4])


def format_date(y: int, m: int, d: int, style: str, unknown: str) -> str:
    """Render a date in ``style``; ``m``/``d`` of 0 mean unknown.

    Args:
        y: Year (0 = no date).
        m: Month, 0 when unknown.
        d: Day, 0 when unknown.
        style: One of :data:`synth.systems.DATE_STYLES`.
        unknown: How a year-only date is written (``yyyy``, ``00/00/yyyy``, ...).

    Returns:
        The text a clerk's system would show.
    """
    if y == 0:
        return ""
    if m == 0:
        if style in ("iso", "compact"):
            return str(y)
        return unknown.replace("yyyy", str(y))
    if d == 0:
        if style == "iso":
            return f"{y}-{m:02d}"
        if style == "compact":
            return f"{y}{m:02d}00"
        return {"00/00/yyyy": f"00/{m:02d}/{y}", "../../yyyy": f"../{m:02d}/{y}"}.get(
            unknown, f"{m:02d}/{y}"
        )
    return {
        "dmy_slash": f"{d:02d}/{m:02d}/{y}",
        "dmy_slash_short": f"{d}/{m}/{y}",
        "dmy_dash": f"{d:02d}-{m:02d}-{y}",
        "dmy_dot": f"{d:02d}.{m:02d}.{y}",
        "iso": f"{y}-{m:02d}-{d:02d}",
        "compact": f"{y}{m:02d}{d:02d}",
        # Two-digit years read as the past: a (flawed) future date is written
        # in full, or it would be read as a birth a century earlier.
        "dmy_2digit": f"{d:02d}/{m:02d}/{y % 100:02d}"
        if y <= _LAST_BIRTH_YEAR
        else f"{d:02d}/{m:02d}/{y}",
    }[style]


def _valid_date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d) if m and d else None
    except ValueError:
        return None


def _date_cells(system: LegacySystem, y: np.ndarray, m: np.ndarray, d: np.ndarray) -> list[Cell]:
    style, unknown = system.date_style, system.unknown_date_style
    text = [
        format_date(*v, style, unknown)
        for v in zip(y.tolist(), m.tolist(), d.tolist(), strict=True)
    ]
    if system.fmt != "xlsx" or system.xlsx_dates == "text":
        return list(text)
    out: list[Cell] = []
    for t, yy, mm, dd in zip(text, y.tolist(), m.tolist(), d.tolist(), strict=True):
        date = _valid_date(yy, mm, dd)
        if date is None:
            out.append(yy if mm == 0 and system.xlsx_dates == "serial" else t)
        elif system.xlsx_dates == "cell":
            out.append(date)
        else:
            out.append((date - _EXCEL_EPOCH).days)
    return out


def _cased(values: np.ndarray, case: str, override: np.ndarray) -> list[str]:
    funcs: dict[str | None, Callable[[str], str]] = {
        "upper": str.upper,
        "lower": str.lower,
        "title": str.title,
    }
    default = funcs.get(case, str)
    return [(funcs[o] if o else default)(v) for v, o in zip(values, override, strict=True)]


def render_records(
    records: pl.DataFrame, system: LegacySystem, rng: np.random.Generator, ctx: RenderContext
) -> list[list[Cell]]:
    """Return one row of cells per record, in the order of ``system.columns``.

    Args:
        records: Corrupted records of one file, in file order.
        system: The legacy system writing the file.
        rng: Seeded generator (place spellings, nicknames, notes).
        ctx: Reference data.

    Returns:
        Rows of cells; the ``stt`` column (row number) is filled by the layout.
    """
    n = len(records)
    r: dict[str, Any] = {c: records[c].to_numpy() for c in records.columns}
    prov = r["prov"].astype(np.int64)
    code = np.asarray(ctx.codes, dtype=object)[prov]
    override = r["case_override"]
    case = system.name_case
    name_parts = {f: _cased(r[f], case, override) for f in ("family", "middle", "given")}
    xlsx = system.fmt == "xlsx"

    def spelled(idx: np.ndarray) -> list[str]:
        picks = rng.integers(0, 100, len(idx))
        return [
            ctx.spellings[i][p % len(ctx.spellings[i])] for i, p in zip(idx, picks, strict=True)
        ]

    def address_parts() -> dict[str, list[str]]:
        geo = ctx.geography
        dist = [geo.districts[p][d] for p, d in zip(prov, r["district"], strict=True)]
        com = [
            geo.communes[p][d][c] for p, d, c in zip(prov, r["district"], r["commune"], strict=True)
        ]
        unit = [("Tổ " if c.startswith("Phường") else "Thôn ") for c in com]
        return {
            "house_number": [str(h) for h in r["house_number"]],
            "hamlet": [u + str(h) for u, h in zip(unit, r["hamlet"], strict=True)],
            "commune": com,
            "district": dist,
        }

    cols: dict[str, Sequence[Cell]] = {}
    fields = set(system.fields)
    if "local_id" in fields:
        cols["local_id"] = [
            system.local_id_format.format(n=s, p=c)
            for s, c in zip(r["local_serial"], code, strict=True)
        ]
    if "household_id" in fields:
        cols["household_id"] = [
            system.household_format.format(n=s, p=c)
            for s, c in zip(r["household_serial"], code, strict=True)
        ]
    cols["relation_to_head"] = list(r["relation"])
    cols["full_name"] = [
        " ".join(p for p in row if p) for row in zip(*name_parts.values(), strict=True)
    ]
    cols["family_name"], cols["middle_name"], cols["given_name"] = (
        list(v) for v in name_parts.values()
    )
    if "other_name" in fields:
        cols["other_name"] = [_NICKNAMES[i % 7] if i < 14 else "" for i in rng.integers(0, 700, n)]
    y, m, d = r["dob_y"].astype(int), r["dob_m"].astype(int), r["dob_d"].astype(int)
    if "date_of_birth" in fields:
        with_year = "birth_year" in fields
        empty = (m == 0) & with_year & (rng.random(n) < 0.7)
        cols["date_of_birth"] = _date_cells(system, np.where(empty, 0, y), m, d)
    if "birth_day" in fields:
        cols["birth_day"] = [(v if xlsx else str(v)) if v else "" for v in d.tolist()]
        cols["birth_month"] = [(v if xlsx else str(v)) if v else "" for v in m.tolist()]
    cols["birth_year"] = [v if xlsx else str(v) for v in y.tolist()]
    male, female = system.sex_codes
    cols["sex"] = [male if s == "M" else female if s == "F" else s for s in r["sex"]]
    if "birth_place" in fields:
        cols["birth_place"] = spelled(r["birth_prov"])
    if "native_place" in fields:
        cols["native_place"] = spelled(np.where(rng.random(n) < 0.7, r["birth_prov"], prov))
    if "ethnicity" in fields:
        alt = rng.random(n) < 0.05
        cols["ethnicity"] = [
            (ctx.ethnic_spellings.get(e) or [e])[0] if a else e
            for e, a in zip(r["ethnicity"], alt, strict=True)
        ]
    cols["religion"] = list(r["religion"])
    cols["nationality"] = [_NATIONALITY[i] for i in rng.integers(0, len(_NATIONALITY), n)]
    cols["id_number"] = list(r["id_number"])
    cols["occupation"] = list(r["occupation"])
    if fields & {"address", "house_number"}:
        parts = address_parts()
        cols.update(parts)
        house_word = np.where(rng.random(n) < 0.5, "Số ", "")
        cols["address"] = [
            f"{w}{h}, {t}, {c}, {dd}"
            for w, h, t, c, dd in zip(house_word, *parts.values(), strict=True)
        ]
    cols["father_name"] = _cased(r["father"], case, override)
    cols["mother_name"] = _cased(r["mother"], case, override)
    cols["residence_type"] = list(r["residence"])
    if "registered_on" in fields:
        reg = r["registered_on"].astype("datetime64[D]")
        ry = reg.astype("datetime64[Y]").astype(int) + 1970
        rm = reg.astype("datetime64[M]").astype(int) % 12 + 1
        rd = (reg - reg.astype("datetime64[M]")).astype(int) + 1
        cols["registered_on"] = _date_cells(system, ry, rm, rd)
    if "note" in fields:
        moved = r["dup_kind"] == "moved"
        cols["note"] = [
            f"Chuyển đến từ {ctx.spellings[b][0]}"
            if mv and u < 0.5
            else ("KT3" if u > 0.99 else "")
            for mv, b, u in zip(moved, r["birth_prov"], rng.random(n), strict=True)
        ]
    cols["stt"] = [""] * n
    ordered = [cols[f] for f in system.fields]
    return [list(row) for row in zip(*ordered, strict=True)]
