"""Generate a synthetic delivery: inbox batches of legacy exports, plus the truth.

One call builds the population, registers persons (with repeats), corrupts
records, renders each (batch, province, system) group with that system's
habits, writes the files and the truth tables. The same arguments always give
byte-identical output: every random draw comes from generators seeded by
``seed`` (and, per file, by the file's batch, province and system).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from domain.vntext import strip_diacritics
from synth import reference
from synth.broken import add_broken_files
from synth.corrupt import corrupt_records
from synth.layout import (
    NOTES_NAMES,
    SUMMARY_NAMES,
    Sheet,
    lay_out_sheet,
    notes_sheet,
    summary_sheet,
)
from synth.places import (
    Geography,
    build_geography,
    province_spellings,
    province_weights,
)
from synth.population import build_population
from synth.profiles import Profile, get_profile
from synth.reference import ProvinceTable
from synth.registrations import batch_ids, build_registrations
from synth.render import Cell, RenderContext, render_records
from synth.systems import LegacySystem, assign_systems, build_system_pool, clean_csv_system
from synth.writers import write_csv, write_dbf, write_xlsx

#: Data rows per delimited-text file before the export is split into parts.
CSV_PART_ROWS = 50_000
_TRUTH_COLUMNS = [
    "batch_id",
    "province_code",
    "source_file",
    "source_sheet",
    "source_row",
    "local_id",
    "person_id",
    "row_kind",
    "note",
]


@dataclass(frozen=True)
class GenerateSummary:
    """What a generation run wrote.

    Attributes:
        out: Output folder (``inbox/`` and ``truth/`` below it).
        batches: Batch ids, in order.
        persons: True persons.
        records: Rows describing a person (``person`` and ``flawed`` rows).
        flawed_rows: Of which flawed.
        junk_rows: Rows that are not people (titles, headers, blanks, totals...).
        files: Files written to the inbox.
        files_by_format: File count per format (``csv``, ``xlsx``, ``dbf``).
        files_by_encoding: File count per ``format:encoding``.
    """

    out: Path
    batches: list[str]
    persons: int
    records: int
    flawed_rows: int
    junk_rows: int
    files: int
    files_by_format: dict[str, int] = field(default_factory=dict)
    files_by_encoding: dict[str, int] = field(default_factory=dict)


def _record_frame(
    registrations: pl.DataFrame, persons: pl.DataFrame, codes: list[str]
) -> pl.DataFrame:
    """Join the true values each record starts from."""
    code_index = pl.DataFrame({"birth_province_code": codes, "birth_prov": range(len(codes))})
    truth = (
        persons.with_row_index("person")
        .join(code_index, on="birth_province_code", how="left", maintain_order="left")
        .select(
            pl.col("person").cast(pl.Int64),
            "person_id",
            "home",
            family="family_name",
            middle="middle_name",
            given="given_name",
            father="father_name",
            mother="mother_name",
            sex="sex",
            dob_y=pl.col("birth_year").cast(pl.Int32),
            dob_m=pl.when(pl.col("dob_precision") == "year")
            .then(0)
            .otherwise(pl.col("birth_month"))
            .cast(pl.Int32),
            dob_d=pl.when(pl.col("dob_precision") == "day")
            .then(pl.col("birth_day"))
            .otherwise(0)
            .cast(pl.Int32),
            id_number="id_number",
            ethnicity="ethnicity",
            religion="religion",
            occupation="occupation",
            birth_prov=pl.col("birth_prov").cast(pl.Int64),
        )
    )
    return registrations.join(truth, on="person", how="left", maintain_order="left")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _sheet_name(name: str, encoding: str, used: set[str]) -> str:

    base = (name if encoding == "unicode" else strip_diacritics(name))[:28]
    out, k = base, 1
    while out in used:
        k += 1
        out = f"{base} {k}"
    used.add(out)
    return out


@dataclass
class _Run:
    """Mutable state of one generation run: where files go and what was written."""

    inbox: Path
    seed: int
    profile: Profile
    batches: list[str]
    ctx: RenderContext
    names: list[str]
    ascii_names: list[str]
    truth: list[tuple[str, str, str, str, int, str, str, str, str]] = field(default_factory=list)
    files: list[dict[str, object]] = field(default_factory=list)

    def file_name(self, folder: Path, stem: str, ext: str) -> str:
        name, k = f"{stem}.{ext}", 1
        while (folder / name).exists():
            k += 1
            name = f"{stem}_{k}.{ext}"
        return name

    def write_group(
        self, batch: int, prov: int, system: LegacySystem, records: pl.DataFrame
    ) -> None:
        """Render, lay out and write the files of one (batch, province, system)."""
        rng = np.random.default_rng([self.seed, batch, prov, int(system.key[3:])])
        code = self.ctx.codes[prov]
        folder = self.inbox / self.batches[batch] / code
        folder.mkdir(parents=True, exist_ok=True)
        rows = render_records(records, system, rng, self.ctx)
        lid = system.fields.index("local_id")
        people = [
            ("flawed" if f else "person", str(row[lid]), p, note)
            for row, p, f, note in zip(
                rows, records["person_id"], records["flaw"], records["note"], strict=True
            )
        ]
        report = dt.date.fromisoformat(self.batches[batch])
        context = (f"CÔNG AN {self.names[prov].upper()}", report)
        stem = _slug(f"{self.ascii_names[prov]}_{system.stem}")
        if system.fmt == "xlsx":
            sheets = self._xlsx_sheets(prov, system, records, rows, people, rng, context)
            path = folder / self.file_name(folder, stem, "xlsx")
            write_xlsx(path, system, sheets, dt.datetime.combine(report, dt.time(8, 0)))
            self._record(batch, code, path, system, sheets)
            return
        part_rows = len(rows) if self.profile.one_csv_per_province else CSV_PART_ROWS
        for part, start in enumerate(range(0, len(rows), max(part_rows, 1))):
            chunk = slice(start, start + part_rows)
            sheet = lay_out_sheet(
                None, system, rows[chunk], people[chunk], rng, self.profile, context
            )
            suffix = f"_part{part + 1}" if part else ""
            path = folder / self.file_name(folder, stem + suffix, system.extension)
            if system.fmt == "dbf":
                write_dbf(path, system, sheet, report)
            else:
                write_csv(path, system, sheet)
            self._record(batch, code, path, system, [sheet])

    def _xlsx_sheets(
        self,
        prov: int,
        system: LegacySystem,
        records: pl.DataFrame,
        rows: list[list[Cell]],
        people: list[tuple[str, str, str, str]],
        rng: np.random.Generator,
        context: tuple[str, dt.date],
    ) -> list[Sheet]:
        """Lay out a workbook: one sheet, or one sheet per commune.

        As the system has it, a summary sheet (persons per sheet) comes first or
        last, and a notes sheet last: sheets that hold no person header.
        """
        groups: list[tuple[str | None, np.ndarray]] = [(None, np.arange(len(rows)))]
        if system.sheet_per_commune:
            keys = records.select(pl.format("{}-{}", "district", "commune")).to_series().to_numpy()
            groups = [(k, np.flatnonzero(keys == k)) for k in dict.fromkeys(keys)]
        used: set[str] = set()
        sheets = []
        for key, idx in groups:
            if key is None:
                name = ["Sheet1", "DanhSach", "NhanKhau"][int(rng.integers(3))]
            else:
                d, c = (int(x) for x in str(key).split("-"))
                name = self.ctx.geography.communes[prov][d][c]
            name = _sheet_name(name, system.encoding, used)
            sheet_rows, sheet_people = [rows[i] for i in idx], [people[i] for i in idx]
            sheets.append(
                lay_out_sheet(name, system, sheet_rows, sheet_people, rng, self.profile, context)
            )
        if system.summary_sheet:
            name = SUMMARY_NAMES[int(rng.integers(len(SUMMARY_NAMES)))]
            summary = summary_sheet(_sheet_name(name, system.encoding, used), sheets, rng)
            sheets = [summary, *sheets] if rng.random() < 0.5 else [*sheets, summary]
        if system.notes_sheet:
            name = NOTES_NAMES[int(rng.integers(len(NOTES_NAMES)))]
            sheets.append(notes_sheet(_sheet_name(name, system.encoding, used), context))
        return sheets

    def _record(
        self, batch: int, code: str, path: Path, system: LegacySystem, sheets: list[Sheet]
    ) -> None:
        source = f"{code}/{path.name}"
        for sheet in sheets:
            for row, (kind, local_id, person, note) in enumerate(sheet.truth, start=1):
                self.truth.append(
                    (
                        self.batches[batch],
                        code,
                        source,
                        sheet.name or "",
                        row,
                        local_id,
                        person,
                        kind,
                        note,
                    )
                )
            self.files.append(
                {
                    "batch_id": self.batches[batch],
                    "province_code": code,
                    "source_file": source,
                    "source_sheet": sheet.name or "",
                    "format": system.fmt,
                    "encoding": system.encoding,
                    "system": system.key,
                    "delimiter": system.delimiter if system.fmt == "csv" else "",
                    "header_row": sheet.header_row,
                    "rows": len(sheet.rows),
                    "person_rows": sum(t[0] != "junk" for t in sheet.truth),
                    "sheet_kind": sheet.kind,
                }
            )


def _persons_truth(persons: pl.DataFrame, codes: list[str]) -> pl.DataFrame:
    return persons.select(
        "person_id",
        "family_name",
        "middle_name",
        "given_name",
        "full_name",
        "sex",
        date_of_birth=pl.when(pl.col("dob_precision") == "day").then(
            pl.date("birth_year", "birth_month", "birth_day")
        ),
        birth_year="birth_year",
        birth_month=pl.when(pl.col("dob_precision") != "year").then(pl.col("birth_month")),
        dob_precision="dob_precision",
        birth_province_code="birth_province_code",
        household_id="household_id",
        relation_to_head="relation_to_head",
        home_province_code=pl.col("home").replace_strict(list(range(len(codes))), codes),
        ethnicity="ethnicity",
        id_number="id_number",
        twin_of="twin_of",
    )


@dataclass(frozen=True)
class Simulation:
    """A simulated population's corrupted records, before any rendering to files."""

    provinces: ProvinceTable
    geography: Geography
    pool: list[LegacySystem]  # the legacy systems, indexed by a record's ``system``
    people: pl.DataFrame
    records: pl.DataFrame  # one row per registration, with corrupted raw values


def simulate(persons: int, rng: np.random.Generator, rates: Profile, batches: int) -> Simulation:
    """Draw the population, its registrations and their corruptions from ``rng``."""
    provinces, names = reference.provinces(), reference.names()
    geography = build_geography(rng, provinces)
    weight = province_weights(rng, provinces)
    pool = build_system_pool(rng)
    assignment = assign_systems(rng, pool, weight, [len(d) for d in geography.districts])
    if rates.one_csv_per_province:  # drawn all the same: the draws after them do not move
        pool, assignment = [clean_csv_system()], [[0] for _ in assignment]
    people = build_population(persons, rng, rates, names, provinces, geography, weight)
    registrations = build_registrations(people, rng, rates, batches, geography, weight, assignment)
    records = corrupt_records(
        _record_frame(registrations, people, provinces.codes), rng, rates, names
    )
    return Simulation(provinces, geography, pool, people, records)


def generate(
    persons: int,
    seed: int,
    out: Path,
    batches: int = 1,
    profile: str = "default",
    broken_files: bool = False,
) -> GenerateSummary:
    """Write a synthetic delivery to ``out/inbox`` and its truth to ``out/truth``.

    Existing ``out/inbox`` and ``out/truth`` folders are replaced.

    Args:
        persons: Number of true persons.
        seed: Seed of every random draw.
        out: Output folder.
        batches: Number of batches (``2021-06-15``, then quarter ends).
        profile: ``default``, ``hard`` (every corruption more often) or ``clean``
            (one UTF-8 CSV per province and batch, no junk or flawed rows).
        broken_files: Also write the broken files of :mod:`synth.broken`
            (empty, truncated, random bytes; ragged rows, duplicate header
            names, mixed encodings in a province) and name them in the
            ``broken`` column of ``truth/files.csv``.

    Returns:
        Counts of what was written.

    Raises:
        ValueError: If ``persons`` or ``batches`` is below 1, or the profile is unknown.
    """
    if persons < 1 or batches < 1:
        raise ValueError("persons and batches must be at least 1")
    rates = get_profile(profile)
    sim = simulate(persons, np.random.default_rng(seed), rates, batches)
    provinces, geography, records, people = sim.provinces, sim.geography, sim.records, sim.people
    pool = sim.pool

    out = Path(out)
    for sub in ("inbox", "truth"):
        shutil.rmtree(out / sub, ignore_errors=True)
    ethnic, spellings = reference.ethnic_groups()
    ctx = RenderContext(
        codes=provinces.codes,
        spellings=province_spellings(provinces),
        geography=geography,
        ethnic_spellings=dict(zip(ethnic, spellings, strict=True)),
    )
    run = _Run(
        inbox=out / "inbox",
        seed=seed,
        profile=rates,
        batches=batch_ids(batches),
        ctx=ctx,
        names=provinces.names,
        ascii_names=provinces.names_ascii,
    )
    records = records.sort(
        ["batch", "prov", "system", "district", "commune", "household_serial", "record_no"]
    )
    for (batch, prov, system), group in records.partition_by(
        ["batch", "prov", "system"], as_dict=True, maintain_order=True
    ).items():
        run.write_group(int(batch), int(prov), pool[int(system)], group)

    if broken_files:
        add_broken_files(run.inbox, run.batches, run.files, np.random.default_rng([seed, 7919]))
    for entry in run.files:
        entry.setdefault("broken", "")
    truth_dir = out / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    truth = pl.DataFrame(run.truth, schema=_TRUTH_COLUMNS, orient="row")
    truth.write_csv(truth_dir / "records.csv")
    _persons_truth(people, provinces.codes).write_csv(truth_dir / "persons.csv")
    files = pl.DataFrame(run.files)
    files.write_csv(truth_dir / "files.csv")
    kinds = Counter(truth["row_kind"].to_list())
    unique_files = files.unique(["batch_id", "source_file"], maintain_order=True)
    return GenerateSummary(
        out=out,
        batches=run.batches,
        persons=len(people),
        records=kinds["person"] + kinds["flawed"],
        flawed_rows=kinds["flawed"],
        junk_rows=kinds["junk"],
        files=len(unique_files),
        files_by_format=dict(Counter(unique_files["format"].to_list())),
        files_by_encoding=dict(
            Counter(f"{a}:{b}" for a, b in unique_files.select("format", "encoding").iter_rows())
        ),
    )
