"""Registrations: which province, batch and system records each true person.

Every person is registered once where the household lives. Some persons are
registered again: after moving to another province, for a temporary residence
elsewhere, twice by a clerk in the same batch, or again in a later batch (as a
correction under the same local id, or re-entered under a new one). The result
is one row per record, still holding true values; corruption comes later.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from synth.places import Geography
from synth.profiles import Profile

_FIRST_BATCH = dt.date(2021, 6, 15)
_GUEST_RELATIONS = np.array(["Chủ hộ", "Ở nhờ", "Cháu", "Em", "Anh", "Chị"], dtype=object)


def batch_ids(n_batches: int) -> list[str]:
    """Return batch ids: 2021-06-15, then the end of each following quarter."""
    out = [_FIRST_BATCH.isoformat()]
    year, quarter = 2021, 3
    while len(out) < n_batches:
        month = quarter * 3
        last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).isoformat()
        out.append(last)
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
    return out


def _batch_between(rng: np.random.Generator, low: np.ndarray, high: int) -> np.ndarray:
    """Uniform batch index in ``[low, high]`` (element-wise)."""
    return low + (rng.random(len(low)) * (high - low + 1)).astype(np.int64)


def _new_address(
    rng: np.random.Generator, geography: Geography, prov: np.ndarray
) -> dict[str, np.ndarray]:
    district = np.array([rng.integers(len(geography.districts[p])) for p in prov], dtype=np.int64)
    commune = np.array(
        [rng.integers(len(geography.communes[p][d])) for p, d in zip(prov, district, strict=True)],
        dtype=np.int64,
    )
    n = len(prov)
    return {
        "district": district,
        "commune": commune,
        "hamlet": rng.integers(1, 16, n),
        "house_number": rng.integers(1, 400, n),
    }


def build_registrations(
    persons: pl.DataFrame,
    rng: np.random.Generator,
    profile: Profile,
    n_batches: int,
    geography: Geography,
    weight: np.ndarray,
    systems: list[list[int]],
) -> pl.DataFrame:
    """Return one row per record to write, with true values and where it goes.

    Args:
        persons: The true population (:func:`~synth.population.build_population`).
        rng: Seeded generator.
        profile: Duplicate rates.
        n_batches: Number of batches.
        geography: Districts and communes per province.
        weight: Relative population per province (target of moves).
        systems: Pool indices of the systems each province uses.

    Returns:
        Records with ``person``, ``batch``, ``prov``, ``system``, address,
        ``dup_kind``, ``local_serial`` (unique per province except corrections
        which reuse their first record's) and ``household_serial``.
    """
    n_prov = len(weight)
    last = n_batches - 1
    first = np.where(rng.random(n_prov) < 0.6, 0, rng.integers(0, n_batches, n_prov))
    home = persons["home"].to_numpy().astype(np.int64)
    n = len(home)
    hh_true = np.unique(persons["household_id"].to_numpy(), return_inverse=True)[1]
    hh_home = np.zeros(int(hh_true.max()) + 1, dtype=np.int64)
    hh_home[hh_true] = home
    hh_batch = np.where(
        rng.random(len(hh_home)) < 0.75,
        first[hh_home],
        _batch_between(rng, first[hh_home], last),
    )
    batch0 = hh_batch[hh_true]
    primary = {
        "person": np.arange(n),
        "batch": batch0,
        "prov": home,
        "dup_kind": np.full(n, "primary", dtype=object),
        "district": persons["district"].to_numpy().astype(np.int64),
        "commune": persons["commune"].to_numpy().astype(np.int64),
        "hamlet": persons["hamlet"].to_numpy().astype(np.int64),
        "house_number": persons["house_number"].to_numpy().astype(np.int64),
        "household_key": hh_true.astype(np.int64),
        "relation": persons["relation_to_head"].to_numpy().astype(object),
        "residence": np.full(n, "Thường trú", dtype=object),
    }
    parts = [primary]
    p_move = weight / weight.sum()
    next_household = len(hh_home)
    for kind, rate in [("moved", profile.moved), ("temporary", profile.temporary)]:
        who = np.flatnonzero(rng.random(n) < rate)
        target = rng.choice(n_prov, size=len(who), p=p_move)
        target = np.where(target == home[who], (target + 1) % n_prov, target)
        batch = _batch_between(rng, np.maximum(batch0[who], first[target]), last)
        part = {
            "person": who,
            "batch": batch,
            "prov": target,
            "dup_kind": np.full(len(who), kind, dtype=object),
        }
        part |= _new_address(rng, geography, target)
        part["household_key"] = next_household + np.arange(len(who))
        next_household += len(who)
        part["relation"] = _GUEST_RELATIONS[rng.integers(len(_GUEST_RELATIONS), size=len(who))]
        residence = "Thường trú" if kind == "moved" else "Tạm trú"
        part["residence"] = np.full(len(who), residence, dtype=object)
        parts.append(part)
    clerk = np.flatnonzero(rng.random(n) < profile.clerk_double)
    parts.append(_copy(primary, clerk, "clerk_double", batch0[clerk]))
    if last > 0:
        again = np.flatnonzero((rng.random(n) < profile.later_batch) & (batch0 < last))
        again_kind = np.where(rng.random(len(again)) < 0.5, "correction", "reregistered")
        part = _copy(primary, again, "", _batch_between(rng, batch0[again] + 1, last))
        part["dup_kind"] = again_kind.astype(object)
        parts.append(part)

    columns = {k: np.concatenate([p[k] for p in parts]) for k in primary}
    df = pl.DataFrame(columns).with_row_index("record_no")
    n_sys = np.array([len(s) for s in systems])
    sys_table = np.full((n_prov, int(n_sys.max())), -1)
    for p, s in enumerate(systems):
        sys_table[p, : len(s)] = s
    prov = df["prov"].to_numpy()
    df = df.with_columns(system=pl.Series(sys_table[prov, df["district"].to_numpy() % n_sys[prov]]))
    return _serials(_registered_on(df, persons, rng, n_batches))


def _registered_on(
    df: pl.DataFrame, persons: pl.DataFrame, rng: np.random.Generator, n_batches: int
) -> pl.DataFrame:
    """Registration date: up to 15 years before the batch, not before birth."""
    batch_dates = np.array(batch_ids(n_batches), dtype="datetime64[D]")
    births = (
        persons.select(pl.date("birth_year", "birth_month", "birth_day").cast(pl.Int64))
        .to_series()
        .to_numpy()
    )
    person = df["person"].to_numpy()
    batch_day = batch_dates[df["batch"].to_numpy()].astype(np.int64)
    days = batch_day - rng.integers(30, 15 * 365, len(df))
    days = np.maximum(days, np.minimum(births[person] + 1, batch_day))
    return df.with_columns(registered_on=pl.Series(days.astype("datetime64[D]")))


def _copy(
    primary: dict[str, np.ndarray], who: np.ndarray, kind: str, batch: np.ndarray
) -> dict[str, np.ndarray]:
    part = {k: v[who] for k, v in primary.items()}
    part["batch"] = batch
    part["dup_kind"] = np.full(len(who), kind, dtype=object)
    return part


def _serials(df: pl.DataFrame) -> pl.DataFrame:
    """Number records and households within each province, in delivery order."""
    df = df.sort(["prov", "batch", "record_no"])
    df = df.with_columns(
        local_serial=pl.int_range(1, pl.len() + 1).over("prov"),
        household_serial=pl.col("household_key").rank("dense").over("prov").cast(pl.Int64),
    )
    # A correction repeats the local id of the person's first record in that province.
    first_ids = df.filter(pl.col("dup_kind") == "primary").select(
        "person", "prov", first_serial="local_serial"
    )
    df = df.join(first_ids, on=["person", "prov"], how="left", maintain_order="left")
    df = df.with_columns(
        local_serial=pl.when(pl.col("dup_kind") == "correction")
        .then(pl.col("first_serial"))
        .otherwise(pl.col("local_serial"))
    ).drop("first_serial")
    return df.sort("record_no")
