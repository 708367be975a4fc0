"""Read a workbook in a child process with a memory limit: a crash quarantines the file.

The spreadsheet reader is native code: on a hostile file it can abort the
whole process (``memory allocation of 549755813888 bytes failed``, SIGABRT),
which would take the batch down with it. So ``read_workbook_sheets`` runs it
in a child started by a fork server (polars and fastexcel preloaded: about
50-100 ms a file) under ``RLIMIT_AS``, with a wall-clock limit. The child
writes each sheet as Arrow IPC into a private temporary folder that the
parent reads and removes; a child that dies, runs out of memory or time is
one quarantine reason (``UnreadableFileError``), and the batch goes on.

The reader also runs where this process is itself daemonic (an Airflow task
on a Celery worker): multiprocessing refuses children there, lest they be
orphaned when the parent exits, but this child never outlives the call (it
is joined, or killed at the time limit), so the refusal is lifted around
its start (``_children_allowed``).
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import resource
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

_PRELOAD = ["polars", "pyarrow", "fastexcel", "pipelines.ingest.isolation"]


class ReaderCrashedError(RuntimeError):
    """The child reading a file died, ran out of memory or time, or raised."""


def forkserver_context(*preload: str) -> Any:
    """Multiprocessing's fork-server context, the server preloading our readers (and ``preload``).

    The preload list counts only before the process's fork server starts: the
    first caller's list is the one used.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([*_PRELOAD, *preload])
    return ctx


@contextlib.contextmanager
def _children_allowed() -> Iterator[None]:
    """Let any process start the reader's child (joined or killed before we return).

    - A daemonic process (an Airflow task on a Celery worker) may not start
      children: the flag is lifted around the start.
    - In a Celery worker's process (billiard) the process's authentication key
      is billiard's own type, which multiprocessing cannot pass to the fork
      server: it is given as multiprocessing's type (same bytes).
    - A main script run by path (``.venv/bin/airflow``, ``.venv/bin/dancu``)
      would be run again in the child (multiprocessing's ``__mp_main__``):
      importing Airflow there fails, and the child needs nothing of it. Its
      path is hidden from multiprocessing around the start.
    """
    from multiprocessing.process import AuthenticationString  # type: ignore[attr-defined]

    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
    saved = dict(config)
    config["daemon"] = False
    if "authkey" in config and type(config["authkey"]) is not AuthenticationString:
        config["authkey"] = AuthenticationString(bytes(config["authkey"]))
    main = sys.modules.get("__main__")
    main_file = None
    if main is not None and getattr(main, "__spec__", None) is None:
        main_file = main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        config.clear()
        config.update(saved)
        if main is not None and main_file is not None:
            main.__file__ = main_file


def _workbook_child(path: str, out: str, memory_bytes: int) -> None:
    """In the child: read every sheet as text cells, write ``<i>.arrow`` and ``sheets.json``."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        import fastexcel

        workbook = fastexcel.read_excel(path)
        names = list(workbook.sheet_names)
        for i, name in enumerate(names):
            sheet = workbook.load_sheet(name, header_row=None, skip_rows=0, dtypes="string")
            sheet.to_polars().write_ipc(Path(out) / f"{i}.arrow")
        (Path(out) / "sheets.json").write_text(json.dumps(names))
    except MemoryError:
        os._exit(70)
    except Exception as err:  # fastexcel raises its own error types for broken workbooks
        (Path(out) / "error.txt").write_text(str(err)[:500])


def read_workbook_sheets(
    path: Path, memory_bytes: int, timeout_seconds: float
) -> list[tuple[str, pl.DataFrame]]:
    """Every sheet of a workbook as (name, frame of text cells), read in a limited child.

    Raises:
        ReaderCrashedError: the child died (a signal, out of memory), took longer
            than ``timeout_seconds``, or the reader refused the file.
    """
    with tempfile.TemporaryDirectory(prefix="dancu-read-") as out:
        with _children_allowed():
            child = forkserver_context().Process(
                target=_workbook_child, args=(str(path), out, memory_bytes), daemon=True
            )
            child.start()
        child.join(timeout_seconds)
        if child.is_alive():
            child.kill()
            child.join()
            raise ReaderCrashedError(f"reader took longer than {timeout_seconds:g} s; stopped")
        code = child.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            raise ReaderCrashedError(
                f"reader crashed ({name}), probably out of its memory limit "
                f"({memory_bytes / 2**30:g} GiB)"
            )
        if code == 70:
            raise ReaderCrashedError(f"reader ran out of its memory limit ({memory_bytes:,} bytes)")
        if code:
            raise ReaderCrashedError(f"reader exited with status {code}")
        error = Path(out) / "error.txt"
        if error.exists():
            raise ReaderCrashedError(error.read_text())
        names = json.loads((Path(out) / "sheets.json").read_text())
        return [
            (name, pl.read_ipc(io.BytesIO((Path(out) / f"{i}.arrow").read_bytes())))
            for i, name in enumerate(names)
        ]
