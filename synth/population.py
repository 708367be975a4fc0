"""The true population: households of Vietnamese persons with names, births and addresses.

Everything here is the ground truth that the records are later copied (and
corrupted) from. Households hold a head, usually a spouse, children (sometimes
twins) and sometimes the head's parents; children take the father's family
name, and a mother's family name is sometimes used as a middle name.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import polars as pl

from domain.identity import pin_prefix
from synth.places import Geography
from synth.profiles import Profile
from synth.reference import NameTable, ProvinceTable

#: Latest possible birth date: the population is born before the first batch.
LAST_BIRTH = np.datetime64("2021-05-31")

_HEAD, _SPOUSE, _GRANDFATHER, _GRANDMOTHER, _CHILD = range(5)
_NAMESAKES_MALE = ["Hùng", "Dũng", "Tuấn", "Nam"]
_NAMESAKES_FEMALE = ["Hương", "Mai", "Hằng", "Trang"]
_RELIGIONS = (
    ["Không", "Phật giáo", "Công giáo", "Hòa Hảo", "Tin lành", "Cao Đài"],
    [0.86, 0.05, 0.06, 0.01, 0.01, 0.01],
)
_OCCUPATIONS = [
    "Làm ruộng",
    "Công nhân",
    "Buôn bán",
    "Nội trợ",
    "Cán bộ",
    "Lao động tự do",
    "Giáo viên",
    "Kinh doanh",
    "Hưu trí",
    "",
]
_MINORITY_WEIGHTS = {"Tày": 8, "Thái": 8, "Mường": 6, "Mông": 6, "Khơ-me": 6, "Nùng": 5, "Hoa": 4}


#: Tone marks as combining characters (NFD): grave, acute, hook above, tilde, dot below.
_TONES = ("\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
#: Final letters a name can trade for another and still be a name.
_FINALS = (("nh", "ng"), ("ng", "nh"), ("n", "m"), ("m", "n"), ("i", "y"), ("y", "i"))


def _names_alike(name: str) -> list[str]:
    """Names a tone mark or one final letter away from ``name`` (Hà: Hạ, Há...; Khang: Khanh)."""
    decomposed = unicodedata.normalize("NFD", name)
    toned = [i for i, ch in enumerate(decomposed) if ch in _TONES]
    out = []
    if toned:
        i = toned[-1]
        out += [decomposed[:i] + t + decomposed[i + 1 :] for t in _TONES if t != decomposed[i]]
        out.append(decomposed[:i] + decomposed[i + 1 :])
    for old, new in _FINALS:
        if decomposed.endswith(old):
            out.append(decomposed[: -len(old)] + new)
            break
    alike = [unicodedata.normalize("NFC", n) for n in out]
    return [n for n in dict.fromkeys(alike) if n != name]


def _alike_pairs(pool: list[str]) -> list[tuple[str, str]]:
    """Ordered pairs of names of ``pool`` a tone mark or one letter apart (Hùng / Hưng)."""
    folded = {n: unicodedata.normalize("NFD", n) for n in pool}

    def one_apart(a: str, b: str) -> bool:
        x, y = folded[a], folded[b]
        if len(x) == len(y):
            return sum(p != q for p, q in zip(x, y, strict=True)) == 1
        short, long = sorted((x, y), key=len)
        return len(long) == len(short) + 1 and any(
            long[:k] + long[k + 1 :] == short for k in range(len(long))
        )

    return [
        (a, b) for a in pool for b in pool if a != b and (b in _names_alike(a) or one_apart(a, b))
    ]


def _side_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator of its own, seeded from ``rng``'s seed without drawing from ``rng``."""
    seed = getattr(rng.bit_generator, "seed_seq", None)
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed.spawn(1)[0])
    return rng


def _pick(rng: np.random.Generator, pool: tuple[list[str], np.ndarray], n: int) -> np.ndarray:
    names, probs = pool
    return np.asarray(names, dtype=object)[rng.choice(len(names), size=n, p=probs)]


def _tail(pool: tuple[list[str], np.ndarray]) -> tuple[list[str], np.ndarray]:
    """The pool without its first (marker) name, renormalised."""
    return pool[0][1:], pool[1][1:] / pool[1][1:].sum()


def _birth_dates(rng: np.random.Generator, years: np.ndarray) -> np.ndarray:
    """Draw a uniform day within each year, capped at :data:`LAST_BIRTH`."""
    start = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    leap = (years % 4 == 0) & ((years % 100 != 0) | (years % 400 == 0))
    offset = (rng.random(len(years)) * (365 + leap)).astype(np.int64)
    return np.minimum(start + offset, LAST_BIRTH)


def _middle_names(
    rng: np.random.Generator, names: NameTable, male: np.ndarray, young: np.ndarray
) -> np.ndarray:
    """Middle names by sex and cohort: 0-2 words, Văn/Thị common among the old."""
    n = len(male)
    first = np.where(male, _pick(rng, names.middle_male, n), _pick(rng, names.middle_female, n))
    second = np.where(
        male, _pick(rng, _tail(names.middle_male), n), _pick(rng, _tail(names.middle_female), n)
    )
    marker = np.where(male, "Văn", "Thị")
    p_marker = np.where(male, np.where(young, 0.05, 0.65), np.where(young, 0.3, 0.65))
    first = np.where(rng.random(n) < p_marker, marker, first)
    words = np.where(
        male, rng.choice(3, n, p=[0.02, 0.72, 0.26]), rng.choice(3, n, p=[0.01, 0.36, 0.63])
    )
    two = (words == 2) & (second != first)
    out = np.where(words == 0, "", first).astype(object)
    out[two] = first[two] + " " + second[two]
    return out


def _join_names(*parts: np.ndarray) -> list[str]:
    return [" ".join(p for p in row if p) for row in zip(*parts, strict=True)]


def _invented_parents(
    rng: np.random.Generator,
    names: NameTable,
    family: np.ndarray | None,
    marker: str,
    given: tuple[list[str], np.ndarray],
    size: int = 0,
) -> list[str]:
    """Names of parents who are not in the population (family drawn when not given)."""
    n = len(family) if family is not None else size
    fam = family if family is not None else _pick(rng, names.family, n)
    pool = names.middle_male if marker == "Văn" else names.middle_female
    middle = np.where(rng.random(n) < 0.6, marker, _pick(rng, pool, n))
    return _join_names(fam, middle, _pick(rng, given, n))


def _id_numbers(
    rng: np.random.Generator,
    provinces: ProvinceTable,
    birth_prov: np.ndarray,
    male: np.ndarray,
    years: np.ndarray,
) -> list[str]:
    """9-digit CMND, 12-digit CCCD or blank; children rarely hold one."""
    n = len(years)
    kind = rng.choice(3, size=n, p=[0.4, 0.35, 0.25])  # blank / CMND / CCCD
    kind = np.where((years > 2007) & (rng.random(n) < 0.95), 0, kind)
    serial = rng.integers(0, 10**9, size=n)
    prefixes = [p.split("|")[0] or f"3{i % 10}" for i, p in enumerate(provinces.cmnd_prefix)]
    out = []
    for k, prov, m, y, s in zip(kind, birth_prov, male, years, serial, strict=True):
        if k == 1:
            prefix = prefixes[prov]
            out.append((prefix + f"{s:09d}")[:9])
        elif k == 2:
            prefix = pin_prefix(provinces.codes[prov], "M" if m else "F", int(y))
            out.append(f"{prefix}{s % 10**6:06d}")
        else:
            out.append("")
    return out


def build_population(
    n_persons: int,
    rng: np.random.Generator,
    profile: Profile,
    names: NameTable,
    provinces: ProvinceTable,
    geography: Geography,
    weight: np.ndarray,
) -> pl.DataFrame:
    """Return ``n_persons`` true persons, grouped in households.

    Args:
        n_persons: Number of persons to create.
        rng: Seeded generator; the only source of randomness.
        profile: Rates (twins, namesakes, year-only births).
        names: Name pools.
        provinces: Province table.
        geography: Districts and communes per province.
        weight: Relative population of each province.

    Returns:
        One row per person; ``home`` is the index of the household's province.
    """
    n_hh = max(1, int(n_persons / 3.4) + 4)
    n_prov = len(provinces.codes)
    home = rng.choice(n_prov, size=n_hh, p=weight / weight.sum())
    head_male = rng.random(n_hh) < 0.8
    has_spouse = rng.random(n_hh) < 0.85
    n_child = rng.choice(6, size=n_hh, p=[0.12, 0.2, 0.35, 0.2, 0.09, 0.04])
    n_grand = rng.choice(3, size=n_hh, p=[0.75, 0.13, 0.12])
    has_gf = (n_grand == 2) | ((n_grand == 1) & (rng.random(n_hh) < 0.4))
    has_gm = (n_grand == 2) | ((n_grand == 1) & ~has_gf)
    twins = (n_child >= 2) & (rng.random(n_hh) < profile.twins)
    head_year = np.clip(np.round(rng.normal(1972, 13, n_hh)), 1932, 1998).astype(np.int64)
    gap = rng.integers(0, 7, n_hh)
    spouse_year = np.where(head_male, head_year + gap, head_year - gap)
    gf_year = np.maximum(1905, np.minimum(head_year, spouse_year) - rng.integers(20, 36, n_hh))
    gm_year = np.minimum(head_year - 18, gf_year + rng.integers(0, 7, n_hh))
    head_family = _pick(rng, names.family, n_hh)
    spouse_family = _pick(rng, names.family, n_hh)
    gm_family = _pick(rng, names.family, n_hh)
    father_family = np.where(
        head_male, head_family, np.where(has_spouse, spouse_family, _pick(rng, names.family, n_hh))
    )
    mother_family = np.where(head_male, spouse_family, head_family)
    district = np.array([rng.integers(len(geography.districts[h])) for h in home])
    commune = np.array(
        [rng.integers(len(geography.communes[h][d])) for h, d in zip(home, district, strict=True)]
    )
    minority = list(_MINORITY_WEIGHTS)
    mw = np.array(list(_MINORITY_WEIGHTS.values()), float)
    hh_ethnic = np.where(
        rng.random(n_hh) < 0.85,
        "Kinh",
        np.asarray(minority, object)[rng.choice(len(minority), n_hh, p=mw / mw.sum())],
    )
    hh_religion = np.asarray(_RELIGIONS[0], object)[rng.choice(6, n_hh, p=_RELIGIONS[1])]

    # Members: one row per (household, slot), ordered head, spouse, grandparents, children.
    hh_all = np.arange(n_hh)
    child_hh = np.repeat(hh_all, n_child)
    child_k = np.arange(len(child_hh)) - np.repeat(np.cumsum(n_child) - n_child, n_child)
    hh = np.concatenate([hh_all, hh_all[has_spouse], hh_all[has_gf], hh_all[has_gm], child_hh])
    role = np.concatenate(
        [
            np.full(n_hh, _HEAD),
            np.full(has_spouse.sum(), _SPOUSE),
            np.full(has_gf.sum(), _GRANDFATHER),
            np.full(has_gm.sum(), _GRANDMOTHER),
            np.full(len(child_hh), _CHILD),
        ]
    )
    k = np.concatenate([np.zeros(len(hh) - len(child_hh), int), child_k])
    order = np.lexsort((k, role, hh))[:n_persons]
    hh, role, k = hh[order], role[order], k[order]
    n = len(hh)

    child = role == _CHILD
    male = np.select(
        [role == _HEAD, role == _SPOUSE, role == _GRANDFATHER, role == _GRANDMOTHER],
        [head_male[hh], ~head_male[hh], True, False],
        rng.random(n) < 0.51,
    )
    eldest = np.maximum(head_year, spouse_year) + rng.integers(20, 31, n_hh)
    child_year = np.minimum(2020, eldest[hh] + k * 2 + rng.integers(0, 3, n))
    year = np.select(
        [role == _HEAD, role == _SPOUSE, role == _GRANDFATHER, role == _GRANDMOTHER],
        [head_year[hh], spouse_year[hh], gf_year[hh], gm_year[hh]],
        child_year,
    )
    dob = _birth_dates(rng, year)
    # Twins: the last two children of a twin household share a birth date.
    twin_second = child & twins[hh] & (k == n_child[hh] - 1) & (k >= 1)
    twin_second &= np.roll(hh, 1) == hh
    first_idx = np.flatnonzero(twin_second) - 1
    dob[twin_second] = dob[first_idx]
    year = dob.astype("datetime64[Y]").astype(int) + 1970
    month = dob.astype("datetime64[M]").astype(int) % 12 + 1
    day = (dob - dob.astype("datetime64[M]").astype("datetime64[D]")).astype(int) + 1
    p_year_only = np.select(
        [year < 1950, year < 1970, year < 1990], [profile.year_only_old, 0.12, 0.03], 0.01
    )
    u = rng.random(n)
    precision = np.where(u < p_year_only, "year", np.where(u < p_year_only + 0.01, "month", "day"))
    precision[twin_second] = precision[first_idx]

    family = np.select(
        [role == _HEAD, role == _SPOUSE, role == _GRANDFATHER, role == _GRANDMOTHER],
        [head_family[hh], spouse_family[hh], head_family[hh], gm_family[hh]],
        father_family[hh],
    ).astype(object)
    middle = _middle_names(rng, names, male, year >= 1985)
    maternal = child & (rng.random(n) < 0.06) & (mother_family[hh] != family)
    middle[maternal] = [
        f"{m} {w}".strip()
        for m, w in zip(
            mother_family[hh][maternal],
            np.where(rng.random(maternal.sum()) < 0.5, middle[maternal], ""),
            strict=True,
        )
    ]
    given = np.where(
        male, _pick(rng, names.given_male, n), _pick(rng, names.given_female, n)
    ).astype(object)
    adult_common = (
        ~child & np.isin(family, ["Nguyễn", "Trần", "Lê"]) & (rng.random(n) < profile.namesakes)
    )
    middle[adult_common] = np.where(male[adult_common], "Văn", "Thị")
    given[adult_common] = np.where(
        male, rng.choice(_NAMESAKES_MALE, n), rng.choice(_NAMESAKES_FEMALE, n)
    )[adult_common]
    # Twins get distinct given names.
    for i in np.flatnonzero(twin_second):
        pool = names.given_male if male[i] else names.given_female
        while given[i] == given[i - 1]:
            given[i] = pool[0][int(rng.integers(len(pool[0])))]
    # The classes below draw from their own stream, so the rest of the
    # population is the same as without them.
    side = _side_rng(rng)
    # Twins of one sex are often given two names a tone mark or a letter apart.
    alike_pairs = {
        sex: _alike_pairs(pool[0])
        for sex, pool in ((True, names.given_male), (False, names.given_female))
    }
    for i in np.flatnonzero(twin_second):
        pairs = alike_pairs[bool(male[i])]
        if male[i] == male[i - 1] and pairs and side.random() < profile.twins_named_alike:
            given[i - 1], given[i] = pairs[int(side.integers(len(pairs)))]
    # Namesakes at a country's density: a wife takes the full name and birth
    # year of another woman of her province, on another day of that year.
    wives = np.flatnonzero((role == _SPOUSE) & ~male & (side.random(n) < profile.namesake_pairs))
    women = np.flatnonzero(~male & ~child)
    home_of = home[hh]
    for j in wives:
        same_province = women[(home_of[women] == home_of[j]) & (hh[women] != hh[j])]
        if same_province.size == 0:
            continue
        w = int(same_province[int(side.integers(same_province.size))])
        family[j], middle[j], given[j] = family[w], middle[w], given[w]
        days = 365 + int(year[w] % 4 == 0)
        start = np.datetime64(f"{year[w]}-01-01")
        other = start + int(side.integers(days))
        dob[j] = other if other != dob[w] else other + (1 if other < start + days - 1 else -1)
        year[j], precision[j] = year[w], precision[w]
        month[j] = int(str(dob[j])[5:7])
        day[j] = int(str(dob[j])[8:10])
    full = _join_names(family, middle, given)

    # Parents' names: household members where present, invented otherwise.
    full_arr = np.asarray(full, dtype=object)
    slot = {r: np.full(n_hh, -1) for r in (_HEAD, _SPOUSE, _GRANDFATHER, _GRANDMOTHER)}
    for r, arr in slot.items():
        sel = role == r
        arr[hh[sel]] = np.flatnonzero(sel)
    father_idx = np.where(head_male[hh], slot[_HEAD][hh], slot[_SPOUSE][hh])
    mother_idx = np.where(head_male[hh], slot[_SPOUSE][hh], slot[_HEAD][hh])
    father_idx = np.where(child, father_idx, np.where(role == _HEAD, slot[_GRANDFATHER][hh], -1))
    mother_idx = np.where(child, mother_idx, np.where(role == _HEAD, slot[_GRANDMOTHER][hh], -1))
    # Invented parents: one pair per household for its children, one per adult otherwise.
    inv_father = np.asarray(_invented_parents(rng, names, family, "Văn", names.given_male), object)
    inv_mother = np.asarray(
        _invented_parents(rng, names, None, "Thị", names.given_female, n), object
    )
    hh_father = np.asarray(
        _invented_parents(rng, names, father_family, "Văn", names.given_male), object
    )
    hh_mother = np.asarray(
        _invented_parents(rng, names, None, "Thị", names.given_female, n_hh), object
    )
    inv_father = np.where(child, hh_father[hh], inv_father)
    inv_mother = np.where(child, hh_mother[hh], inv_mother)
    father = np.where(father_idx >= 0, full_arr[np.maximum(father_idx, 0)], inv_father)
    mother = np.where(mother_idx >= 0, full_arr[np.maximum(mother_idx, 0)], inv_mother)

    person_id = np.asarray([f"P{i + 1:07d}" for i in range(n)], dtype=object)
    twin_of = np.full(n, "", dtype=object)
    twin_of[twin_second] = person_id[first_idx]
    twin_of[first_idx] = person_id[twin_second]
    home_p = home[hh]
    birth_prov = np.where(
        rng.random(n) < 0.8, home_p, rng.choice(n_prov, n, p=weight / weight.sum())
    )
    relation = np.select(
        [role == _HEAD, role == _SPOUSE, role == _GRANDFATHER, role == _GRANDMOTHER],
        ["Chủ hộ", np.where(male, "Chồng", "Vợ"), "Bố", "Mẹ"],
        "Con",
    )
    age = 2021 - year
    occupation = np.asarray(_OCCUPATIONS, object)[rng.integers(len(_OCCUPATIONS), size=n)]
    occupation = np.where(
        age < 6, "", np.where(age < 18, "Học sinh", np.where(age > 65, "Hưu trí", occupation))
    )
    return pl.DataFrame(
        {
            "person_id": person_id,
            "household_id": [f"H{h + 1:07d}" for h in hh],
            "relation_to_head": relation,
            "family_name": family,
            "middle_name": middle,
            "given_name": given,
            "full_name": full,
            "sex": np.where(male, "M", "F"),
            "birth_year": year.astype(np.int32),
            "birth_month": month.astype(np.int8),
            "birth_day": day.astype(np.int8),
            "dob_precision": precision,
            "birth_province_code": np.asarray(provinces.codes)[birth_prov],
            "home": home_p.astype(np.int32),
            "district": district[hh].astype(np.int32),
            "commune": commune[hh].astype(np.int32),
            "hamlet": rng.integers(1, 16, n_hh)[hh].astype(np.int32),
            "house_number": rng.integers(1, 400, n_hh)[hh].astype(np.int32),
            "ethnicity": hh_ethnic[hh],
            "religion": hh_religion[hh],
            "occupation": occupation,
            "id_number": _id_numbers(rng, provinces, birth_prov, male, year),
            "father_name": father,
            "mother_name": mother,
            "twin_of": twin_of,
        }
    )
