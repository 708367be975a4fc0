"""One test per attack of issue 12, on real files and a real (encrypted) registry.

Each test builds what the attacker would hand over (a batch name, an inbox
entry, a workbook, a key file, an edited row) and runs the real command or
stage against a copy of the registry the samples built (``cli_warehouse``).
"""

from __future__ import annotations

import base64
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dancu.keys import DEMO_KEY_DIR, ENV
from domain.schema import QUARANTINE_SCHEMA, RECORD_SCHEMA
from pipelines.ingest import ReadLimits, ingest_province
from pipelines.ingest.isolation import ReaderCrashedError, read_workbook_sheets
from pipelines.register.serials import ff1_serials
from pipelines.warehouse.audit import CHAINED
from pipelines.warehouse.parquet import read_staged
from tests.hostile import corner_workbook, wide_workbook, zip_bomb_workbook
from tests.registry_helpers import DEMO_KEYS, open_registry

pytestmark = pytest.mark.integration

DANCU = Path(sys.executable).with_name("dancu")
BATCH = "2021-06-15"
CSV = "Mã NK,Họ và tên,Ngày sinh,Giới tính\n1,Nguyễn Văn An,05/11/1994,Nam\n2,Lê Thị Bình,1970,Nữ\n"


def _dancu(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    clean = {k: v for k, v in os.environ.items() if k not in ENV.values()}
    return subprocess.run(
        [str(DANCU), *args], capture_output=True, text=True, cwd=cwd, env={**clean, **(env or {})}
    )


@pytest.fixture
def warehouse(cli_warehouse: Path, tmp_path: Path) -> Path:
    """A copy of the samples' warehouse (registry, analyst db, report, anchor) to attack."""
    copy = tmp_path / "warehouse"
    shutil.copytree(cli_warehouse, copy, ignore=shutil.ignore_patterns(".dancu.lock"))
    return copy


def _province(tmp_path: Path, code: str = "001") -> Path:
    folder = tmp_path / "inbox" / BATCH / code
    folder.mkdir(parents=True)
    return folder


def _staged(tmp_path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    staging = tmp_path / "wh" / "staging"
    return (
        read_staged(staging, BATCH, "records", RECORD_SCHEMA),
        read_staged(staging, BATCH, "quarantine", QUARANTINE_SCHEMA),
    )


# --- critical: the PIN key ---------------------------------------------------------------


def test_a_run_without_a_key_or_with_the_demo_key_is_refused(
    sample_inbox: Path, tmp_path: Path
) -> None:
    batch = str(sample_inbox / BATCH)
    found = _dancu("run", "--inbox", batch, "--warehouse", str(tmp_path / "w"))
    assert found.returncode == 1 and "no pin key" in found.stderr
    demo = tmp_path / "pin.key"
    shutil.copy(DEMO_KEY_DIR / "pin.key", demo)
    demo.chmod(0o600)
    found = _dancu(
        "run", "--inbox", batch, "--warehouse", str(tmp_path / "w"),
        env={ENV["pin"]: str(demo), ENV["audit"]: str(DEMO_KEY_DIR / "audit.key")},
    )  # fmt: skip
    assert found.returncode == 1
    assert "is the public demo key: refused without --demo" in found.stderr
    assert not (tmp_path / "w").exists()


def test_a_run_with_another_key_is_refused_and_changes_nothing(
    warehouse: Path, sample_inbox: Path, tmp_path: Path
) -> None:
    before = (warehouse / "registry.duckdb").read_bytes()
    other = tmp_path / "other-pin.key"
    other.write_text(base64.b64encode(os.urandom(32)).decode())
    other.chmod(0o600)
    found = _dancu(
        "run", "--demo", "--force", "--inbox", str(sample_inbox / BATCH),
        "--warehouse", str(warehouse), env={ENV["pin"]: str(other)},
    )  # fmt: skip
    assert found.returncode == 1, found.stdout
    assert "built with another pin key check" in found.stderr
    # and another audit key: the chain would no longer verify
    found = _dancu(
        "run", "--demo", "--force", "--inbox", str(sample_inbox / BATCH),
        "--warehouse", str(warehouse), env={ENV["audit"]: str(other)},
    )  # fmt: skip
    assert found.returncode == 1 and "built with another audit key check" in found.stderr
    assert (warehouse / "registry.duckdb").read_bytes() == before


def test_no_pin_can_be_computed_without_the_key(warehouse: Path) -> None:
    with open_registry(warehouse) as con:
        issued = con.sql(
            "SELECT substr(pin, 1, 6) AS prefix, list(CAST(substr(pin, 7) AS INT)) AS serials, "
            "max(s.issued) AS drawn FROM pin_event JOIN pin_serial s ON s.prefix = "
            "substr(pin, 1, 6) WHERE event = 'issued' GROUP BY 1"
        ).fetchall()
    assert sum(len(s) for _, s, _ in issued) > 2000
    guessed = right = total = 0
    for prefix, serials, drawn in issued:
        counters = np.arange(drawn)
        right += len(set(ff1_serials(prefix, counters, DEMO_KEYS.pin).tolist()) & set(serials))
        wrong_key = bytes(32)  # an attacker's best guess without the key
        guessed += len(set(ff1_serials(prefix, counters, wrong_key).tolist()) & set(serials))
        total += len(serials)
    assert right == total  # with the key, every issued serial is the key's output
    assert guessed <= total * 0.01  # without it, hits are chance (1 in 10^6 per guess)


# --- critical: path escapes ---------------------------------------------------------------


def test_a_batch_named_dot_dot_is_refused_and_deletes_nothing(
    warehouse: Path, sample_inbox: Path
) -> None:
    files = sorted(p.name for p in warehouse.iterdir())
    found = _dancu(
        "run", "--demo", "--inbox", f"{sample_inbox / BATCH}/001/..", "--warehouse", str(warehouse)
    )
    assert found.returncode == 1
    assert "batch name '..' is refused" in found.stderr
    assert sorted(p.name for p in warehouse.iterdir()) == files
    with open_registry(warehouse) as con:
        assert con.sql("SELECT count(*) FROM source_record").fetchall()[0][0] > 2000


def test_inbox_dot_from_inside_a_batch_is_refused(warehouse: Path, sample_inbox: Path) -> None:
    other = warehouse / "staging" / "2021-09-30"
    other.mkdir(parents=True)
    (other / "kept.txt").write_text("another batch's staging")
    found = _dancu("run", "--demo", "--inbox", ".", "--warehouse", str(warehouse),
                   cwd=sample_inbox / BATCH)  # fmt: skip
    assert found.returncode == 1 and "is refused" in found.stderr
    assert (other / "kept.txt").exists()
    with open_registry(warehouse) as con:
        assert con.sql("SELECT count(*) FROM run WHERE batch_id = ''").fetchall() == [(0,)]


@pytest.mark.parametrize("name", ["/etc", "2021-06-15/../..", "2021-*", "2021-06-1?", "x y"])
def test_absolute_paths_and_glob_characters_are_refused_as_batch_names(name: str) -> None:
    from pipelines.warehouse import UnsafePathError, staging_dir

    with pytest.raises(UnsafePathError, match="is refused"):
        staging_dir(Path("/tmp/warehouse"), name)


@pytest.mark.dag
def test_a_misspelt_dag_conf_key_fails_the_run_at_once(
    airflow_db: Path, sample_inbox: Path, tmp_path: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags")).get_dag(
        "dancu_batch"
    )
    warehouse = tmp_path / "live"
    conf = {"inbox": str(sample_inbox), "batchh": BATCH, "warehouse": str(warehouse), "demo": True}
    with pytest.raises(Exception, match="batch"):  # 'batch' is required and has no default
        dag.test(run_conf=conf)
    conf["batch"] = BATCH  # the misspelt key stays: the run fails at plan
    run = dag.test(run_conf=conf)
    assert "failed" in str(run.state)
    plan = next(ti for ti in run.get_task_instances() if ti.task_id == "plan")
    assert "failed" in str(plan.state)
    assert not (warehouse / "registry.duckdb").exists()


def test_a_symlink_in_the_inbox_is_quarantined_never_followed(tmp_path: Path) -> None:
    from dancu.stages import plan_batch

    folder = _province(tmp_path)
    (folder / "people.csv").write_text(CSV)
    (folder / "passwd.csv").symlink_to("/etc/passwd")
    (folder.parent / "002").symlink_to("/etc")
    warehouse = tmp_path / "wh"
    provinces = plan_batch(folder.parent, warehouse)
    assert provinces == ["001"]
    for code in provinces:
        ingest_province(folder.parent, code, warehouse / "staging")
    records, quarantine = _staged(tmp_path)
    assert records["full_name"].to_list() == ["Nguyễn Văn An", "Lê Thị Bình"]
    reasons = dict(zip(quarantine["source_file"], quarantine["reason"], strict=True))
    assert "symbolic link" in reasons["001/passwd.csv"]
    assert "symbolic link" in reasons["002/"]
    text = " ".join(t or "" for t in quarantine["original_text"].to_list())
    assert "root:" not in text


# --- high: hostile files ------------------------------------------------------------------


def test_the_corner_workbook_bomb_is_quarantined_and_the_batch_goes_on(tmp_path: Path) -> None:
    folder = _province(tmp_path)
    corner = corner_workbook(folder / "bomb.xlsx")
    assert corner.stat().st_size < 3000
    (folder / "people.csv").write_text(CSV)
    ingest_province(folder.parent, "001", tmp_path / "wh" / "staging")
    records, quarantine = _staged(tmp_path)
    assert records.height == 2
    (reason,) = quarantine.filter(pl.col("source_file") == "001/bomb.xlsx")["reason"].to_list()
    assert "refused before reading" in reason and "1,048,576 rows x 16,384 columns" in reason


def test_a_workbook_that_crashes_its_reader_is_quarantined_not_fatal(tmp_path: Path) -> None:
    # The corner file given straight to the reader (no pre-check) aborts the child only.
    corner = corner_workbook(tmp_path / "bomb.xlsx")
    with pytest.raises(ReaderCrashedError, match=r"crashed|memory"):
        read_workbook_sheets(corner, memory_bytes=1 << 30, timeout_seconds=120)
    # A workbook the pre-check lets through but that needs more than the memory limit.
    folder = _province(tmp_path)
    wide_workbook(folder / "wide.xlsx")
    (folder / "people.csv").write_text(CSV)
    limits = ReadLimits(reader_memory_bytes=256 << 20)
    ingest_province(folder.parent, "001", tmp_path / "wh" / "staging", limits)
    records, quarantine = _staged(tmp_path)
    assert records.height == 2
    (reason,) = quarantine.filter(pl.col("source_file") == "001/wide.xlsx")["reason"].to_list()
    assert "reader" in reason and ("crashed" in reason or "memory" in reason), reason


def test_a_zip_bomb_workbook_is_quarantined_before_reading(tmp_path: Path) -> None:
    folder = _province(tmp_path)
    bomb = zip_bomb_workbook(folder / "bomb.xlsx", megabytes=20)
    assert bomb.stat().st_size < 200_000
    (folder / "people.csv").write_text(CSV)
    ingest_province(folder.parent, "001", tmp_path / "wh" / "staging")
    records, quarantine = _staged(tmp_path)
    assert records.height == 2
    (reason,) = quarantine.filter(pl.col("source_file") == "001/bomb.xlsx")["reason"].to_list()
    assert "a zip bomb" in reason


def test_a_large_dbf_is_read_in_bounded_pieces(tmp_path: Path) -> None:
    from pipelines.ingest.readers import read_file
    from tests.hostile import write_dbf

    fields = [("MA_NK", 10), ("HO_TEN", 40), ("NGAY_SINH", 10), ("GIOI_TINH", 5)]
    path = write_dbf(
        tmp_path / "big.dbf", fields, 250_000, [b"123", b"Nguyen Van An", b"01/01/1990", b"Nam"]
    )
    assert path.stat().st_size > 16_000_000
    (table,) = read_file(path, ReadLimits(fallback_rows=50_000))
    heights = [piece.height for piece in table.pieces]
    assert sum(heights) == 250_001  # the field names (row 0) and every record
    assert max(heights) <= 50_001 and len(heights) == 5


# --- high: one writer at a time -------------------------------------------------------------


def test_two_writers_are_serialised(warehouse: Path, sample_inbox: Path) -> None:
    # A writer (here: a stand-in for a long review session) holds the lock until told to stop.
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path\n"
         "from pipelines.warehouse import warehouse_lock\n"
         "with warehouse_lock(Path(sys.argv[1]), 'a long review'):\n"
         "    print('held', flush=True); sys.stdin.read()\n"
         "print('released', flush=True)\n", str(warehouse)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdin is not None and holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    run = ["run", "--demo", "--force", "--inbox", str(sample_inbox / BATCH),
           "--warehouse", str(warehouse)]  # fmt: skip
    refused = _dancu(*run)
    assert refused.returncode == 1
    assert "is being written by" in refused.stderr and "a long review" in refused.stderr
    clean = {k: v for k, v in os.environ.items() if k not in ENV.values()}
    waiting = subprocess.Popen([str(DANCU), *run, "--wait", "600"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=clean)  # fmt: skip
    time.sleep(3)
    assert waiting.poll() is None  # still waiting for the holder
    holder.stdin.close()
    assert holder.stdout.readline().strip() == "released" and holder.wait(30) == 0
    out, err = waiting.communicate(timeout=600)
    assert waiting.returncode == 0, err
    assert "batch 2021-06-15" in out


def test_a_full_disk_during_the_load_leaves_the_registry_as_it_was(
    sample_inbox: Path, tmp_path: Path
) -> None:
    from dancu.stages import ingest, match_batch, plan, validate_staged
    from tests.registry_helpers import demo_settings

    warehouse = tmp_path / "wh"
    settings = demo_settings()
    found = _dancu("run", "--demo", "--inbox", str(sample_inbox / BATCH), "--warehouse",
                   str(warehouse))  # fmt: skip
    assert found.returncode == 0, found.stderr
    second = sample_inbox / "2021-09-30"
    planned = plan(second, warehouse, settings, token="t")
    for code in planned.provinces:
        ingest(second, code, warehouse, settings, "t")
    validate_staged(warehouse, second.name)
    match_batch(warehouse, second.name, settings, "t")

    def counts() -> tuple:
        with open_registry(warehouse) as con:
            return con.sql(
                "SELECT (SELECT count(*) FROM source_record), (SELECT count(*) FROM run), "
                "(SELECT count(*) FROM pin_event)"
            ).fetchall()[0]

    before = counts()

    def no_room() -> None:  # files may not grow past 64 KiB: the disk is "full"
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

    script = (
        "import datetime as dt, sys; from pathlib import Path\n"
        "from tests.registry_helpers import demo_settings\n"
        "from dancu.stages import register_and_load\n"
        "register_and_load(Path(sys.argv[1]), '2021-09-30', demo_settings(),"
        " dt.datetime(2021, 10, 1), 't')\n"
    )
    full = subprocess.run([sys.executable, "-c", script, str(warehouse)], capture_output=True,
                          text=True, preexec_fn=no_room)  # fmt: skip
    assert full.returncode != 0
    assert "File too large" in full.stderr or "IO Error" in full.stderr, full.stderr[-2000:]
    assert counts() == before  # nothing of the batch, and it is not marked loaded
    done = subprocess.run([sys.executable, "-c", script, str(warehouse)], capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert counts()[1] == before[1] + 1


# --- medium: audit trail and inputs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "table", "expected"),
    [
        ("UPDATE pin_event SET reason = 'nothing to see' WHERE chain_seq = 5",
         "pin_event", "row 5 was edited (its mac does not match its content)"),
        ("DELETE FROM pin_event WHERE chain_seq = 7",
         "pin_event", "row 7 is missing (deleted)"),
        ("DELETE FROM run WHERE chain_seq = (SELECT max(chain_seq) FROM run)",
         "run", "missing (deleted at the end)"),
        ("UPDATE run SET rows_loaded = rows_loaded + 1 WHERE chain_seq = 1",
         "run", "row 1 was edited"),
    ],
)  # fmt: skip
def test_audit_verify_names_the_first_edited_or_deleted_row(
    warehouse: Path, tamper: str, table: str, expected: str
) -> None:
    intact = _dancu("audit", "verify", "--demo", "--warehouse", str(warehouse))
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert intact.stdout.count("intact") == len(CHAINED)
    with open_registry(warehouse, read_only=False) as con:
        con.execute(tamper)
    found = _dancu("audit", "verify", "--demo", "--warehouse", str(warehouse))
    assert found.returncode == 1
    (line,) = [x for x in found.stdout.splitlines() if x.startswith(f"{table}: ")]
    assert "BROKEN: " in line and expected in line, found.stdout
    assert found.stdout.count("intact") == len(CHAINED) - 1
    assert f"audit trail broken: {table}: " in found.stderr


def test_control_characters_are_removed_and_markup_names_get_no_pin(tmp_path: Path) -> None:
    from dancu.stages import run_batch
    from tests.registry_helpers import demo_settings

    folder = _province(tmp_path)
    (folder / "people.csv").write_text(
        "Mã NK,Họ và tên,Ngày sinh,Giới tính\n"
        "1\x1b[2J,Nguyễn\x07 Văn An,05/11/1994,Nam\n"
        "2,<script>alert(1)</script>,1970,Nữ\n"
        "3,Lê Thị Bình,1971,Nữ\n"
    )
    warehouse = tmp_path / "wh"
    run_batch(folder.parent, warehouse, demo_settings())
    with open_registry(warehouse) as con:
        rows = con.sql(
            "SELECT s.record_key, s.full_name, s.flaws, p.pin, p.status, p.pending_reason "
            "FROM source_record s JOIN person p USING (person_id) ORDER BY s.record_key"
        ).fetchall()
    keys = [r[0] for r in rows]
    assert keys == ["001:1[2J", "001:2", "001:3"]
    assert not any(ch in str(rows) for ch in ("\x1b", "\x07"))
    assert rows[0][1] == "Nguyễn Văn An" and rows[0][3] is not None
    script = rows[1]
    assert "not_a_name" in script[2]
    assert script[3] is None and script[4] == "pending" and "not a name" in script[5]
    html = (warehouse / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    listed = _dancu("review", "list", "--demo", "--warehouse", str(warehouse))
    assert listed.returncode == 0 and "\x1b" not in listed.stdout
