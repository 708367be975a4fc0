"""Tests of the synthetic delivery generator (synth)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import dbfread
import fastexcel
import polars as pl
import pytest

from synth import GenerateSummary, generate
from synth.profiles import get_profile
from synth.registrations import batch_ids
from synth.render import format_date
from synth.systems import ENCODINGS

pytestmark = pytest.mark.unit

_PY_CODECS = {
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf-8-nfd": "utf-8",
    "utf-16": "utf-16",
    "cp1258": "cp1258",
    "ascii": "ascii",
    "tcvn3": "latin-1",
    "vni": "latin-1",
}


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerateSummary]:
    out = tmp_path_factory.mktemp("synth")
    return out, generate(persons=3000, seed=5, out=out, batches=2, profile="hard")


@pytest.fixture(scope="module")
def truth(delivery: tuple[Path, GenerateSummary]) -> pl.DataFrame:
    return pl.read_csv(delivery[0] / "truth" / "records.csv", infer_schema=False)


@pytest.fixture(scope="module")
def files(delivery: tuple[Path, GenerateSummary]) -> pl.DataFrame:
    return pl.read_csv(delivery[0] / "truth" / "files.csv", infer_schema=False)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _csv_rows(path: Path, encoding: str, delimiter: str) -> list[list[str]]:
    text = path.read_bytes().decode(_PY_CODECS[encoding])
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_same_arguments_give_byte_identical_output(tmp_path: Path) -> None:
    generate(persons=400, seed=9, out=tmp_path / "a", batches=2)
    generate(persons=400, seed=9, out=tmp_path / "b", batches=2)
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a.keys() == b.keys()
    assert any(name.endswith(".xlsx") for name in a)
    assert [n for n in a if a[n] != b[n]] == []


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    generate(persons=200, seed=1, out=tmp_path / "a")
    generate(persons=200, seed=2, out=tmp_path / "b")
    assert _tree(tmp_path / "a" / "truth") != _tree(tmp_path / "b" / "truth")


def test_truth_covers_every_physical_row(
    delivery: tuple[Path, GenerateSummary], truth: pl.DataFrame, files: pl.DataFrame
) -> None:
    out = delivery[0]
    per_sheet = truth.group_by("batch_id", "source_file", "source_sheet").agg(
        n=pl.len(), rows=pl.col("source_row").cast(pl.Int64).sort()
    )
    expected = {
        (r["batch_id"], r["source_file"], r["source_sheet"]): r["rows"]
        for r in per_sheet.iter_rows(named=True)
    }
    assert len(expected) == len(files)
    for f in files.iter_rows(named=True):
        path = out / "inbox" / f["batch_id"] / f["source_file"]
        if f["format"] == "csv":
            physical = len(_csv_rows(path, f["encoding"], f["delimiter"]))
        elif f["format"] == "xlsx":
            sheet = fastexcel.read_excel(str(path)).load_sheet(f["source_sheet"], header_row=None)
            physical = sheet.height
        else:
            physical = len(dbfread.DBF(str(path), encoding="latin-1"))
        assert physical == int(f["rows"]), f
        key = (f["batch_id"], f["source_file"], f["source_sheet"])
        assert expected[key] == list(range(1, physical + 1)), key


def test_local_ids_in_files_match_truth(
    delivery: tuple[Path, GenerateSummary], truth: pl.DataFrame, files: pl.DataFrame
) -> None:
    out, checked = delivery[0], 0
    people = truth.filter(pl.col("row_kind") != "junk")
    for f in files.filter(pl.col("format") == "csv").iter_rows(named=True):
        rows = _csv_rows(
            out / "inbox" / f["batch_id"] / f["source_file"], f["encoding"], f["delimiter"]
        )
        header = rows[int(f["header_row"]) - 1]
        mine = people.filter(
            pl.col("batch_id") == f["batch_id"], pl.col("source_file") == f["source_file"]
        )
        for row_no, local_id in mine.select(pl.col("source_row").cast(int), "local_id").iter_rows():
            assert local_id in rows[row_no - 1], (f["source_file"], row_no, header)
            checked += 1
    assert checked > 100


def test_every_format_and_encoding_appears(delivery: tuple[Path, GenerateSummary]) -> None:
    summary = delivery[1]
    expected = {f"{fmt}:{enc}" for fmt, encodings in ENCODINGS.items() for enc in encodings}
    assert expected <= set(summary.files_by_encoding)
    assert set(summary.files_by_format) == {"csv", "xlsx", "dbf"}
    assert summary.files == sum(summary.files_by_format.values())


def test_files_carry_their_encoding(
    delivery: tuple[Path, GenerateSummary], files: pl.DataFrame
) -> None:
    out = delivery[0]
    seen = Counter()
    for f in files.filter(pl.col("format") == "csv").iter_rows(named=True):
        data = (out / "inbox" / f["batch_id"] / f["source_file"]).read_bytes()
        enc = f["encoding"]
        if enc == "utf-16":
            assert data.startswith(b"\xff\xfe")
        elif enc == "utf-8-sig":
            assert data.startswith(b"\xef\xbb\xbf")
        elif enc == "ascii":
            assert data.isascii()
        elif enc in ("tcvn3", "vni", "cp1258"):
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
        seen[enc] += 1
    assert len(seen) == len(ENCODINGS["csv"])


def test_dbf_files_read_back(delivery: tuple[Path, GenerateSummary], files: pl.DataFrame) -> None:
    from domain.legacy_encoding import decode_tcvn3, decode_vni

    out, names = delivery[0], []
    for f in files.filter(pl.col("format") == "dbf").iter_rows(named=True):
        table = dbfread.DBF(str(out / "inbox" / f["batch_id"] / f["source_file"]), raw=True)
        assert all(len(name) <= 10 and name.isupper() for name in table.field_names)
        decode = decode_tcvn3 if f["encoding"] == "tcvn3" else decode_vni
        field = next(n for n in table.field_names if n in ("HOTEN", "TEN"))
        names += [decode(rec[field]).strip() for rec in table]
    assert any(ch in "".join(names).lower() for ch in "ăâêôơưđ")


def test_xlsx_files_read_back(delivery: tuple[Path, GenerateSummary], files: pl.DataFrame) -> None:
    out = delivery[0]
    fonts = Counter()
    persons = files.filter(pl.col("format") == "xlsx", pl.col("sheet_kind") == "persons")
    for f in persons.iter_rows(named=True):
        reader = fastexcel.read_excel(str(out / "inbox" / f["batch_id"] / f["source_file"]))
        frame = reader.load_sheet(
            f["source_sheet"], header_row=int(f["header_row"]) - 1
        ).to_polars()
        text = "".join(frame.columns) + " ".join(str(v) for v in frame.row(0))
        if f["encoding"] == "unicode":
            fonts["unicode"] += any("ạ" <= ch <= "ỹ" for ch in text)
        elif f["encoding"] in ("tcvn3", "vni"):
            # Legacy-font cells never hold the precomposed Vietnamese letters of U+1E00-U+1EFF.
            assert not any("\u1e00" <= ch <= "\u1eff" for ch in text)
            fonts[f["encoding"]] += 1
        elif f["encoding"] == "nfd":
            # Decomposed: tone marks as combining characters, no precomposed letter.
            assert not any("\u1e00" <= ch <= "\u1eff" for ch in text)
            fonts["nfd"] += any("\u0300" <= ch <= "\u0323" for ch in text)
    assert fonts["unicode"] and fonts["tcvn3"] and fonts["vni"] and fonts["nfd"]


def test_workbooks_have_summary_and_notes_sheets_without_persons(
    delivery: tuple[Path, GenerateSummary], truth: pl.DataFrame, files: pl.DataFrame
) -> None:
    out = delivery[0]
    workbooks = files.filter(pl.col("format") == "xlsx")
    kinds = Counter(workbooks["sheet_kind"])
    assert kinds["summary"] and kinds["notes"] and kinds["persons"]
    places = set()
    for book in workbooks.filter(pl.col("sheet_kind") == "summary").iter_rows(named=True):
        mine = workbooks.filter(
            pl.col("batch_id") == book["batch_id"], pl.col("source_file") == book["source_file"]
        )
        order = mine["sheet_kind"].to_list()
        places.add("first" if order[0] == "summary" else "last")
        reader = fastexcel.read_excel(str(out / "inbox" / book["batch_id"] / book["source_file"]))
        rows = reader.load_sheet(book["source_sheet"], header_row=None, dtypes="string").to_polars()
        # One row per person sheet with its person rows, then the total.
        listed = [int(r[-1]) for r in rows.rows()[1:-1]]
        people = dict(
            mine.filter(pl.col("sheet_kind") == "persons")
            .select("source_sheet", pl.col("person_rows").cast(int))
            .iter_rows()
        )
        assert listed == list(people.values())
        assert int(rows.rows()[-1][-1]) == sum(people.values())
    assert places == {"first", "last"}
    without = workbooks.filter(pl.col("sheet_kind") != "persons")
    rows = truth.join(
        without.select("batch_id", "source_file", "source_sheet"),
        on=["batch_id", "source_file", "source_sheet"],
    )
    assert rows.height and (rows["row_kind"] == "junk").all()
    assert set(rows["note"]) == {"summary_sheet", "notes_sheet"}
    assert (without["header_row"].cast(int) == 0).all()


def test_duplicates_twins_and_namesakes_exist(
    delivery: tuple[Path, GenerateSummary], truth: pl.DataFrame
) -> None:
    persons = pl.read_csv(delivery[0] / "truth" / "persons.csv", infer_schema=False)
    people = truth.filter(pl.col("row_kind") != "junk")
    kinds = Counter(note.split(";")[0] for note in people["note"])
    assert {"primary", "moved", "temporary", "clerk_double", "correction", "reregistered"} <= set(
        kinds
    )
    assert set(people["person_id"]) == set(persons["person_id"])
    moved = people.filter(pl.col("note").str.starts_with("moved")).join(
        people.filter(pl.col("note").str.starts_with("primary")), on="person_id", suffix="_first"
    )
    assert (moved["province_code"] != moved["province_code_first"]).all()
    twins = persons.filter(pl.col("twin_of") != "").join(
        persons, left_on="twin_of", right_on="person_id", suffix="_twin"
    )
    assert len(twins) >= 2
    assert (twins["household_id"] == twins["household_id_twin"]).all()
    assert (twins["birth_year"] == twins["birth_year_twin"]).all()
    assert (twins["given_name"] != twins["given_name_twin"]).all()
    namesakes = (
        people.join(persons, on="person_id")
        .group_by("province_code", "full_name", "birth_year")
        .agg(pl.col("person_id").n_unique().alias("n"))
    )
    assert namesakes["n"].max() >= 2


def test_hard_profile_shows_every_corruption_flaw_and_junk(truth: pl.DataFrame) -> None:
    profile = get_profile("hard")
    notes = Counter(token for note in truth["note"] for token in note.split(";"))
    for kind in profile.duplicate_corruptions:
        assert notes[kind] > 0, kind
    for flaw in profile.flaws:
        assert notes[f"flaw:{flaw}"] > 0, flaw
    for junk in (
        "header",
        "title",
        "blank",
        "no_name",
        "total",
        "repeated_header",
        "summary_sheet",
        "notes_sheet",
    ):
        assert notes[junk] > 0, junk
    repeated = truth.filter(pl.col("note").str.contains("flaw:repeated_local_id"))
    again = truth.filter(pl.col("row_kind") != "junk").join(
        repeated.select("batch_id", "province_code", "local_id", flawed_row="source_row"),
        on=["batch_id", "province_code", "local_id"],
    )
    assert again.group_by("batch_id", "province_code", "local_id").len()["len"].min() >= 2
    flawed = truth.filter(pl.col("row_kind") == "flawed")
    assert flawed["note"].str.contains("flaw:").all()
    assert (truth.filter(pl.col("row_kind") == "junk")["person_id"].fill_null("") == "").all()


def test_some_surnames_read_like_the_totals_label_once_written_without_diacritics(
    delivery: tuple[Path, GenerateSummary], truth: pl.DataFrame, files: pl.DataFrame
) -> None:
    persons = pl.read_csv(delivery[0] / "truth" / "persons.csv", infer_schema=False)
    tong = persons.filter(pl.col("family_name").is_in(["Tống", "Tòng"]))
    assert set(tong["family_name"]) == {"Tống", "Tòng"}
    written = (
        truth.join(tong.select("person_id"), on="person_id")
        .join(
            files.select("batch_id", "source_file", "encoding").unique(),
            on=["batch_id", "source_file"],
        )
        .filter((pl.col("encoding") == "ascii") | pl.col("note").str.contains("drop_diacritics"))
    )
    assert written.height > 0  # rows whose surname reads "Tong"


def test_batch_ids_are_quarter_ends() -> None:
    assert batch_ids(4) == ["2021-06-15", "2021-09-30", "2021-12-31", "2022-03-31"]


@pytest.mark.parametrize(
    ("ymd", "style", "unknown", "expected"),
    [
        ((1968, 5, 12), "dmy_2digit", "yyyy", "12/05/68"),
        ((1968, 5, 2), "dmy_slash_short", "yyyy", "2/5/1968"),
        ((1968, 5, 2), "compact", "yyyy", "19680502"),
        ((1968, 0, 0), "dmy_slash", "../../yyyy", "../../1968"),
        ((1968, 0, 0), "dmy_dot", "00/00/yyyy", "00/00/1968"),
        ((1968, 7, 0), "dmy_slash", "yyyy", "07/1968"),
        ((1968, 2, 31), "dmy_dash", "yyyy", "31-02-1968"),
    ],
)
def test_format_date(ymd: tuple[int, int, int], style: str, unknown: str, expected: str) -> None:
    assert format_date(*ymd, style, unknown) == expected


def test_unknown_profile_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        generate(persons=10, seed=1, out=tmp_path, profile="easy")


def test_clean_profile_writes_one_utf8_csv_per_province(tmp_path: Path) -> None:
    summary = generate(persons=4000, seed=2, out=tmp_path, profile="clean")
    files = sorted((tmp_path / "inbox").rglob("*.*"))
    folders = [p.parent.name for p in files]
    assert len(folders) == len(set(folders)) == summary.files  # one file per province folder
    assert {p.suffix for p in files} == {".csv"}
    assert summary.files_by_encoding == {"csv:utf-8": summary.files}
    assert summary.flawed_rows == 0 and summary.junk_rows == summary.files  # a header each
    assert 1.20 < summary.records / summary.persons < 1.28
    for path in files[:5]:
        rows = _csv_rows(path, "utf-8", ",")
        assert rows[0][:4] == ["Mã nhân khẩu", "Số hộ khẩu", "Quan hệ với chủ hộ", "Họ và tên"]
        assert all(len(r) == len(rows[0]) and r[3] for r in rows[1:])
