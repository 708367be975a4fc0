"""Bad input: each broken file gets a clear outcome and the rest of the batch still loads.

Every test writes a small province folder by hand (or generates a batch with
``broken_files=True``), runs ``ingest_province`` for real and reads the staged
Parquet back: per file, rows read = loaded + quarantined + skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from dancu.stages import plan_batch
from domain.legacy_encoding import encode_text
from domain.schema import FILE_COUNT_SCHEMA, QUARANTINE_SCHEMA, RECORD_SCHEMA
from pipelines.ingest import ReadLimits, ingest_province
from pipelines.warehouse.parquet import read_staged

pytestmark = pytest.mark.unit

BATCH = "2021-06-15"
GOOD = (
    "Mã NK,Họ và tên,Ngày sinh,Giới tính,Nơi sinh\n"
    "1,Nguyễn Văn Hùng,12/05/1968,Nam,Hà Nội\n"
    "2,Trần Thị Bích Ngọc,03/11/1990,Nữ,TP. Hồ Chí Minh\n"
)


def _ingest(
    tmp_path: Path, files: dict[str, bytes], code: str = "001", limits: ReadLimits | None = None
) -> dict[str, pl.DataFrame]:
    """Write ``files`` into ``inbox/<batch>/<code>/``, ingest it, return the staged tables."""
    folder = tmp_path / "inbox" / BATCH / code
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    staging = tmp_path / "warehouse" / "staging"
    ingest_province(folder.parent, code, staging, limits)
    tables = {
        "records": read_staged(staging, BATCH, "records", RECORD_SCHEMA),
        "quarantine": read_staged(staging, BATCH, "quarantine", QUARANTINE_SCHEMA),
        "files": read_staged(staging, BATCH, "files", FILE_COUNT_SCHEMA),
    }
    counts = tables["files"]
    assert (
        counts["rows_read"]
        == counts["rows_loaded"] + counts["rows_quarantined"] + counts["rows_skipped"]
    ).all()
    return tables


def _file(tables: dict[str, pl.DataFrame], name: str) -> dict[str, object]:
    return tables["files"].filter(pl.col("source_file") == f"001/{name}").row(0, named=True)


def _whole_file_reason(tables: dict[str, pl.DataFrame], name: str) -> str:
    bad = tables["quarantine"].filter(pl.col("source_file") == f"001/{name}")
    assert bad.height == 1 and bad["source_row"][0] is None
    return str(bad["reason"][0])


def _good_file_loaded(tables: dict[str, pl.DataFrame]) -> None:
    good = tables["records"].filter(pl.col("source_file") == "001/good.csv")
    assert good["full_name"].to_list() == ["Nguyễn Văn Hùng", "Trần Thị Bích Ngọc"]


def test_a_zero_byte_file_is_quarantined_whole(tmp_path: Path) -> None:
    tables = _ingest(tmp_path, {"good.csv": GOOD.encode(), "empty.csv": b""})
    assert _whole_file_reason(tables, "empty.csv") == "unreadable file: empty file (0 bytes)"
    assert _file(tables, "empty.csv")["rows_read"] == 1
    _good_file_loaded(tables)


def test_a_file_of_blank_lines_is_quarantined_whole(tmp_path: Path) -> None:
    tables = _ingest(tmp_path, {"good.csv": GOOD.encode(), "blank.txt": b"\r\n   \r\n\r\n"})
    assert _whole_file_reason(tables, "blank.txt") == "unreadable file: file holds no text"
    _good_file_loaded(tables)


def test_a_header_without_rows_reads_nothing(tmp_path: Path) -> None:
    header = GOOD.splitlines()[0] + "\n"
    tables = _ingest(tmp_path, {"good.csv": GOOD.encode(), "header.csv": header.encode()})
    counts = _file(tables, "header.csv")
    assert (counts["rows_read"], counts["rows_quarantined"]) == (0, 0)
    _good_file_loaded(tables)


def test_a_truncated_workbook_is_quarantined_whole(tmp_path: Path) -> None:
    workbook = tmp_path / "whole.xlsx"
    pl.DataFrame({"Mã NK": ["1"], "Họ và tên": ["Lê Văn Tám"]}).write_excel(workbook)
    data = workbook.read_bytes()
    tables = _ingest(tmp_path, {"good.csv": GOOD.encode(), "cut.xlsx": data[: len(data) // 2]})
    assert _whole_file_reason(tables, "cut.xlsx").startswith(
        "unreadable file: not a readable XLSX workbook"
    )
    _good_file_loaded(tables)


def test_random_bytes_named_csv_are_quarantined_whole(tmp_path: Path) -> None:
    noise = bytes((i * 7919 + 13) % 256 for i in range(4096))
    tables = _ingest(tmp_path, {"good.csv": GOOD.encode(), "noise.csv": noise})
    assert _whole_file_reason(tables, "noise.csv").startswith("unreadable file: not a text file")
    preview = tables["quarantine"].filter(pl.col("source_file") == "001/noise.csv")
    assert preview["original_text"][0] == noise[:200].decode("latin-1")
    _good_file_loaded(tables)


def test_ragged_rows_keep_extra_cells_and_short_rows_load(tmp_path: Path) -> None:
    ragged = (
        "Mã NK,Họ và tên,Ngày sinh,Giới tính\n"
        "1,Nguyễn Văn Hùng,12/05/1968,Nam,ghi chú,thêm\n"  # two cells beyond the header
        "2,Trần Thị Bích Ngọc\n"  # two cells short
        ",,,,\n"  # blank
        "3,,01/01/1950\n"  # a person without a name: quarantined
    )
    tables = _ingest(tmp_path, {"ragged.csv": ragged.encode()})
    counts = _file(tables, "ragged.csv")
    assert (counts["rows_read"], counts["rows_loaded"]) == (4, 2)
    assert (counts["rows_quarantined"], counts["rows_skipped"]) == (1, 1)
    first, second = tables["records"].sort("source_row").iter_rows(named=True)
    assert json.loads(str(first["extras"])) == {"column_5": "ghi chú", "column_6": "thêm"}
    assert second["full_name"] == "Trần Thị Bích Ngọc" and second["dob_precision"] == "unknown"
    bad = tables["quarantine"].row(0, named=True)
    assert (bad["source_row"], bad["reason"]) == (5, "missing name")
    assert json.loads(str(bad["original_text"])) == ["3", "", "01/01/1950"]


def test_a_repeated_header_name_keeps_its_column_as_an_extra(tmp_path: Path) -> None:
    doubled = "Mã NK,Họ và tên,Ngày sinh,Họ và tên\n1,Nguyễn Văn Hùng,12/05/1968,Nguyễn Hùng\n"
    tables = _ingest(tmp_path, {"doubled.csv": doubled.encode()})
    record = tables["records"].row(0, named=True)
    assert record["full_name"] == "Nguyễn Văn Hùng"
    assert json.loads(str(record["extras"])) == {"Họ và tên": "Nguyễn Hùng"}


def test_mixed_encodings_in_one_province_are_detected_per_file(tmp_path: Path) -> None:
    rows = "".join(
        f"{i},{name},0{i}/05/1968,Nam,Thừa Thiên Huế\n"
        for i, name in enumerate(
            ["Nguyễn Văn Hùng", "Trần Thị Ánh Tuyết", "Đặng Quốc Bảo", "Phạm Thị Hường"] * 6,
            start=1,
        )
    )
    text = GOOD.splitlines()[0] + "\n" + rows
    files = {f"{enc}.csv": encode_text(text, enc) for enc in ("utf-8", "tcvn3", "vni", "cp1258")}
    tables = _ingest(tmp_path, files)
    encodings = dict(tables["files"].select("source_file", "source_encoding").iter_rows())
    assert encodings == {f"001/{e}.csv": e for e in ("cp1258", "tcvn3", "utf-8", "vni")}
    # The same ids in four files: the first file (cp1258, by name) loads, the rest are repeats.
    names = tables["records"].sort("source_row")["full_name"].to_list()
    assert names[:4] == ["Nguyễn Văn Hùng", "Trần Thị Ánh Tuyết", "Đặng Quốc Bảo", "Phạm Thị Hường"]
    repeats = tables["quarantine"]["reason"]
    assert repeats.str.starts_with("duplicate local_id").all() and repeats.len() == 3 * 24


def test_a_quoted_field_across_lines_falls_back_to_the_csv_module(tmp_path: Path) -> None:
    text = (
        "Mã NK,Họ và tên,Địa chỉ thường trú\n"
        '1,Nguyễn Văn Hùng,"Số 12,\nTổ 3, Hà Nội"\n'
        "2,Lê Thị Hoa,Hà Nội\n"
    )
    tables = _ingest(tmp_path, {"multiline.csv": text.encode()})
    records = tables["records"].sort("source_row")
    assert records["source_row"].to_list() == [2, 4]  # a record's first physical line
    assert records["address"][0] == "Số 12, Tổ 3, Hà Nội"


def test_a_large_file_streamed_in_blocks_gives_the_same_records(tmp_path: Path) -> None:
    lines = [f"{i},Nguyễn Văn Hùng {i % 7},{i % 28 + 1:02d}/05/1968,Nam" for i in range(1, 3001)]
    text = "Mã NK,Họ và tên,Ngày sinh,Giới tính\r\n" + "\r\n".join(lines) + "\r\n"
    data = encode_text(text, "utf-16")
    whole = _ingest(tmp_path / "whole", {"big.csv": data})
    # Stream anything above 1 kB, in blocks of 4 kB: the file is read in many pieces.
    small = ReadLimits(stream_above_bytes=1024, block_bytes=4096, detect_bytes=2048)
    streamed = _ingest(tmp_path / "streamed", {"big.csv": data}, limits=small)
    assert streamed["records"].height == 3000
    assert streamed["records"].equals(whole["records"])
    assert streamed["files"].equals(whole["files"])
    # ... and standardised a few hundred rows at a time, as a large file is
    few = ReadLimits(stream_above_bytes=1024, block_bytes=4096, standardise_rows=400)
    in_chunks = _ingest(tmp_path / "chunks", {"big.csv": data}, limits=few)
    assert in_chunks["records"].equals(whole["records"])


@pytest.fixture(scope="module")
def broken_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pl.DataFrame]:
    from synth import generate

    out = tmp_path_factory.mktemp("broken")
    summary = generate(persons=800, seed=11, out=out, profile="hard", broken_files=True)
    batch = out / "inbox" / summary.batches[0]
    warehouse = out / "warehouse"
    for code in plan_batch(batch, warehouse):
        ingest_province(batch, code, warehouse / "staging")
    truth = pl.read_csv(out / "truth" / "files.csv", infer_schema=False)
    return batch, warehouse, truth


def test_a_generated_batch_with_broken_files_still_loads(
    broken_batch: tuple[Path, Path, pl.DataFrame],
) -> None:
    batch, warehouse, truth = broken_batch
    staging = warehouse / "staging"
    files = read_staged(staging, batch.name, "files", FILE_COUNT_SCHEMA)
    quarantine = read_staged(staging, batch.name, "quarantine", QUARANTINE_SCHEMA)
    broken = dict(
        truth.filter(pl.col("broken").fill_null("") != "")
        .unique("source_file")
        .select("broken", "source_file")
        .iter_rows()
    )
    assert set(broken) == {
        "empty_file",
        "blank_file",
        "header_only",
        "truncated_xlsx",
        "random_bytes",
        "ragged_rows",
        "duplicate_header",
        "mixed_encoding",
    }
    whole = dict(
        quarantine.filter(pl.col("source_row").is_null())
        .select("source_file", "reason")
        .iter_rows()
    )
    expected = {
        "empty_file": "unreadable file: empty file (0 bytes)",
        "blank_file": "unreadable file: file holds no text",
        "truncated_xlsx": "unreadable file: not a readable XLSX workbook",
        "random_bytes": "unreadable file: not a text file",
    }
    for kind, prefix in expected.items():
        assert whole[broken[kind]].startswith(prefix), kind
    loaded = dict(files.select("source_file", "rows_loaded").iter_rows())
    assert loaded[broken["header_only"]] == 0
    for kind in ("ragged_rows", "duplicate_header", "mixed_encoding"):
        assert loaded[broken[kind]] > 0, kind
    encoding = dict(files.select("source_file", "source_encoding").iter_rows())
    assert encoding[broken["mixed_encoding"]] == "vni"
    # Everything else loaded, and every file's rows add up.
    assert set(whole) == {broken[k] for k in expected}
    assert files.filter(~pl.col("source_file").is_in(list(whole)))["rows_loaded"].sum() > 700
    assert (
        files["rows_read"]
        == files["rows_loaded"] + files["rows_quarantined"] + files["rows_skipped"]
    ).all()


def test_a_province_streamed_piece_by_piece_gives_the_same_rows(tmp_path: Path) -> None:
    lines = [f"{i},Nguyễn Văn Hùng {i % 7},{i % 28 + 1:02d}/05/1968,Nam" for i in range(1, 2001)]
    first = "Mã NK,Họ và tên,Ngày sinh,Giới tính\n" + "\n".join(lines) + "\n"
    # The second file repeats ids 1-5, has a row without a name and one without an id.
    second = (
        "Mã NK,Họ và tên,Ngày sinh,Giới tính\n"
        + "".join(f"{i},Lê Thị Hoa,01/01/1990,Nữ\n" for i in range(1, 6))
        + "9001,,01/01/1990,Nữ\n,Lê Văn Tám,01/01/1990,Nam\n"
    )
    files = {"a.csv": first.encode(), "b.csv": second.encode(), "c.csv": b""}
    whole = _ingest(tmp_path / "whole", files)
    small = ReadLimits(stream_above_bytes=1024, block_bytes=8192)
    streamed = _ingest(tmp_path / "streamed", files, limits=small)
    # every piece standardised on its own, not gathered across files
    alone = _ingest(tmp_path / "alone", files, limits=ReadLimits(standardise_rows=1))
    assert alone["records"].equals(whole["records"])
    assert streamed["files"].equals(whole["files"])
    assert (
        streamed["quarantine"]
        .sort("source_file", "source_row")
        .equals(whole["quarantine"].sort("source_file", "source_row"))
    )
    assert streamed["records"].sort("record_key").equals(whole["records"])
    reasons = whole["quarantine"]["reason"].to_list()
    assert sum(r.startswith("duplicate local_id") for r in reasons) == 5
    assert {"missing name", "missing local_id (required)"} <= set(reasons)


@pytest.mark.parametrize("streamed", [False, True])
def test_the_same_folder_gives_byte_identical_parquet(tmp_path: Path, streamed: bool) -> None:
    limits = ReadLimits(stream_above_bytes=64, block_bytes=128) if streamed else None
    files = {"good.csv": GOOD.encode(), "noise.csv": b"\x00\x01" * 500}
    parts = []
    for run in ("a", "b"):
        _ingest(tmp_path / run, files, limits=limits)
        root = tmp_path / run / "warehouse" / "staging"
        parts.append({p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*.parquet"))})
    assert len(parts[0]) == 3 and parts[0] == parts[1]
