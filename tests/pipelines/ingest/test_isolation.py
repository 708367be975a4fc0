"""The workbook reader's child also starts from a daemonic process (a Celery worker's task)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from pipelines.ingest.isolation import read_workbook_sheets

pytestmark = pytest.mark.unit


def _write_workbook(path: Path) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("ho_khau")
    sheet.write_row(0, 0, ["Họ và tên", "Năm sinh"])
    sheet.write_row(1, 0, ["Nguyễn Văn An", "1980"])
    book.close()


def _read_in_daemon(path: str, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        sheets = read_workbook_sheets(Path(path), memory_bytes=4 << 30, timeout_seconds=120)
        results.put([(name, frame.rows()) for name, frame in sheets])
    except BaseException as err:
        results.put(f"{type(err).__name__}: {err}")


def test_a_daemonic_process_reads_a_workbook_in_its_child(tmp_path: Path) -> None:
    book = tmp_path / "book.xlsx"
    _write_workbook(book)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    reader = ctx.Process(target=_read_in_daemon, args=(str(book), results), daemon=True)
    reader.start()
    found = results.get(timeout=180)
    reader.join(60)
    assert found == [("ho_khau", [("Họ và tên", "Năm sinh"), ("Nguyễn Văn An", "1980")])]
    assert not multiprocessing.current_process().daemon


def _read_rows(path: str) -> list[tuple[str, list[tuple[str, ...]]]]:
    sheets = read_workbook_sheets(Path(path), memory_bytes=4 << 30, timeout_seconds=120)
    return [(name, frame.rows()) for name, frame in sheets]


def test_a_celery_pool_process_reads_a_workbook_in_its_child(tmp_path: Path) -> None:
    billiard = pytest.importorskip("billiard")  # Celery's process pool (the cluster group)
    book = tmp_path / "book.xlsx"
    _write_workbook(book)
    # A spawned pool worker (daemonic, billiard's authkey) as Celery's forked one is; a
    # forked one would inherit this test process's fork server (started by earlier tests).
    with billiard.get_context("spawn").Pool(1) as pool:
        found = pool.apply_async(_read_rows, (str(book),)).get(timeout=180)
    assert found == [("ho_khau", [("Họ và tên", "Năm sinh"), ("Nguyễn Văn An", "1980")])]


_SCRIPT = """
import sys
if __name__ != "__main__":
    raise SystemExit("this script was run again in the reader's child")
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from pipelines.ingest.isolation import read_workbook_sheets
sheets = read_workbook_sheets(Path(sys.argv[2]), memory_bytes=4 << 30, timeout_seconds=120)
print(sheets[0][1].rows())
"""


def test_a_script_run_by_path_is_not_run_again_in_the_child(tmp_path: Path) -> None:
    import subprocess
    import sys

    book = tmp_path / "book.xlsx"
    _write_workbook(book)
    script = tmp_path / "main_script.py"  # like .venv/bin/airflow: a main run by path
    script.write_text(_SCRIPT)
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, str(script), str(repo), str(book)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Nguyễn Văn An" in done.stdout
